"""The data path: byte-exact relay, half-close, server-first, flow control, flush, resets."""
import hashlib
import socket
import threading
import time

from harness import (EchoServer, Proxy, Server, bootstrap, check, cluster_yaml, connect,
                     digest_of, echo_roundtrip, free_port, listener_yaml, recv_all,
                     stream_bytes, wait_for)

MIB = 1 << 20


def simple_config(port, upstream_ports, proxy_extra="", cluster_extra="", connect_timeout="5s",
                  lb="ROUND_ROBIN", listener_extra=""):
    return bootstrap([listener_yaml("l", port, "c", proxy_extra=proxy_extra, extra=listener_extra)],
                     [cluster_yaml("c", upstream_ports, connect_timeout, lb, cluster_extra)])


def test_256mib_each_way_byte_exact():
    total = 256 * MIB
    result = {}

    def upstream(c):
        def send():
            for b in stream_bytes(2, total):
                c.sendall(b)
            c.shutdown(socket.SHUT_WR)
        t = threading.Thread(target=send)
        t.start()
        h = hashlib.sha256()
        n = 0
        while True:
            b = c.recv(MIB)
            if not b:
                break
            h.update(b)
            n += len(b)
        t.join()
        result["up"] = (n, h.hexdigest())

    with Server(upstream) as srv:
        port = free_port()
        with Proxy(simple_config(port, [srv.port])) as p:
            s = connect(port, timeout=60)

            def send():
                for b in stream_bytes(1, total):
                    s.sendall(b)
                s.shutdown(socket.SHUT_WR)
            t = threading.Thread(target=send)
            t.start()
            h = hashlib.sha256()
            n = 0
            while True:
                b = s.recv(MIB)
                if not b:
                    break
                h.update(b)
                n += len(b)
            t.join()
            s.close()
            check(n == total, "downstream received %d bytes, want %d" % (n, total))
            check(h.hexdigest() == digest_of(2, total), "upstream->client data corrupted")
            wait_for(lambda: "up" in result, what="upstream to finish")
            check(result["up"] == (total, digest_of(1, total)), "client->upstream data corrupted")
            p.wait_stat("tcp.test.downstream_cx_rx_bytes_total", total)
            st = p.stats()
            check(st["tcp.test.downstream_cx_tx_bytes_total"] == total, str(st))
            check(st["cluster.c.upstream_cx_tx_bytes_total"] == total, str(st))
            check(st["cluster.c.upstream_cx_rx_bytes_total"] == total, str(st))
            check(p.stop() == 0, "tcpproxy exit status")


def test_half_close_client_first():
    """Client sends, shuts down writing, still reads the reply."""
    def upstream(c):
        data = recv_all(c)
        c.sendall(b"reply:" + data)
        c.shutdown(socket.SHUT_WR)

    with Server(upstream) as srv:
        port = free_port()
        with Proxy(simple_config(port, [srv.port])):
            s = connect(port)
            s.sendall(b"hello")
            s.shutdown(socket.SHUT_WR)
            check(recv_all(s) == b"reply:hello", "reply after client half-close")
            s.close()


def test_half_close_upstream_first():
    """Upstream sends and shuts down writing; the client still sends afterwards and the
    upstream receives it."""
    got = {}

    def upstream(c):
        c.sendall(b"greeting")
        c.shutdown(socket.SHUT_WR)
        got["data"] = recv_all(c)

    with Server(upstream) as srv:
        port = free_port()
        with Proxy(simple_config(port, [srv.port])) as p:
            s = connect(port)
            check(recv_all(s) == b"greeting", "greeting then EOF")
            s.sendall(b"late data")
            s.shutdown(socket.SHUT_WR)
            wait_for(lambda: "data" in got, what="upstream to read the late data")
            check(got["data"] == b"late data", "data after upstream half-close: %r" % got)
            s.close()
            p.wait_stat("listener.127.0.0.1_%d.downstream_cx_active" % port, 0)
            # Envoy: the upstream FIN came first, our FIN completed the close: a local close.
            check(p.stat("cluster.c.upstream_cx_destroy_local") == 1,
                  "our FIN ended the upstream connection: destroy_local")


def test_server_first_protocol():
    def upstream(c):
        c.sendall(b"220 smtp.example ESMTP\r\n")
        line = c.recv(100)
        c.sendall(b"250 " + line)
        c.shutdown(socket.SHUT_WR)
        recv_all(c)

    with Server(upstream) as srv:
        port = free_port()
        with Proxy(simple_config(port, [srv.port])):
            s = connect(port)
            check(s.recv(100) == b"220 smtp.example ESMTP\r\n", "banner before any client byte")
            s.sendall(b"HELO x\r\n")
            check(recv_all(s) == b"250 HELO x\r\n", "response")
            s.close()


