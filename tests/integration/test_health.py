"""Active health checks (a cluster's health_checks) against real peers: a TCP check with send and
receive payloads takes a backend that stops listening out of rotation after unhealthy_threshold
and back after healthy_threshold, without cutting its live connections; an HTTP/1.1 check
against a real HTTP server (Python's http.server) with an expected status range fails on 503 at
once; below the panic threshold every host is used; the health_check.* and membership_* stats
and /clusters' health_flags follow."""
import http.server
import json
import os
import socket
import threading
import urllib.request

from harness import (Proxy, Server, bootstrap, check, connect, free_port, listener_yaml,
                     wait_for)


def whoami_handler(c):
    """Says which address it answered on, then echoes until EOF."""
    c.sendall(c.getsockname()[0].encode() + b"\n")
    while True:
        b = c.recv(65536)
        if not b:
            break
        c.sendall(b)


def stop_listening(srv):
    """The backend stops accepting; the connections it has keep being served."""
    srv.closed = True
    try:
        srv.sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    srv.sock.close()


def cluster(name, addrs, port, hc, extra=""):
    eps = "".join("""
        - endpoint: {address: {socket_address: {address: %s, port_value: %d}}}""" % (a, port)
                  for a in addrs)
    return """
  - name: %s
    connect_timeout: 1s%s
    health_checks:%s
    load_assignment:
      cluster_name: %s
      endpoints:
      - lb_endpoints:%s
""" % (name, extra, hc, name, eps)


def config(port, admin_port, cl):
    return ("admin:\n  address:\n    socket_address: {address: 127.0.0.1, port_value: %d}\n"
            % admin_port + bootstrap([listener_yaml("l", port, "c")], [cl]))


def admin_get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        return r.read().decode()


def who(port):
    s = connect(port)
    f = s.makefile("rb")
    line = f.readline().decode().strip()
    f.close()
    s.close()
    return line


# Each check config sets no_traffic_interval: these tests watch checks before any connection,
# and Envoy's default (60 s) applies until the cluster's first one.
TCP_HC = """
    - timeout: 0.5s
      interval: 0.15s
      no_traffic_interval: 0.15s
      interval_jitter: 0.02s
      unhealthy_threshold: 2
      healthy_threshold: 2
      tcp_health_check:
        send: {text: "70696e670a"}
        receive: [{text: "70696e67"}, {binary: "Cg=="}]"""


def test_tcp_check_moves_hosts_out_of_rotation_and_back():
    up = free_port()
    a = Server(whoami_handler, host="127.0.0.2", port=up)
    b = Server(whoami_handler, host="127.0.0.3", port=up)
    try:
        port, admin = free_port(), free_port()
        with Proxy(config(port, admin, cluster("c", ["127.0.0.2", "127.0.0.3"], up,
                                               TCP_HC))) as p:
            # The generation served once the first round of checks was in.
            check(p.stat("cluster.c.membership_healthy") == 2, str(p.stats()))
            check(p.stat("cluster.c.health_check.healthy") == 2, str(p.stats()))
            seen = {who(port) for _ in range(10)}
            check(seen == {"127.0.0.2", "127.0.0.3"}, "connections went to %s" % seen)
            page = admin_get(admin, "/clusters")
            check("c::127.0.0.2:%d::health_flags::healthy\n" % up in page, page)

            # A live connection to .2, which then stops accepting.
            live = None
            for _ in range(10):
                s = connect(port)
                f = s.makefile("rb")
                if f.readline().decode().strip() == "127.0.0.2":
                    live = (s, f)
                    break
                f.close()
                s.close()
            check(live is not None, "no connection reached 127.0.0.2")
            net0 = p.stat("cluster.c.health_check.network_failure")
            stop_listening(a)
            wait_for(lambda: p.stat("cluster.c.membership_healthy") == 1, timeout=10,
                     what="127.0.0.2 to fail its checks")
            st = p.stats()
            check(st["cluster.c.health_check.network_failure"] - net0 >= 2,
                  "unhealthy before unhealthy_threshold network failures: %s" % st)
            check(st["cluster.c.health_check.healthy"] == 1, str(st))
            check(st["cluster.c.membership_total"] == 2, str(st))
            page = admin_get(admin, "/clusters")
            check("c::127.0.0.2:%d::health_flags::/failed_active_hc\n" % up in page, page)
            check("c::127.0.0.3:%d::health_flags::healthy\n" % up in page, page)
            seen = {who(port) for _ in range(10)}
            check(seen == {"127.0.0.3"}, "with .2 unhealthy connections went to %s" % seen)
            # Its live connection was not cut.
            live[0].sendall(b"still here\n")
            check(live[1].readline() == b"still here\n", "the live connection was cut")

            # .2 listens again: healthy after healthy_threshold successes, back in rotation.
            a = Server(whoami_handler, host="127.0.0.2", port=up)
            wait_for(lambda: p.stat("cluster.c.membership_healthy") == 2, timeout=10,
                     what="127.0.0.2 to pass its checks")
            seen = {who(port) for _ in range(10)}
            check(seen == {"127.0.0.2", "127.0.0.3"}, "after recovery: %s" % seen)
            st = p.stats()
            check(st["cluster.c.health_check.attempt"] >=
                  st["cluster.c.health_check.success"] + st["cluster.c.health_check.failure"],
                  str(st))
            check(st["cluster.c.health_check.passive_failure"] == 0, str(st))
            check(st["cluster.c.health_check.verify_cluster"] == 0, str(st))
            check(st["cluster.c.health_check.degraded"] == 0, str(st))
            check("127.0.0.2:%d failed" % up in p.output() and "host unhealthy" in p.output(),
                  p.output())
            live[1].close()
            live[0].close()
    finally:
        a.close()
        b.close()


