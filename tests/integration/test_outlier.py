"""Outlier detection (a cluster's outlier_detection) against real peers: a host whose port
refuses connections is ejected after its consecutive connect failures, reported by the workers
to the master; new connections then go to the good host only, /clusters shows
/failed_outlier_check, and the host returns after base_ejection_time. max_ejection_percent keeps
the last hosts in rotation. The outlier_detection.* stats follow."""
import socket
import time

from harness import (Proxy, Server, bootstrap, check, connect, free_port, listener_yaml,
                     wait_for)
from test_health import admin_get, whoami_handler

ONE_ATTEMPT = "\n          max_connect_attempts: 1"


def cluster(name, addrs, port, od):
    eps = "".join("""
        - endpoint: {address: {socket_address: {address: %s, port_value: %d}}}""" % (a, port)
                  for a in addrs)
    return """
  - name: %s
    connect_timeout: 1s
    outlier_detection:%s
    load_assignment:
      cluster_name: %s
      endpoints:
      - lb_endpoints:%s
""" % (name, od, name, eps)


def config(port, admin_port, cl):
    return ("admin:\n  address:\n    socket_address: {address: 127.0.0.1, port_value: %d}\n"
            % admin_port + bootstrap([listener_yaml("l", port, "c", proxy_extra=ONE_ATTEMPT)],
                                     [cl]))


def who(port):
    """The address the backend answered on, or "" when the proxy closed the connection (its
    only connect attempt failed)."""
    s = connect(port)
    s.settimeout(10)
    f = s.makefile("rb")
    try:
        line = f.readline().decode().strip()
    except (ConnectionResetError, socket.timeout):
        line = ""
    f.close()
    s.close()
    return line


def fail_until_ejected(p, port, threshold, ejections):
    """Connects until threshold connections failed, then waits for the master to have made
    ejections in all (the last failure's report may still be on its way: connecting again
    before it lands could fail once more). Returns the failures seen."""
    failed = 0
    for _ in range(60):
        if who(port) == "":
            failed += 1
        if failed >= threshold:
            break
    wait_for(lambda: p.stat("cluster.c.outlier_detection.ejections_enforced_total") >=
             ejections, timeout=10, what="ejection number %d" % ejections)
    return failed


def test_consecutive_failures_eject_and_the_host_returns():
    up = free_port()
    good = Server(whoami_handler, host="127.0.0.2", port=up)
    # 127.0.0.3:up: nothing listens there, so every connect is refused.
    try:
        port, admin = free_port(), free_port()
        od = """
      consecutive_5xx: 3
      interval: 0.1s
      base_ejection_time: 1.5s
      max_ejection_percent: 50"""
        with Proxy(config(port, admin, cluster("c", ["127.0.0.2", "127.0.0.3"], up, od))) as p:
            check(p.stat("cluster.c.outlier_detection.ejections_active") == 0, str(p.stats()))
            failed = fail_until_ejected(p, port, 3, 1)
            st = p.stats()
            check(st["cluster.c.outlier_detection.ejections_enforced_total"] == 1, str(st))
            # Without split_external_local_origin_errors a refused connect is a 503: the 5xx
            # detector ejects after 3 of them in a row (across both workers).
            check(failed == 3, "%d failed connections before the ejection" % failed)
            check(st["cluster.c.upstream_cx_connect_fail"] == 3, str(st))
            check(st["cluster.c.outlier_detection.ejections_active"] == 1, str(st))
            check(st["cluster.c.outlier_detection.ejections_detected_consecutive_5xx"] == 1,
                  str(st))
            check(st["cluster.c.outlier_detection.ejections_enforced_consecutive_5xx"] == 1,
                  str(st))
            check(st["cluster.c.outlier_detection.ejections_total"] == 1, str(st))
            check(st["cluster.c.membership_healthy"] == 1, str(st))
            page = admin_get(admin, "/clusters")
            check("c::127.0.0.3:%d::health_flags::/failed_outlier_check\n" % up in page, page)
            check("c::127.0.0.2:%d::health_flags::healthy\n" % up in page, page)
            # While it is ejected (1.5 s; a slow machine may take longer over these, and then
            # the host is back and the check proves nothing, so it is skipped).
            t0 = time.monotonic()
            seen = [who(port) for _ in range(10)]
            fails = p.stat("cluster.c.upstream_cx_connect_fail")
            if time.monotonic() - t0 < 1.2:
                check(seen == ["127.0.0.2"] * 10, "while ejected: %s" % seen)
                check(fails == 3, str(p.stats()))

            # Back after base_ejection_time (× 1, its first ejection), swept every interval.
            wait_for(lambda: p.stat("cluster.c.outlier_detection.ejections_active") == 0,
                     timeout=10, what="127.0.0.3 to return")
            page = admin_get(admin, "/clusters")
            check("c::127.0.0.3:%d::health_flags::healthy\n" % up in page, page)
            check(p.stat("cluster.c.membership_healthy") == 2, str(p.stats()))
            # It fails again: ejected again after 3 more failures.
            check(fail_until_ejected(p, port, 3, 2) == 3, "ejected again after 3 failures")
            st = p.stats()
            check(st["cluster.c.outlier_detection.ejections_enforced_total"] == 2, str(st))
            check(st["cluster.c.upstream_cx_connect_fail"] == 6, str(st))
            check("host 127.0.0.3:%d ejected (consecutive_5xx)" % up in p.output(), p.output())
    finally:
        good.close()


