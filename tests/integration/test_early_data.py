"""Delayed upstream connect, early data, filter state and set_filter_state (issue 5)."""
import socket
import threading
import time

from harness import (EchoServer, Proxy, Server, SlowUpstream, bootstrap, check, cluster_yaml,
                     connect, echo_handler, echo_roundtrip, free_port, listener_yaml, recv_all,
                     stream_bytes, wait_for)

SFS_TYPE = "type.googleapis.com/envoy.extensions.filters.network.set_filter_state.v3.Config"
TCP_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"


def config(port, upstream_port, proxy_extra="", connect_timeout="10s"):
    return bootstrap([listener_yaml("l", port, "c", proxy_extra=proxy_extra)],
                     [cluster_yaml("c", [upstream_port], connect_timeout)])


def set_state(key, value):
    """A set_filter_state filter (YAML for a filters list entry) setting key to value."""
    return """
      - name: envoy.filters.network.set_filter_state
        typed_config:
          "@type": %s
          on_new_connection:
          - object_key: %s
            format_string:
              text_format_source:
                inline_string: "%s"
""" % (SFS_TYPE, key, value)


def chain_config(port, filters, cluster, clusters, proxy_extra="", stat_prefix="test",
                 more_listeners=()):
    """One listener whose chain is filters (YAML) then tcp_proxy (and more_listeners, YAML)."""
    return """static_resources:
  listeners:
  - name: l
    address:
      socket_address: {address: 127.0.0.1, port_value: %d}
    filter_chains:
    - filters:%s
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": %s
          stat_prefix: %s
          cluster: %s%s%s
  clusters:%s""" % (port, filters, TCP_TYPE, stat_prefix, cluster, proxy_extra,
                    "".join(more_listeners), "".join(clusters))


def test_on_downstream_data_connects_only_after_the_first_byte():
    events = []
    lock = threading.Lock()

    def upstream(c):
        with lock:
            events.append("upstream accepted")
        echo_handler(c)

    with Server(upstream) as srv:
        port = free_port()
        extra = "\n          upstream_connect_mode: ON_DOWNSTREAM_DATA" \
                "\n          max_early_data_bytes: 1024"
        with Proxy(config(port, srv.port, extra)) as p:
            s = connect(port)
            # tcp_proxy has run for this connection: IMMEDIATE would have connected by now.
            p.wait_stat("tcp.test.downstream_cx_total", 1)
            check(p.stat("cluster.c.upstream_cx_total") == 0, "no connect before data")
            check(srv.accepted == 0, "upstream accepted before the first byte")
            with lock:
                events.append("client sent")
            s.sendall(b"first")
            wait_for(lambda: srv.accepted == 1, what="the upstream to accept")
            s.shutdown(socket.SHUT_WR)
            check(recv_all(s) == b"first", "echo through the delayed connect")
            s.close()
            check(events == ["client sent", "upstream accepted"], "order: %s" % events)
            st = p.stats()
            check(st["tcp.test.early_data_received_count_total"] >= 1, str(st))


def early_case(total, limit, mode="ON_DOWNSTREAM_DATA", want_paused=None):
    """Sends total bytes at once to a proxy whose upstream accepts late; checks they all
    arrive in order, and how often reading paused and resumed."""
    if want_paused is None:
        want_paused = 1 if total >= limit else 0
    got = {}

    def upstream(c):
        n = 0
        out = bytearray()
        while True:
            b = c.recv(1 << 20)
            if not b:
                break
            out += b
            c.sendall(b)
            n += len(b)
        got["data"] = bytes(out)
        c.shutdown(socket.SHUT_WR)

    payload = b"".join(stream_bytes(total, total))
    with SlowUpstream(upstream) as up:
        port = free_port()
        extra = "\n          upstream_connect_mode: %s\n          max_early_data_bytes: %d" % (
            mode, limit)
        with Proxy(config(port, up.port, extra)) as p:
            s = connect(port, timeout=30)
            sender = threading.Thread(target=lambda: (s.sendall(payload),
                                                      s.shutdown(socket.SHUT_WR)))
            sender.start()
            # Before the upstream accepts: the proxy has read what it will, and no more.
            want_read = min(total, limit)
            wait_for(lambda: p.stat("tcp.test.downstream_cx_rx_bytes_total") >= want_read,
                     what="the early bytes to be read")
            p.wait_stat("tcp.test.downstream_flow_control_paused_reading_total", want_paused)
            st = p.stats()
            check(st["cluster.c.upstream_cx_total"] == 1, "the connect is under way: %s" % st)
            check(st["tcp.test.downstream_flow_control_resumed_reading_total"] == 0, str(st))
            check(up.accepted == 0, "the upstream is still not accepting")
            held = st["tcp.test.downstream_cx_rx_bytes_total"]
            check(held < limit + 16384 or total <= limit + 16384,
                  "held %d bytes: more than the limit plus one read" % held)
            up.release()
            echoed = recv_all(s)
            sender.join(10)
            s.close()
            check(got.get("data") == payload, "upstream got %d of %d bytes, in order" %
                  (len(got.get("data", b"")), total))
            check(echoed == payload, "echo of %d bytes, got %d" % (total, len(echoed)))
            p.wait_stat("listener.127.0.0.1_%d.downstream_cx_active" % port, 0)
            st = p.stats()
            check(st["tcp.test.downstream_flow_control_paused_reading_total"] == want_paused,
                  str(st))
            check(st["tcp.test.downstream_flow_control_resumed_reading_total"] == want_paused,
                  str(st))
            check(st["tcp.test.downstream_cx_rx_bytes_total"] == total, str(st))
            check(st["cluster.c.upstream_cx_tx_bytes_total"] == total, str(st))
            check(st["tcp.test.downstream_cx_rx_bytes_buffered"] == 0, str(st))
            check(st["tcp.test.early_data_received_count_total"] >= 1, str(st))