class HttpBackend:
    """Python's http.server on addr:port: /healthz answers status[0] and records the request;
    any other path answers 200 with the server's address."""

    def __init__(self, addr, port, status=200):
        self.status = [status]
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/healthz":
                    outer.requests.append((self.requestline, dict(self.headers)))
                    code = outer.status[0]
                    body = b"ok"
                else:
                    code = 200
                    body = addr.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.srv = http.server.ThreadingHTTPServer((addr, port), Handler)
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def who_http(port):
    """The address of the backend that answered through the proxy; "" if none did."""
    s = connect(port)
    data = b""
    try:
        s.sendall(b"GET /who HTTP/1.0\r\n\r\n")
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except ConnectionResetError:
        pass
    s.close()
    return data.split(b"\r\n\r\n", 1)[-1].decode()


def http_hc(unhealthy=3, extra=""):
    return """
    - timeout: 1s
      interval: 0.15s
      no_traffic_interval: 0.15s
      unhealthy_threshold: %d
      healthy_threshold: 2
      http_health_check:
        path: /healthz
        host: hc.example
        expected_statuses: [{start: 200, end: 300}]
        request_headers_to_add: [{header: {key: x-hc, value: tcpproxy}}]%s""" % (unhealthy, extra)


def test_http_check_status_range_and_503():
    up = free_port()
    a = HttpBackend("127.0.0.2", up, status=204)
    b = HttpBackend("127.0.0.3", up, status=200)
    try:
        port, admin = free_port(), free_port()
        with Proxy(config(port, admin, cluster("c", ["127.0.0.2", "127.0.0.3"], up,
                                               http_hc()))) as p:
            # 204 is in [200, 300): both healthy.
            check(p.stat("cluster.c.membership_healthy") == 2, str(p.stats()))
            seen = {who_http(port) for _ in range(10)}
            check(seen == {"127.0.0.2", "127.0.0.3"}, "connections went to %s" % seen)
            line, headers = a.requests[0]
            check(line == "GET /healthz HTTP/1.1", line)
            check(headers.get("Host") == "hc.example", str(headers))
            check(headers.get("User-Agent") == "Envoy/HC", str(headers))
            check(headers.get("x-hc") == "tcpproxy", str(headers))

            # A 503 is a wrong answer, not a network failure: unhealthy at once, before the
            # unhealthy_threshold of 3.
            net0 = p.stat("cluster.c.health_check.network_failure")
            fail0 = p.stat("cluster.c.health_check.failure")
            a.status[0] = 503
            wait_for(lambda: p.stat("cluster.c.membership_healthy") == 1, timeout=10,
                     what="the 503 to fail 127.0.0.2")
            st = p.stats()
            check(st["cluster.c.health_check.failure"] - fail0 <= 2, str(st))
            check(st["cluster.c.health_check.network_failure"] == net0, str(st))
            seen = {who_http(port) for _ in range(10)}
            check(seen == {"127.0.0.3"}, "with .2 answering 503: %s" % seen)
            page = admin_get(admin, "/clusters")
            check("c::127.0.0.2:%d::health_flags::/failed_active_hc\n" % up in page, page)

            a.status[0] = 200
            wait_for(lambda: p.stat("cluster.c.membership_healthy") == 2, timeout=10,
                     what="127.0.0.2 to pass again")
            seen = {who_http(port) for _ in range(10)}
            check(seen == {"127.0.0.2", "127.0.0.3"}, "after recovery: %s" % seen)
    finally:
        a.close()
        b.close()