def test_local_origin_split_and_max_ejection_percent():
    up = free_port()
    good = Server(whoami_handler, host="127.0.0.2", port=up)
    try:
        port, admin = free_port(), free_port()
        # Two refusing hosts of three; 40 %: one may be ejected (33 %), not two (67 %).
        od = """
      split_external_local_origin_errors: true
      consecutive_local_origin_failure: 2
      interval: 0.1s
      base_ejection_time: 60s
      max_ejection_percent: 40"""
        with Proxy(config(port, admin, cluster("c", ["127.0.0.2", "127.0.0.3", "127.0.0.4"],
                                               up, od))) as p:
            for _ in range(100):
                who(port)
                if p.stat("cluster.c.outlier_detection.ejections_overflow") >= 1:
                    break
            st = p.stats()
            check(st["cluster.c.outlier_detection.ejections_overflow"] >= 1, str(st))
            check(st["cluster.c.outlier_detection.ejections_active"] == 1, str(st))
            check(st["cluster.c.outlier_detection.ejections_enforced_total"] == 1, str(st))
            check(st["cluster.c.outlier_detection."
                     "ejections_enforced_consecutive_local_origin_failure"] == 1, str(st))
            check(st["cluster.c.outlier_detection."
                     "ejections_detected_consecutive_local_origin_failure"] >= 2, str(st))
            # Split: connect failures are local-origin only, never a 5xx.
            check(st["cluster.c.outlier_detection.ejections_detected_consecutive_5xx"] == 0,
                  str(st))
            check(st["cluster.c.membership_healthy"] == 2, str(st))
            page = admin_get(admin, "/clusters")
            check(page.count("::health_flags::/failed_outlier_check\n") == 1, page)
            # The other refusing host stays in rotation: connections still fail on it.
            results = [who(port) for _ in range(12)]
            check("" in results and "127.0.0.2" in results, "%s" % results)
            check(p.stat("cluster.c.outlier_detection.ejections_active") == 1, str(p.stats()))
    finally:
        good.close()


def five_hosts(up):
    """Four hosts that answer on 127.0.0.2-5 and 127.0.0.6, where nothing listens."""
    return [Server(whoami_handler, host="127.0.0.%d" % i, port=up) for i in range(2, 6)]


def drive_until(p, port, stat, n=1, rounds=40):
    """Connections in batches of 25 until stat reaches n (the detectors run at each interval,
    over the interval that ended)."""
    for _ in range(rounds):
        for _ in range(25):
            who(port)
        if p.stat(stat) >= n:
            return
    check(False, "%s never reached %d: %s" % (stat, n, p.stats()))


ADDRS = ["127.0.0.%d" % i for i in range(2, 7)]