def test_early_data_smaller_than_the_limit():
    early_case(1000, 32768)


def test_early_data_equal_to_the_limit():
    early_case(32768, 32768)


def test_early_data_four_times_the_limit():
    early_case(4 * 32768, 32768)


def test_immediate_buffers_early_data_while_the_upstream_accepts_slowly():
    early_case(20000, 8192, mode="IMMEDIATE")


def test_fin_without_data_opens_no_upstream():
    with Server(echo_handler) as srv:
        port = free_port()
        extra = "\n          upstream_connect_mode: ON_DOWNSTREAM_DATA" \
                "\n          max_early_data_bytes: 1024"
        with Proxy(config(port, srv.port, extra)) as p:
            for _ in range(3):
                s = connect(port)
                s.shutdown(socket.SHUT_WR)
                check(recv_all(s) == b"", "closed without data")
                s.close()
            p.wait_stat("listener.127.0.0.1_%d.downstream_cx_active" % port, 0)
            st = p.stats()
            check(st["tcp.test.downstream_cx_total"] == 3, str(st))
            check(st["cluster.c.upstream_cx_total"] == 0, "no upstream connection: %s" % st)
            check(srv.accepted == 0, "the upstream saw %d connections" % srv.accepted)


def greeter(c):
    c.sendall(b"220 hello\r\n")
    echo_handler(c)


def test_immediate_works_with_a_server_first_upstream():
    for extra in ("", "\n          max_early_data_bytes: 4096"):
        with Server(greeter) as srv:
            port = free_port()
            with Proxy(config(port, srv.port, extra)):
                s = connect(port)
                greeting = b""
                while not greeting.endswith(b"\r\n"):
                    b = s.recv(100)
                    check(b, "closed before the greeting")
                    greeting += b
                check(greeting == b"220 hello\r\n", "greeting %r (%r)" % (greeting, extra))
                s.sendall(b"EHLO x\r\n")
                s.shutdown(socket.SHUT_WR)
                check(recv_all(s) == b"EHLO x\r\n", "echo after the greeting")
                s.close()


def slow_session(p, port, up, payload, barrier_port, want_read):
    """Sends payload to the proxy while up does not accept; returns (stats while waiting,
    what came back once it accepted). want_read: the bytes the proxy should read meanwhile.

    Whether the proxy reads before the upstream accepts is decided by the worker's loop once the
    bytes are there. A connection through another listener of the same (only) worker, served
    after the bytes arrived, proves the loop has been round since: had it been going to read
    them, it has (rather than sleeping for a while and hoping the worker ran)."""
    s = connect(port, timeout=30)
    s.sendall(payload)
    wait_for(lambda: p.stat("cluster.c.upstream_cx_total") == 1, what="the connect")
    check(echo_roundtrip(barrier_port, b"barrier") == b"barrier", "the barrier connection")
    if want_read:
        wait_for(lambda: p.stat("tcp.test.downstream_cx_rx_bytes_total") == want_read,
                 what="the early read of %d bytes" % want_read)
        # And once more past the read, for what the worker does after it (pause, or not).
        check(echo_roundtrip(barrier_port, b"barrier") == b"barrier", "the barrier connection")
    st = p.stats()
    up.release()
    s.shutdown(socket.SHUT_WR)
    back = recv_all(s)
    s.close()
    return st, back


def legacy_case(extra, key_value, want_read):
    with SlowUpstream(echo_handler) as up, EchoServer() as other:
        port, barrier_port = free_port(), free_port()
        filters = set_state("envoy.tcp_proxy.receive_before_connect", key_value) \
            if key_value else ""
        cfg = chain_config(port, filters, "c", [cluster_yaml("c", [up.port], "10s"),
                                                cluster_yaml("other", [other.port])], extra,
                           more_listeners=[listener_yaml("barrier", barrier_port, "other",
                                                         stat_prefix="barrier")])
        with Proxy(cfg, concurrency=1) as p:
            st, back = slow_session(p, port, up, b"x" * 100, barrier_port, want_read)
            check(back == b"x" * 100, "all bytes through, got %d" % len(back))
            return st