def test_panic_threshold_uses_every_host():
    up = free_port()
    a = HttpBackend("127.0.0.2", up, status=503)
    b = HttpBackend("127.0.0.3", up, status=503)
    try:
        port, admin = free_port(), free_port()
        # Every host fails its check: below 50 % healthy, all of them are used.
        with Proxy(config(port, admin, cluster("c", ["127.0.0.2", "127.0.0.3"], up,
                                               http_hc()))) as p:
            wait_for(lambda: p.stat("cluster.c.health_check.failure") >= 2,
                     what="both checks to fail")
            check(p.stat("cluster.c.membership_healthy") == 0, str(p.stats()))
            seen = {who_http(port) for _ in range(10)}
            check(seen == {"127.0.0.2", "127.0.0.3"}, "in panic connections went to %s" % seen)
        # healthy_panic_threshold 0 turns panic off: no host, the connection is refused (UH).
        port, admin = free_port(), free_port()
        cl = cluster("c", ["127.0.0.2", "127.0.0.3"], up, http_hc(),
                     extra="\n    common_lb_config: {healthy_panic_threshold: {value: 0}}")
        with Proxy(config(port, admin, cl)) as p:
            wait_for(lambda: p.stat("cluster.c.health_check.failure") >= 2,
                     what="both checks to fail")
            check(who_http(port) == "", "a connection was proxied with no healthy host")
            wait_for(lambda: p.stat("cluster.c.upstream_cx_none_healthy") >= 1,
                     what="upstream_cx_none_healthy")
    finally:
        a.close()
        b.close()


def test_dns_hosts_are_checked_as_they_come_and_go():
    """A STRICT_DNS cluster with a connect-only TCP check: a new address starts failed and joins
    the rotation once checked; a host that stops listening leaves it."""
    from test_dns import Dnsmasq, dns_cluster
    up = free_port()
    a = Server(whoami_handler, host="127.0.0.2", port=up)
    b = Server(whoami_handler, host="127.0.0.3", port=up)
    try:
        with Dnsmasq("127.0.0.2 be.tp.test\n") as dns:
            port, admin = free_port(), free_port()
            hc = """
    health_checks:
    - {timeout: 0.5s, interval: 0.15s, no_traffic_interval: 0.15s, unhealthy_threshold: 2,
       healthy_threshold: 2, tcp_health_check: {}}"""
            cl = dns_cluster("c", "STRICT_DNS", [("be.tp.test", up)], dns.port,
                             extra="\n    dns_refresh_rate: 0.3s" + hc)
            with Proxy(config(port, admin, cl)) as p:
                check(p.stat("cluster.c.membership_healthy") == 1, str(p.stats()))
                dns.change("127.0.0.2 be.tp.test\n127.0.0.3 be.tp.test\n")
                wait_for(lambda: p.stat("cluster.c.membership_total") == 2 and
                         p.stat("cluster.c.membership_healthy") == 2, timeout=10,
                         what="the new address to be checked")
                seen = {who(port) for _ in range(10)}
                check(seen == {"127.0.0.2", "127.0.0.3"}, "connections went to %s" % seen)
                page = admin_get(admin, "/clusters")
                check("c::127.0.0.3:%d::hostname::be.tp.test\n" % up in page, page)
                check("c::127.0.0.3:%d::health_flags::healthy\n" % up in page, page)
                stop_listening(b)
                wait_for(lambda: p.stat("cluster.c.membership_healthy") == 1, timeout=10,
                         what="127.0.0.3 to fail")
                seen = {who(port) for _ in range(10)}
                check(seen == {"127.0.0.2"}, "with .3 unhealthy: %s" % seen)
                check(p.stat("cluster.c.health_check.healthy") == 1, str(p.stats()))
    finally:
        a.close()
        b.close()


