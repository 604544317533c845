"""Circuit breakers (max_connections, max_pending_requests across workers) and tcp_proxy's
backoff_options between connect attempts (issue 14, part 3)."""
import os
import signal
import threading
import time

from harness import (EchoServer, Proxy, blackhole_port, check, connect, free_port, read_lines,
                     recv_all, wait_for, wait_lines)
from test_access_log import LogDir, file_log
from test_relay import simple_config


def _closed_after(port, limit):
    """Connects, waits for the proxy to close; returns the seconds it took."""
    s = connect(port)
    s.settimeout(limit)
    t0 = time.monotonic()
    try:
        recv_all(s)
    except ConnectionResetError:
        pass
    took = time.monotonic() - t0
    s.close()
    return took


def test_backoff_spaces_connect_attempts():
    """max_connect_attempts 3 against a refusing port: two waits, each drawn in [0, cap) with
    caps 200 ms and 400 ms, so 300 ms on average; without backoff the three refusals take a
    few ms. The mean over 12 connections is far from both."""
    dead = free_port()
    port = free_port()
    extra = """
          max_connect_attempts: 3
          backoff_options: {base_interval: 0.2s}"""
    n = 12
    with Proxy(simple_config(port, [dead], proxy_extra=extra)) as p:
        took = []
        threads = [threading.Thread(target=lambda: took.append(_closed_after(port, 10)))
                   for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check(len(took) == n, "every client saw its close: %r" % took)
        mean = sum(took) / n
        # max_interval defaults to 10 x base: the caps are 200 ms then 400 ms.
        check(mean >= 0.1, "attempts were not spaced: mean %.3fs over %r" % (mean, took))
        check(max(took) < 0.6 + 1.5, "a wait past its cap: %r" % took)
        p.wait_stat("cluster.c.upstream_cx_connect_attempts_exceeded", n)
        check(p.stat("cluster.c.upstream_cx_connect_fail") == 3 * n, str(p.stats()))


def test_backoff_max_interval_caps_the_wait():
    """base 10 ms, max_interval 50 ms: the caps are 10, 20, 40, 50, 50 ms, so six attempts end
    well within a second."""
    dead = free_port()
    port = free_port()
    extra = """
          max_connect_attempts: 6
          backoff_options: {base_interval: 0.01s, max_interval: 0.05s}"""
    with Proxy(simple_config(port, [dead], proxy_extra=extra)) as p:
        took = _closed_after(port, 10)
        check(took < 0.17 + 1.0, "closed after %.2fs" % took)
        p.wait_stat("cluster.c.upstream_cx_connect_fail", 6)


def _breaker(max_connections=None, max_pending=None, track_remaining=True):
    t = "\n      - priority: DEFAULT"
    if max_connections is not None:
        t += "\n        max_connections: %d" % max_connections
    if max_pending is not None:
        t += "\n        max_pending_requests: %d" % max_pending
    if track_remaining:
        t += "\n        track_remaining: true"
    # Fields that do not apply to TCP are accepted (Envoy's tcp_proxy ignores them too).
    t += "\n        max_requests: 7\n        max_retries: 2\n        retry_budget: {budget_percent: {value: 20}}"
    return "\n    circuit_breakers:\n      thresholds:" + t


def _wait_closed(s, seconds=5):
    s.settimeout(seconds)
    try:
        return recv_all(s)
    except ConnectionResetError:
        return b""


CB = "cluster.c.circuit_breakers.default."


def test_max_connections_across_two_workers():
    """max_connections 10, 50 clients held open, 2 workers: exactly 10 reach the upstream, the
    40 others are closed with UO, counted once each; the gauges say the breaker is open and
    nothing remains; one client leaving lets one more in."""
    with LogDir() as d, EchoServer() as up:
        log = d.path("access.log")
        port = free_port()
        cfg = simple_config(port, [up.port], cluster_extra=_breaker(max_connections=10),
                            proxy_extra=file_log(log, "%RESPONSE_FLAGS% "
                                                 "%CONNECTION_TERMINATION_DETAILS%\\n"))
        with Proxy(cfg, concurrency=2) as p:
            # The master reads the gauges off the workers' counters twice a second.
            p.wait_stat(CB + "remaining_cx", 10)
            check(p.stat(CB + "cx_open") == 0, str(p.stats()))
            held, refused = [], 0
            for i in range(50):
                s = connect(port)
                s.settimeout(5)
                s.sendall(b"x")
                try:
                    got = s.recv(1)
                except ConnectionResetError:
                    got = b""
                if got == b"x":
                    held.append(s)
                else:
                    refused += 1
                    s.close()
            check(len(held) == 10, "%d connections through, want 10" % len(held))
            check(refused == 40, "%d refused, want 40" % refused)
            p.wait_stat("cluster.c.upstream_cx_overflow", 40)
            p.wait_stat(CB + "cx_open", 1)
            st = p.stats()
            check(st[CB + "cx_open"] == 1, str(st))
            check(st[CB + "remaining_cx"] == 0, str(st))
            check(st[CB + "rq_pending_open"] == 0, str(st))
            check(st[CB + "remaining_pending"] == 1024, str(st))
            check(st["cluster.c.upstream_cx_total"] == 10, str(st))
            check(st["cluster.c.upstream_cx_active"] == 10, str(st))
            check(st["tcp.test.downstream_cx_total"] == 50, str(st))
            lines = wait_lines(log, 40)
            uo = [l for l in lines if l.startswith("UO ")]
            check(len(uo) == 40, "40 UO lines: %r" % lines)
            check(all(l == "UO tcp_initializion_failure:2" for l in uo), repr(uo[:3]))
            held.pop().close()
            p.wait_stat(CB + "cx_open", 0)
            p.wait_stat(CB + "remaining_cx", 1)
            s = connect(port)
            s.sendall(b"y")
            check(s.recv(1) == b"y", "a freed connection is usable again")
            held.append(s)
            p.wait_stat(CB + "remaining_cx", 0)
            check(p.stat("cluster.c.upstream_cx_overflow") == 40, str(p.stats()))
            for s in held:
                s.close()
            p.wait_stat("cluster.c.upstream_cx_active", 0)
            p.wait_stat(CB + "remaining_cx", 10)


def test_max_pending_requests_with_an_upstream_that_never_accepts():
    """Connects to a port whose SYNs are dropped stay pending: past max_pending_requests 3 the
    next attempt fails at once with upstream_rq_pending_overflow, before any connect_timeout,
    and the connection it had counted is given back. Envoy's TCP pool fails it with Overflow,
    which tcp_proxy takes as a failed attempt (no UF): with max_connect_attempts 2 it tries
    again on its retry timer, then ends with URX."""
    ls, fillers = blackhole_port()
    try:
        with LogDir() as d:
            log = d.path("access.log")
            port = free_port()
            cfg = simple_config(port, [ls.getsockname()[1]], connect_timeout="4s",
                                cluster_extra=_breaker(max_pending=3),
                                proxy_extra="\n          max_connect_attempts: 2" +
                                file_log(log, "%RESPONSE_FLAGS% %CONNECTION_TERMINATION_DETAILS%"
                                         " %UPSTREAM_REQUEST_ATTEMPT_COUNT%\\n"))
            with Proxy(cfg, concurrency=2) as p:
                waiting = [connect(port) for _ in range(3)]
                p.wait_stat(CB + "remaining_pending", 0)
                p.wait_stat(CB + "rq_pending_open", 1)
                p.wait_stat(CB + "remaining_cx", 1024 - 3)
                t0 = time.monotonic()
                s = connect(port)
                check(_wait_closed(s) == b"", "the fourth is closed")
                check(time.monotonic() - t0 < 2.0, "closed at once, not at connect_timeout")
                s.close()
                p.wait_stat("cluster.c.upstream_rq_pending_overflow", 2)
                st = p.stats()
                check(st["cluster.c.upstream_cx_overflow"] == 0, str(st))
                check(st["cluster.c.upstream_cx_connect_attempts_exceeded"] == 1, str(st))
                check(st["cluster.c.upstream_cx_connect_fail"] == 0, str(st))
                check(st["cluster.c.upstream_cx_total"] == 3, "no connection opened: %s" % st)
                check(st[CB + "remaining_cx"] == 1024 - 3, "the overflow's count given back: %s" % st)
                check(wait_lines(log, 1) == ["URX tcp_initializion_failure:0 2"],
                      "access log: %r" % read_lines(log))
                # Their connects end at connect_timeout (a client leaving does not end a
                # connect under way here), giving back both counts.
                for w in waiting:
                    w.close()
                p.wait_stat(CB + "remaining_pending", 3, timeout=20)
                p.wait_stat(CB + "rq_pending_open", 0)
                p.wait_stat(CB + "remaining_cx", 1024)
    finally:
        for f in fillers:
            f.close()
        ls.close()


def test_gauges_without_track_remaining():
    """Envoy makes remaining_* only with track_remaining; the *_open gauges always."""
    with EchoServer() as up:
        port = free_port()
        cfg = simple_config(port, [up.port],
                            cluster_extra=_breaker(max_connections=2, track_remaining=False))
        with Proxy(cfg) as p:
            p.wait_stat("server.live", 1)
            st = p.stats()
            check(CB + "cx_open" in st and CB + "rq_pending_open" in st, str(st))
            check(not any(k.startswith(CB + "remaining") for k in st), str(st))


def test_max_connections_forgets_a_killed_workers_connections():
    """A SIGKILLed worker never gives its counts back; its successor zeroes its slot, so the
    breaker does not stay shut, and still holds; remaining_cx is right again."""
    with EchoServer() as up:
        port = free_port()
        cfg = simple_config(port, [up.port], cluster_extra=_breaker(max_connections=2))
        with Proxy(cfg, concurrency=1) as p:
            held = []
            for i in range(2):
                s = connect(port)
                s.sendall(b"h")
                check(s.recv(1) == b"h", "connection %d within the limit" % i)
                held.append(s)
            p.wait_stat(CB + "cx_open", 1)
            (worker,) = p.worker_pids()
            os.kill(worker, signal.SIGKILL)
            wait_for(lambda: p.workers_ready(2) and p.worker_pids() not in ([], [worker]),
                     what="the worker restarted")
            for s in held:
                s.close()
            held = []
            for i in range(2):
                s = connect(port)
                s.sendall(b"n")
                check(s.recv(1) == b"n", "new connection %d served after the restart" % i)
                held.append(s)
            check(_wait_closed(connect(port)) == b"", "the limit still holds after the restart")
            p.wait_stat("cluster.c.upstream_cx_overflow", 1)
            p.wait_stat(CB + "remaining_cx", 0)
            for s in held:
                s.close()
            p.wait_stat(CB + "remaining_cx", 2)


def test_high_priority_gauges_exist_and_stay_unused():
    """Envoy makes both priorities' gauges for every cluster; tcp_proxy asks only DEFAULT, so
    circuit_breakers.high.* stay closed with the HIGH limits remaining (track_remaining of the
    HIGH thresholds), while DEFAULT's breaker opens."""
    high = "\n      - priority: HIGH\n        max_connections: 5\n        track_remaining: true"
    with EchoServer() as up:
        port = free_port()
        cfg = simple_config(port, [up.port],
                            cluster_extra=_breaker(max_connections=1) + high)
        with Proxy(cfg) as p:
            HB = "cluster.c.circuit_breakers.high."
            p.wait_stat(HB + "remaining_cx", 5)
            held = connect(port)
            held.sendall(b"x")
            check(held.recv(1) == b"x", "the first connection")
            p.wait_stat(CB + "cx_open", 1)
            st = p.stats()
            for g in ("cx_open", "cx_pool_open", "rq_pending_open", "rq_open", "rq_retry_open"):
                check(st[HB + g] == 0, str(st))
            check(st[HB + "remaining_cx"] == 5, str(st))
            check(st[HB + "remaining_pending"] == 1024, str(st))
            check(st[HB + "remaining_rq"] == 1024, str(st))
            check(st[HB + "remaining_retries"] == 3, str(st))
            held.close()
        # Without HIGH thresholds: the *_open gauges, no remaining_*.
        with Proxy(simple_config(port, [up.port], cluster_extra=_breaker(max_connections=1))) \
                as p:
            p.wait_stat("server.live", 1)
            st = p.stats()
            check(st["cluster.c.circuit_breakers.high.cx_open"] == 0, str(st))
            check(not any(k.startswith("cluster.c.circuit_breakers.high.remaining")
                          for k in st), str(st))