def test_legacy_receive_before_connect_filter_state():
    # Without the key (and without max_early_data_bytes) nothing is read before connect.
    st = legacy_case("", None, 0)
    check(st["tcp.test.early_data_received_count_total"] == 0, str(st))
    check(st["tcp.test.downstream_cx_rx_bytes_total"] == 0, str(st))
    # With it: read before connect, and (Envoy's legacy limit of 0) paused after that read.
    st = legacy_case("", "true", 100)
    check(st["tcp.test.early_data_received_count_total"] >= 1, str(st))
    check(st["tcp.test.downstream_cx_rx_bytes_total"] == 100, str(st))
    check(st["tcp.test.downstream_flow_control_paused_reading_total"] == 1, str(st))
    # "false" is as good as absent.
    st = legacy_case("", "false", 0)
    check(st["tcp.test.early_data_received_count_total"] == 0, str(st))
    check(st["tcp.test.downstream_cx_rx_bytes_total"] == 0, str(st))


def test_legacy_key_is_ignored_when_max_early_data_bytes_is_set():
    # max_early_data_bytes: 0 -> no pause would mean the legacy key won; here the explicit
    # 65536 applies: 100 bytes are read and reading is never paused.
    st = legacy_case("\n          max_early_data_bytes: 65536", "true", 100)
    check(st["tcp.test.downstream_cx_rx_bytes_total"] == 100, str(st))
    check(st["tcp.test.downstream_flow_control_paused_reading_total"] == 0, str(st))


def test_set_filter_state_routes_by_local_port_and_counts_no_route():
    a, b = EchoServer(), EchoServer()
    try:
        p1, p2, p3 = free_port(), free_port(), free_port()
        # One filter chain, written once and shared by three listeners through a YAML anchor.
        cfg = """static_resources:
  listeners:
  - name: one
    address: {socket_address: {address: 127.0.0.1, port_value: %d}}
    filter_chains: &chains
    - filters:
      - name: envoy.filters.network.set_filter_state
        typed_config:
          "@type": %s
          on_new_connection:
          - object_key: envoy.tcp_proxy.cluster
            format_string:
              text_format_source:
                inline_string: "svc_%%DOWNSTREAM_LOCAL_PORT%%"
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": %s
          stat_prefix: shared
          cluster: fallback
  - name: two
    address: {socket_address: {address: 127.0.0.1, port_value: %d}}
    filter_chains: *chains
  - name: three
    address: {socket_address: {address: 127.0.0.1, port_value: %d}}
    filter_chains: *chains
  clusters:%s%s%s""" % (p1, SFS_TYPE, TCP_TYPE, p2, p3,
                        cluster_yaml("svc_%d" % p1, [a.port]),
                        cluster_yaml("svc_%d" % p2, [b.port]),
                        cluster_yaml("fallback", [free_port()]))
        with Proxy(cfg) as p:
            for port, want in ((p1, b"to a"), (p2, b"to b"), (p1, b"a again")):
                s = connect(port)
                s.sendall(want)
                s.shutdown(socket.SHUT_WR)
                check(recv_all(s) == want, "echo through %d" % port)
                s.close()
            check(a.accepted == 2 and b.accepted == 1,
                  "routed by local port: a=%d b=%d" % (a.accepted, b.accepted))
            s = connect(p3)
            check(recv_all(s) == b"", "no cluster svc_%d: closed" % p3)
            s.close()
            p.wait_stat("tcp.shared.downstream_cx_no_route", 1)
            st = p.stats()
            check(st["cluster.fallback.upstream_cx_total"] == 0, "fallback unused: %s" % st)
            check(st["tcp.shared.downstream_cx_total"] == 4, str(st))
    finally:
        a.close()
        b.close()


def test_per_connection_idle_timeout_from_filter_state():
    with EchoServer() as up:
        port = free_port()
        filters = set_state("envoy.tcp_proxy.per_connection_idle_timeout_ms", "300")
        cfg = chain_config(port, filters, "c", [cluster_yaml("c", [up.port])],
                           "\n          idle_timeout: 3600s")
        with Proxy(cfg) as p:
            s = connect(port, timeout=5)
            t0 = time.monotonic()
            check(recv_all(s) == b"", "closed by the idle timeout")
            took = time.monotonic() - t0
            s.close()
            check(0.2 <= took <= 3.0, "closed after %.2fs, want about 0.3s" % took)
            p.wait_stat("tcp.test.idle_timeout", 1)