def test_reload_checks_again_and_keeps_serving():
    """A reload's generation has its own checker: it serves once its first round is in, and an
    unhealthy host stays out of rotation there too."""
    import signal
    up = free_port()
    a = Server(whoami_handler, host="127.0.0.2", port=up)
    b = Server(whoami_handler, host="127.0.0.3", port=up)
    try:
        port, admin = free_port(), free_port()
        with Proxy(config(port, admin, cluster("c", ["127.0.0.2", "127.0.0.3"], up,
                                               TCP_HC))) as p:
            stop_listening(a)
            wait_for(lambda: p.stat("cluster.c.membership_healthy") == 1, timeout=10,
                     what="127.0.0.2 to fail")
            p.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: p.stat("server.hot_restart_epoch") == 1, what="the reload")
            seen = {who(port) for _ in range(10)}
            check(seen == {"127.0.0.3"}, "after the reload connections went to %s" % seen)
            a = Server(whoami_handler, host="127.0.0.2", port=up)
            wait_for(lambda: p.stat("cluster.c.membership_healthy") == 2, timeout=10,
                     what="127.0.0.2 to pass in the new generation")
            seen = {who(port) for _ in range(10)}
            check(seen == {"127.0.0.2", "127.0.0.3"}, "after recovery: %s" % seen)
    finally:
        a.close()
        b.close()


def test_hostile_answers_fail_the_check_and_not_the_master():
    """The master parses what hosts answer: an endless head, bytes that are not HTTP, and no
    answer at all each fail the check (a network failure: the host must fail
    unhealthy_threshold times), and the master keeps serving."""
    def endless(c):
        c.sendall(b"HTTP/1.1 200 OK\r\n")
        try:
            while True:
                c.sendall(b"X-A: " + b"a" * 4000 + b"\r\n")
        except OSError:
            pass

    def junk(c):
        c.sendall(b"\x00\x01 not http at all\r\n\r\n")
        c.recv(1)

    def silent(c):
        c.recv(1 << 20)

    up = free_port()
    servers = [Server(endless, host="127.0.0.2", port=up), Server(junk, host="127.0.0.3", port=up),
               Server(silent, host="127.0.0.4", port=up)]
    try:
        port, admin = free_port(), free_port()
        hc = """
    - timeout: 0.3s
      interval: 0.1s
      no_traffic_interval: 0.1s
      unhealthy_threshold: 2
      healthy_threshold: 2
      http_health_check: {path: /}"""
        with Proxy(config(port, admin, cluster("c", ["127.0.0.2", "127.0.0.3", "127.0.0.4"],
                                               up, hc))) as p:
            wait_for(lambda: p.stat("cluster.c.health_check.network_failure") >= 9, timeout=15,
                     what="three rounds of failed checks")
            st = p.stats()
            check(st["cluster.c.membership_healthy"] == 0, str(st))
            check(st["cluster.c.health_check.success"] == 0, str(st))
            check(st["cluster.c.health_check.failure"] ==
                  st["cluster.c.health_check.network_failure"], str(st))
            check("c::127.0.0.2:%d::health_flags::/failed_active_hc\n" % up in
                  admin_get(admin, "/clusters"), "admin /clusters")
            check(p.proc.poll() is None, "the master exited")
    finally:
        for s in servers:
            s.close()


def test_close_connections_on_host_health_failure():
    """With close_connections_on_host_health_failure, a host's live connections are closed when
    its check fails it; the healthy host's connection goes on."""
    up = free_port()
    a = Server(whoami_handler, host="127.0.0.2", port=up)
    b = Server(whoami_handler, host="127.0.0.3", port=up)
    try:
        port, admin = free_port(), free_port()
        cl = cluster("c", ["127.0.0.2", "127.0.0.3"], up, TCP_HC,
                     extra="\n    close_connections_on_host_health_failure: true")
        with Proxy(config(port, admin, cl)) as p:
            live = {}
            for _ in range(20):
                s = connect(port)
                f = s.makefile("rb")
                addr = f.readline().decode().strip()
                if addr in live:
                    f.close()
                    s.close()
                else:
                    live[addr] = (s, f)
                if len(live) == 2:
                    break
            check(set(live) == {"127.0.0.2", "127.0.0.3"}, "live connections: %s" % live)
            stop_listening(a)
            wait_for(lambda: p.stat("cluster.c.membership_healthy") == 1, timeout=10,
                     what="127.0.0.2 to fail")
            s2, f2 = live["127.0.0.2"]
            s2.settimeout(5)
            check(f2.readline() == b"", "the failed host's connection stays open")
            s3, f3 = live["127.0.0.3"]
            s3.sendall(b"still here\n")
            check(f3.readline() == b"still here\n", "the healthy host's connection was cut")
            for s, f in live.values():
                f.close()
                s.close()
    finally:
        a.close()
        b.close()


