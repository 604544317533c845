"""Upstream connection: refusals, connect timeouts, retries, balancing, timeouts, counters."""
import socket
import time

from harness import (EchoServer, Proxy, bootstrap, blackhole_port, check, cluster_yaml, connect,
                     echo_roundtrip, free_port, listener_yaml, recv_all, wait_for)
from test_relay import simple_config


def closed_within(s, seconds):
    """Reads until EOF or reset; returns the seconds it took (fails past `seconds`)."""
    s.settimeout(seconds + 2)
    t0 = time.monotonic()
    try:
        data = recv_all(s)
    except ConnectionResetError:
        data = b""
    took = time.monotonic() - t0
    check(data == b"", "no data expected, got %r" % data[:50])
    check(took <= seconds, "closed after %.2fs, want <= %.2fs" % (took, seconds))
    return took


def test_upstream_refusing_closes_downstream_at_once():
    dead = free_port()
    port = free_port()
    with Proxy(simple_config(port, [dead])) as p:
        s = connect(port)
        closed_within(s, 1.0)
        s.close()
        p.wait_stat("cluster.c.upstream_cx_connect_fail", 1)
        st = p.stats()
        check(st["cluster.c.upstream_cx_connect_attempts_exceeded"] == 1, str(st))
        check(st["cluster.c.upstream_cx_active"] == 0, str(st))
        check(st["cluster.c.upstream_cx_total"] == 1, str(st))


def test_connect_timeout_closes_at_connect_timeout():
    ls, fillers = blackhole_port()
    try:
        port = free_port()
        with Proxy(simple_config(port, [ls.getsockname()[1]], connect_timeout="0.500s")) as p:
            s = connect(port)
            # Far below the kernel's own SYN give-up (over a minute), whatever the load.
            took = closed_within(s, 5.0)
            check(took >= 0.4, "closed after %.2fs, before connect_timeout 0.5s" % took)
            s.close()
            p.wait_stat("cluster.c.upstream_cx_connect_timeout", 1)
            check(p.stat("cluster.c.upstream_cx_connect_fail") == 1, "a timeout is a failure too")
    finally:
        for f in fillers:
            f.close()
        ls.close()


def test_max_connect_attempts_reaches_live_host():
    dead = free_port()
    with EchoServer() as live:
        port = free_port()
        cfg = simple_config(port, [dead, live.port], proxy_extra="\n          max_connect_attempts: 3")
        with Proxy(cfg) as p:
            for i in range(10):
                msg = b"attempt %d" % i
                check(echo_roundtrip(port, msg) == msg, "connection %d through a retry" % i)
            st = p.stats()
            check(st["cluster.c.upstream_cx_connect_fail"] >= 1, "the dead host was tried: %s" % st)
            check(st["cluster.c.upstream_cx_connect_attempts_exceeded"] == 0, str(st))
            check(st["cluster.c.upstream_cx_total"] == 10 + st["cluster.c.upstream_cx_connect_fail"],
                  "one upstream connection per attempt: %s" % st)


def test_round_robin_spreads_evenly():
    ups = [EchoServer() for _ in range(3)]
    try:
        port = free_port()
        with Proxy(simple_config(port, [u.port for u in ups])):
            for i in range(300):
                check(echo_roundtrip(port, b"x") == b"x", "connection %d" % i)
            counts = [u.accepted for u in ups]
            # Each worker balances its own connections (as Envoy's workers do): per worker the
            # split is even to within one, so over two workers to within two.
            check(sum(counts) == 300 and all(98 <= c <= 102 for c in counts),
                  "round robin spread: %s" % counts)
    finally:
        for u in ups:
            u.close()


def test_idle_timeout_fires_and_is_counted():
    with EchoServer() as up:
        port = free_port()
        cfg = simple_config(port, [up.port], proxy_extra="\n          idle_timeout: 0.500s")
        with Proxy(cfg) as p:
            s = connect(port)
            s.sendall(b"hi")
            check(s.recv(10) == b"hi", "echo before going idle")
            took = closed_within(s, 5.0)  # the idle_timeout counter below says why
            check(took >= 0.3, "idle close after %.2fs, before the 0.5s timeout" % took)
            s.close()
            p.wait_stat("tcp.test.idle_timeout", 1)
            check(p.stat("tcp.test.max_downstream_connection_duration") == 0, "not a DT close")
            p.wait_stat("cluster.c.upstream_cx_destroy_local", 1)


