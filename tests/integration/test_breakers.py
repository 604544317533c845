"""Circuit breakers (max_connections, max_pending_requests across workers) and tcp_proxy's
backoff_options between connect attempts (issue 14, part 3)."""
import socket
import threading
import time

from harness import (EchoServer, Proxy, blackhole_port, check, connect, free_port, recv_all,
                     wait_for)
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