def test_no_traffic_interval_until_the_first_connection():
    """Until the cluster's first upstream connection its hosts are checked every
    no_traffic_interval (Envoy's default 60 s), then every interval, as Envoy's
    HealthCheckerImplBase::interval() picks; tcpproxy moves the waiting checks to interval soon
    after the first connection instead of letting the long timer run out."""
    up = free_port()
    a = Server(whoami_handler, host="127.0.0.2", port=up)
    b = Server(whoami_handler, host="127.0.0.3", port=up)
    hc = """
    - {timeout: 0.5s, interval: 0.1s, unhealthy_threshold: 2, healthy_threshold: 2,
       tcp_health_check: {}}"""
    try:
        port, admin = free_port(), free_port()
        with Proxy(config(port, admin, cluster("c", ["127.0.0.2", "127.0.0.3"], up, hc))) as p:
            check(p.stat("cluster.c.health_check.attempt") == 2, str(p.stats()))
            import time
            time.sleep(1.2)
            # Twelve intervals, and no check beyond the first round.
            check(p.stat("cluster.c.health_check.attempt") == 2, str(p.stats()))
            who(port)
            wait_for(lambda: p.stat("cluster.c.health_check.attempt") >= 12, timeout=10,
                     what="checks at interval after the first connection")
    finally:
        a.close()
        b.close()