def test_success_rate_ejects_the_host_far_below_the_others():
    """Without split, a refused connect is a 503 for the success-rate detector too: over an
    interval with success_rate_request_volume results per host, the host whose success rate is
    below mean - 1.9 stdev (0 % against four at 100 %) is ejected as success_rate, and the
    consecutive detectors (off here) take no part."""
    up = free_port()
    servers = five_hosts(up)
    try:
        port, admin = free_port(), free_port()
        od = """
      consecutive_5xx: 0
      consecutive_gateway_failure: 0
      interval: 0.5s
      base_ejection_time: 60s
      max_ejection_percent: 20
      success_rate_request_volume: 10"""
        with Proxy(config(port, admin, cluster("c", ADDRS, up, od))) as p:
            drive_until(p, port, "cluster.c.outlier_detection.ejections_enforced_total")
            st = p.stats()
            pre = "cluster.c.outlier_detection."
            check(st[pre + "ejections_enforced_success_rate"] == 1, str(st))
            check(st[pre + "ejections_detected_success_rate"] >= 1, str(st))
            check(st[pre + "ejections_success_rate"] >= 1, str(st))
            check(st[pre + "ejections_total"] >= 1, str(st))
            check(st[pre + "ejections_active"] == 1, str(st))
            check(st[pre + "ejections_detected_consecutive_5xx"] == 0, str(st))
            # failure_percentage is detected (100 % failures) but not enforced by default.
            check(st[pre + "ejections_enforced_failure_percentage"] == 0, str(st))
            page = admin_get(admin, "/clusters")
            check("c::127.0.0.6:%d::health_flags::/failed_outlier_check\n" % up in page, page)
            fails = p.stat("cluster.c.upstream_cx_connect_fail")
            seen = {who(port) for _ in range(20)}
            check(seen == set(ADDRS[:4]), "after the ejection: %s" % seen)
            check(p.stat("cluster.c.upstream_cx_connect_fail") == fails, str(p.stats()))
            check("host 127.0.0.6:%d ejected (success_rate)" % up in p.output(), p.output())
    finally:
        for s in servers:
            s.close()


def test_local_origin_failure_percentage_with_split():
    """With split_external_local_origin_errors, connect results are local origin: the
    local-origin success rate is detected but, enforcing_local_origin_success_rate 0, not
    enforced; the failure percentage (100 % >= 85 %) ejects with
    enforcing_failure_percentage_local_origin."""
    up = free_port()
    servers = five_hosts(up)
    try:
        port, admin = free_port(), free_port()
        od = """
      split_external_local_origin_errors: true
      consecutive_local_origin_failure: 0
      interval: 0.5s
      base_ejection_time: 60s
      max_ejection_percent: 20
      enforcing_local_origin_success_rate: 0
      enforcing_failure_percentage_local_origin: 100
      success_rate_request_volume: 10
      failure_percentage_request_volume: 10"""
        with Proxy(config(port, admin, cluster("c", ADDRS, up, od))) as p:
            drive_until(p, port, "cluster.c.outlier_detection.ejections_enforced_total")
            st = p.stats()
            pre = "cluster.c.outlier_detection."
            check(st[pre + "ejections_enforced_local_origin_failure_percentage"] == 1, str(st))
            check(st[pre + "ejections_detected_local_origin_failure_percentage"] >= 1, str(st))
            check(st[pre + "ejections_detected_local_origin_success_rate"] >= 1, str(st))
            check(st[pre + "ejections_enforced_local_origin_success_rate"] == 0, str(st))
            check(st[pre + "ejections_detected_success_rate"] == 0, str(st))
            check(st[pre + "ejections_active"] == 1, str(st))
            check("ejected (local_origin_failure_percentage)" in p.output(), p.output())
    finally:
        for s in servers:
            s.close()


def test_a_passing_health_check_returns_an_ejected_host():
    """successful_active_health_check_uneject_host: a host ejected for 60 s by its connect
    failures returns as soon as its active health check passes again."""
    from test_health import stop_listening
    up = free_port()
    good = Server(whoami_handler, host="127.0.0.2", port=up)
    flaky = Server(whoami_handler, host="127.0.0.3", port=up)
    try:
        port, admin = free_port(), free_port()
        od = """
      consecutive_5xx: 2
      interval: 0.1s
      base_ejection_time: 60s
      max_ejection_percent: 50
      successful_active_health_check_uneject_host: true
    health_checks:
    - {timeout: 0.5s, interval: 0.1s, no_traffic_interval: 0.1s, unhealthy_threshold: 1000,
       healthy_threshold: 1, tcp_health_check: {}}"""
        with Proxy(config(port, admin, cluster("c", ["127.0.0.2", "127.0.0.3"], up, od))) as p:
            stop_listening(flaky)
            fail_until_ejected(p, port, 2, 1)
            check(p.stat("cluster.c.outlier_detection.ejections_active") == 1, str(p.stats()))
            time.sleep(0.5)
            # Still out: its checks fail too (below unhealthy_threshold, so not HC-failed).
            check(p.stat("cluster.c.outlier_detection.ejections_active") == 1, str(p.stats()))
            flaky = Server(whoami_handler, host="127.0.0.3", port=up)
            wait_for(lambda: p.stat("cluster.c.outlier_detection.ejections_active") == 0,
                     timeout=10, what="the passing check to return the host")
            wait_for(lambda: "127.0.0.3" in {who(port) for _ in range(6)},
                     what="connections to reach the returned host")
            check("returns from ejection (its health check passed)" in p.output(), p.output())
    finally:
        good.close()
        flaky.close()