def test_slow_reader_pauses_and_resumes_without_loss():
    """An upstream that does not read: the proxy stops reading the client (paused counted),
    holds at most its limits, and delivers every byte once the upstream reads."""
    total = 32 * MIB
    release = threading.Event()
    got = {}

    def upstream(c):
        release.wait(30)
        h = hashlib.sha256()
        n = 0
        while True:
            b = c.recv(MIB)
            if not b:
                break
            h.update(b)
            n += len(b)
        got["r"] = (n, h.hexdigest())

    with Server(upstream) as srv:
        port = free_port()
        cfg = simple_config(port, [srv.port], cluster_extra="\n    per_connection_buffer_limit_bytes: 65536")
        with Proxy(cfg) as p:
            s = connect(port, timeout=60)

            def send():
                for b in stream_bytes(7, total):
                    s.sendall(b)
                s.shutdown(socket.SHUT_WR)
            t = threading.Thread(target=send)
            t.start()
            wait_for(lambda: p.stat("tcp.test.downstream_flow_control_paused_reading_total") >= 1,
                     what="downstream reading paused")
            buffered = p.stat("tcp.test.downstream_cx_rx_bytes_buffered")
            check(buffered <= 65536, "buffered %d bytes over the 64 KiB limit" % buffered)
            release.set()
            t.join(60)
            wait_for(lambda: "r" in got, 60, what="upstream to read everything")
            check(got["r"] == (total, digest_of(7, total)), "data lost or corrupted")
            st = p.stats()
            check(st["tcp.test.downstream_flow_control_resumed_reading_total"] ==
                  st["tcp.test.downstream_flow_control_paused_reading_total"],
                  "every pause resumed: %s" % st)
            s.close()


def test_upstream_flush_after_downstream_reset():
    """The client streams to an upstream that does not read, then resets. What the proxy had
    already read is still written to the upstream (upstream_flush_*), as Envoy's FlushWrite."""
    release = threading.Event()
    got = {}

    def upstream(c):
        c.shutdown(socket.SHUT_WR)
        release.wait(60)
        got["r"] = recv_all(c)

    with Server(upstream, rcvbuf=4096) as srv:
        port = free_port()
        with Proxy(simple_config(port, [srv.port])) as p:
            s = connect(port)
            s.setblocking(False)
            sent = bytearray()
            rnd = stream_bytes(9, 1 << 30, chunk=64 * 1024)
            deadline = time.monotonic() + 30
            while p.stat("tcp.test.downstream_flow_control_paused_reading_total") == 0:
                check(time.monotonic() < deadline, "reading never paused")
                b = next(rnd)
                try:
                    n = s.send(b)
                    sent += b[:n]
                except BlockingIOError:
                    time.sleep(0.01)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
            p.wait_stat("tcp.test.upstream_flush_total", 1)
            check(p.stat("tcp.test.upstream_flush_active") == 1, "flush active while held")
            read = p.stat("tcp.test.downstream_cx_rx_bytes_total")
            release.set()
            wait_for(lambda: "r" in got, 30, what="upstream to read")
            check(len(got["r"]) == read, "upstream got %d bytes, proxy read %d" % (len(got["r"]), read))
            check(got["r"] == bytes(sent[:read]), "flushed bytes are what the client sent")
            p.wait_stat("tcp.test.upstream_flush_active", 0)
            p.wait_stat("cluster.c.upstream_cx_active", 0)


def test_upstream_reset_closes_downstream():
    def upstream(c):
        c.recv(10)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()

    with Server(upstream) as srv:
        port = free_port()
        with Proxy(simple_config(port, [srv.port])) as p:
            s = connect(port, timeout=5)
            s.sendall(b"x")
            t0 = time.monotonic()
            try:
                data = recv_all(s)
            except ConnectionResetError:
                data = b""
            check(data == b"", "no data after the reset")
            check(time.monotonic() - t0 < 2, "downstream closed promptly")
            s.close()
            p.wait_stat("cluster.c.upstream_cx_active", 0)
            check(p.stat("cluster.c.upstream_cx_destroy_remote") == 1, "destroy_remote counted")


def test_reply_sent_just_before_an_upstream_reset_is_delivered():
    """An upstream that answers and resets at once (an error reply, then close with SO_LINGER 0):
    reply and RST often reach the proxy in one wakeup. The reply is in the socket's queue ahead of
    the reset and must reach the client, as Envoy reads it before acting on the error."""
    reply = b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n" * 20

    def upstream(c):
        c.recv(10)
        c.sendall(reply)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()

    with Server(upstream) as srv:
        port = free_port()
        with Proxy(simple_config(port, [srv.port])):
            lost = []
            for i in range(30):
                s = connect(port, timeout=5)
                s.sendall(b"x")
                try:
                    data = recv_all(s)
                except ConnectionResetError:
                    data = b"(reset)"
                s.close()
                if data != reply:
                    lost.append(f"connection {i}: {len(data)} of {len(reply)} bytes")
            check(not lost, "replies lost: " + "; ".join(lost))


def test_ipv6_listener_and_upstream():
    with EchoServer(host="::1") as up:
        port = free_port(socket.AF_INET6)
        cfg = bootstrap([listener_yaml("v6", port, "c", address="::1")],
                        ["""
  - name: c
    connect_timeout: 1s
    load_assignment:
      cluster_name: c
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: "::1", port_value: %d}}}
""" % up.port])
        with Proxy(cfg) as p:
            wait_for(lambda: _can_connect6(port), what="v6 listener")
            check(echo_roundtrip(port, b"over v6", host="::1") == b"over v6", "v6 echo")
            check(p.stat("listener.[__1]_%d.downstream_cx_total" % port) >= 1, "v6 listener stats")


def _can_connect6(port):
    try:
        s = socket.create_connection(("::1", port), timeout=1)
        s.close()
        return True
    except OSError:
        return False