def events(path):
    """The HealthCheckEvent lines of an event_log_path so far."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_event_log_path_writes_envoy_health_check_events():
    """event_log_path gets Envoy's HealthCheckEvent JSON lines: a first passing check adds the
    host (first_check true), a first failing one logs its failure, a host that fails
    unhealthy_threshold times is ejected (NETWORK), one that returns is added after
    healthy_threshold; SIGUSR1 (logrotate) reopens the file by its path."""
    import re
    import signal
    from harness import run_path
    up = free_port()
    a = Server(whoami_handler, host="127.0.0.2", port=up)
    b = None
    log = run_path("hc-events-%d.log" % up)
    hc = """
    - timeout: 0.5s
      interval: 0.1s
      no_traffic_interval: 0.1s
      unhealthy_threshold: 2
      healthy_threshold: 2
      event_log_path: %s
      tcp_health_check: {}""" % log

    def kinds(path):
        return [(e["host"]["socket_address"]["address"],
                 [k for k in e if k.endswith("_event")][0]) for e in events(path)]

    try:
        port, admin = free_port(), free_port()
        with Proxy(config(port, admin, cluster("c", ["127.0.0.2", "127.0.0.3"], up, hc))) as p:
            wait_for(lambda: len(events(log)) >= 2, what="the first round's events")
            evs = events(log)
            first = {e["host"]["socket_address"]["address"]: e for e in evs[:2]}
            check(first["127.0.0.2"]["add_healthy_event"] == {"first_check": True}, str(evs))
            check(first["127.0.0.3"]["health_check_failure_event"] ==
                  {"failure_type": "NETWORK", "first_check": True}, str(evs))
            # Envoy's field order and spelling, as its event logger prints them.
            with open(log) as f:
                line = f.readline()
            check(re.fullmatch(
                r'\{"health_checker_type":"TCP","host":\{"socket_address":\{"protocol":"TCP",'
                r'"address":"127\.0\.0\.[23]","port_value":%d,"resolver_name":"",'
                r'"ipv4_compat":false\}\},"cluster_name":"c","(add_healthy_event|'
                r'health_check_failure_event)":\{[^{}]*\},"timestamp":'
                r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"\}\n' % up, line) is not None, line)
            # Later failures of .3 are not logged (always_log_health_check_failures: false).
            check(kinds(log).count(("127.0.0.3", "health_check_failure_event")) == 1, str(evs))

            stop_listening(a)
            wait_for(lambda: ("127.0.0.2", "eject_unhealthy_event") in kinds(log),
                     what="the ejection of 127.0.0.2")
            ej = [e for e in events(log) if "eject_unhealthy_event" in e][0]
            check(ej["eject_unhealthy_event"] == {"failure_type": "NETWORK"}, str(ej))
            check(ej["cluster_name"] == "c" and ej["health_checker_type"] == "TCP", str(ej))

            # logrotate: the file moves, SIGUSR1, and the next event goes to a new file.
            os.rename(log, log + ".1")
            p.proc.send_signal(signal.SIGUSR1)
            wait_for(lambda: os.path.exists(log), what="the event log to be reopened")
            b = Server(whoami_handler, host="127.0.0.3", port=up)
            wait_for(lambda: ("127.0.0.3", "add_healthy_event") in kinds(log),
                     what="127.0.0.3 to be added in the new file")
            added = [e for e in events(log) if "add_healthy_event" in e][0]
            check(added["add_healthy_event"] == {"first_check": False}, str(added))
            check(p.stat("cluster.c.membership_healthy") == 1, str(p.stats()))
    finally:
        a.close()
        if b:
            b.close()


def test_event_log_path_that_cannot_be_opened_stops_the_start():
    """An event_log_path that cannot be opened is a clear error at start, as Envoy's access log
    manager refuses it, not a checker that silently logs nothing."""
    import subprocess
    from harness import TCPPROXY, _take_base_id, run_path
    up = free_port()
    hc = """
    - {timeout: 0.5s, interval: 0.1s, unhealthy_threshold: 2, healthy_threshold: 2,
       event_log_path: /nonexistent-dir/hc.log, tcp_health_check: {}}"""
    path = run_path("hc-badlog-%d.yaml" % up)
    with open(path, "w") as f:
        f.write(bootstrap([listener_yaml("l", free_port(), "c")],
                          [cluster("c", ["127.0.0.2"], up, hc)]))
    r = subprocess.run([TCPPROXY, "-c", path, "--concurrency", "1", "--base-id",
                        str(_take_base_id())], capture_output=True, text=True, timeout=30)
    check(r.returncode != 0, "started: " + r.stderr)
    check("event_log_path /nonexistent-dir/hc.log: No such file or directory" in r.stderr,
          r.stderr)


def test_always_log_success_is_not_logged_with_add_healthy():
    """always_log_health_check_success: Envoy's handleSuccess() logs successful_health_check_event
    only when the check did not change the host (changed_state != Changed); the check that adds
    the host logs add_healthy_event alone. One host, one check so far: one event."""
    import time
    from harness import run_path
    up = free_port()
    a = Server(whoami_handler, host="127.0.0.2", port=up)
    log = run_path("hc-success-%d.log" % up)
    hc = """
    - timeout: 0.5s
      interval: 2s
      no_traffic_interval: 2s
      unhealthy_threshold: 2
      healthy_threshold: 2
      always_log_health_check_success: true
      event_log_path: %s
      tcp_health_check: {}""" % log

    try:
        port, admin = free_port(), free_port()
        with Proxy(config(port, admin, cluster("c", ["127.0.0.2"], up, hc))) as p:
            wait_for(lambda: len(events(log)) >= 1, what="the first check's event")
            time.sleep(0.5)  # the next check is 2 s away
            check(p.stat("cluster.c.health_check.success") == 1, str(p.stats()))
            evs = events(log)
            check([k for e in evs for k in e if k.endswith("_event")] == ["add_healthy_event"],
                  "one passing check, events: %s" % evs)
    finally:
        a.close()


def test_event_log_on_a_pipe_never_holds_the_master():
    """event_log_path on a pipe whose reader has stopped reading (/dev/stdout under a stalled
    log collector): the master drops the events it cannot write, as docs/envoy-compat.md says,
    and keeps serving its stats socket, admin, checks and reloads."""
    import subprocess
    import time
    from harness import run_path
    up = free_port()
    a = Server(whoami_handler, host="127.0.0.2", port=up)
    b = Server(whoami_handler, host="127.0.0.3", port=up)
    fifo = run_path("hc-fifo-%d" % up)
    os.mkfifo(fifo)
    # A reader that never reads: the master's open() does not wait, its writes fill the pipe.
    r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    stop = threading.Event()

    def drain():
        while not stop.is_set():
            try:
                if not os.read(r, 1 << 16):
                    time.sleep(0.01)
            except BlockingIOError:
                time.sleep(0.01)
            except OSError:
                return

    hc = """
    - timeout: 0.5s
      interval: 0.01s
      no_traffic_interval: 0.01s
      unhealthy_threshold: 2
      healthy_threshold: 2
      always_log_health_check_success: true
      event_log_path: %s
      tcp_health_check: {}""" % fifo
    drainer = threading.Thread(target=drain, daemon=True)
    try:
        port, admin = free_port(), free_port()
        with Proxy(config(port, admin, cluster("c", ["127.0.0.2", "127.0.0.3"], up, hc))) as p:
            try:
                # 200 events a second of ~270 bytes: a 64 KiB pipe is full within 2 s.
                time.sleep(3)
                try:
                    res = p.statcli("--filter", r"^server\.live$", timeout=5)
                    answered = res.returncode == 0
                except subprocess.TimeoutExpired:
                    answered = False
                check(answered, "the master stopped answering its stats socket with the "
                      "event log's pipe full")
            finally:
                drainer.start()
    finally:
        stop.set()
        if drainer.is_alive():
            drainer.join(2)
        os.close(r)
        os.unlink(fifo)
        a.close()
        b.close()


def test_no_traffic_healthy_interval_is_not_used_for_a_failing_check():
    """Envoy's interval(): without traffic, no_traffic_healthy_interval follows a passing check
    that leaves the host healthy (state Healthy, not ChangePending); a failing check, even one
    that leaves the host healthy until unhealthy_threshold (Unhealthy, ChangePending), is
    followed by no_traffic_interval. A healthy host that stops answering is thus failed within
    about unhealthy_threshold x no_traffic_interval of its first failure."""
    import time
    up = free_port()
    a = Server(whoami_handler, host="127.0.0.2", port=up)
    hc = """
    - timeout: 0.5s
      interval: 0.1s
      no_traffic_interval: 0.2s
      no_traffic_healthy_interval: 4s
      unhealthy_threshold: 3
      healthy_threshold: 1
      tcp_health_check: {}"""
    try:
        port, admin = free_port(), free_port()
        with Proxy(config(port, admin, cluster("c", ["127.0.0.2"], up, hc))) as p:
            wait_for(lambda: p.stat("cluster.c.health_check.success") == 1,
                     what="the first check")
            stop_listening(a)
            t0 = time.monotonic()
            # The next check is at 4 s (healthy, no traffic) and fails; the two after it
            # follow at no_traffic_interval (0.2 s): three failures by about 4.5 s.
            wait_for(lambda: p.stat("cluster.c.health_check.failure") >= 3, timeout=8,
                     what="three failures at no_traffic_interval after the first")
            check(time.monotonic() - t0 < 7, "took %.1fs" % (time.monotonic() - t0))
            check(p.stat("cluster.c.membership_healthy") == 0, str(p.stats()))
    finally:
        a.close()


def test_event_log_names_a_timeout_network_timeout():
    """A check that times out: Envoy's onTimeoutBase() fails it as NETWORK_TIMEOUT (Envoy 1.25
    and later; still counted in network_failure), and its event logger prints that failure
    type. A host that accepts and never answers the check's payload."""
    from harness import run_path

    def silent(c):
        while c.recv(65536):
            pass

    up = free_port()
    a = Server(silent, host="127.0.0.2", port=up)
    log = run_path("hc-timeout-%d.log" % up)
    hc = """
    - timeout: 0.3s
      interval: 5s
      no_traffic_interval: 5s
      unhealthy_threshold: 1
      healthy_threshold: 1
      event_log_path: %s
      tcp_health_check: {send: {text: "00"}, receive: [{text: "01"}]}""" % log

    try:
        port, admin = free_port(), free_port()
        with Proxy(config(port, admin, cluster("c", ["127.0.0.2"], up, hc))) as p:
            # The host starts /failed_active_hc: its first failure is logged, no ejection.
            wait_for(lambda: len(events(log)) >= 1, what="the first check's event")
            check(p.stat("cluster.c.health_check.network_failure") == 1, str(p.stats()))
            evs = events(log)
            check(evs[0].get("health_check_failure_event") ==
                  {"failure_type": "NETWORK_TIMEOUT", "first_check": True}, str(evs))
    finally:
        a.close()