def test_max_downstream_connection_duration_fires_while_busy():
    with EchoServer() as up:
        port = free_port()
        cfg = simple_config(port, [up.port],
                            proxy_extra="\n          max_downstream_connection_duration: 1s")
        with Proxy(cfg) as p:
            s = connect(port)
            s.settimeout(5)
            t0 = time.monotonic()
            closed = False
            # Busy until closed: a tick every 50 ms keeps any idle timer from firing. The
            # counter below says it was the duration limit; how late it comes is the machine's.
            while time.monotonic() - t0 < 10:
                try:
                    s.sendall(b"tick")
                    if s.recv(10) == b"":
                        closed = True
                        break
                except (ConnectionResetError, BrokenPipeError):
                    closed = True
                    break
                time.sleep(0.05)
            took = time.monotonic() - t0
            check(closed and took >= 0.9, "closed=%s after %.2fs (want >= 1s)" % (closed, took))
            s.close()
            p.wait_stat("tcp.test.max_downstream_connection_duration", 1)
            check(p.stat("tcp.test.idle_timeout") == 0, "not an idle close")


def test_counters_equal_connections_and_bytes():
    n, m = 50, 10000
    with EchoServer() as up:
        port = free_port()
        with Proxy(simple_config(port, [up.port])) as p:
            for i in range(n):
                check(echo_roundtrip(port, bytes([i]) * m) == bytes([i]) * m, "echo %d" % i)
            lst = "listener.127.0.0.1_%d." % port
            p.wait_stat(lst + "downstream_cx_active", 0)
            p.wait_stat("cluster.c.upstream_cx_active", 0)
            st = p.stats()
            want = {
                lst + "downstream_cx_total": n,
                "tcp.test.downstream_cx_total": n,
                "tcp.test.downstream_cx_rx_bytes_total": n * m,
                "tcp.test.downstream_cx_tx_bytes_total": n * m,
                "tcp.test.downstream_cx_rx_bytes_buffered": 0,
                "tcp.test.downstream_cx_tx_bytes_buffered": 0,
                "tcp.test.downstream_cx_no_route": 0,
                "cluster.c.upstream_cx_total": n,
                "cluster.c.upstream_cx_tx_bytes_total": n * m,
                "cluster.c.upstream_cx_rx_bytes_total": n * m,
                "cluster.c.upstream_cx_connect_fail": 0,
                "cluster.c.upstream_cx_destroy_local": 0,
                "cluster.c.upstream_cx_destroy_remote": n,
                "server.concurrency": 2,
                "server.live": 1,
            }
            bad = {k: (st.get(k), v) for k, v in want.items() if st.get(k) != v}
            check(not bad, "counters (got, want): %s" % bad)


def test_cluster_without_hosts_closes_downstream():
    port = free_port()
    cfg = bootstrap([listener_yaml("l", port, "empty")], ["""
  - name: empty
    connect_timeout: 1s
    load_assignment: {cluster_name: empty, endpoints: []}
"""])
    with Proxy(cfg) as p:
        s = connect(port)
        closed_within(s, 1.0)
        s.close()
        p.wait_stat("cluster.empty.upstream_cx_none_healthy", 1)


def test_least_request_and_random_reach_every_host():
    for lb in ("LEAST_REQUEST", "RANDOM"):
        ups = [EchoServer() for _ in range(3)]
        try:
            port = free_port()
            with Proxy(simple_config(port, [u.port for u in ups], lb=lb)):
                for i in range(60):
                    check(echo_roundtrip(port, b"y") == b"y", "%s connection %d" % (lb, i))
                counts = [u.accepted for u in ups]
                check(sum(counts) == 60 and min(counts) >= 5, "%s spread: %s" % (lb, counts))
        finally:
            for u in ups:
                u.close()
