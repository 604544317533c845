"""Running it in production (issue 17): the sd_notify protocol against a test NOTIFY_SOCKET,
--pid-file, Envoy's operational admin endpoints with their method rules (on the admin address
and the stats socket), and the live connection view across two workers, hostile snapshots
included."""
import json
import os
import re
import resource
import signal
import socket
import struct
import subprocess
import threading
import time

from harness import (BUILD, RUN_DIR, STAT, TCPPROXY, EchoServer, Proxy, as_user, bootstrap,
                     check, cluster_yaml, connect, echo_roundtrip, free_port, listener_yaml,
                     nobody, recv_all, run_path, user_binary, wait_for)

# AddressSanitizer keeps freed memory in quarantine: the master's RSS is no measure there.
SANITIZED = "san" in os.path.basename(BUILD)


def admin_config(port, upstream_ports, admin_port, extra=""):
    return ("admin:\n  address:\n    socket_address: {address: 127.0.0.1, port_value: %d}\n"
            % admin_port + extra + bootstrap([listener_yaml("l", port, "c", stat_prefix="ops")],
                                             [cluster_yaml("c", upstream_ports)]))


def http(port, method, target, timeout=10.0):
    """(status, headers, body) of one request to the admin address."""
    s = connect(port, timeout=timeout)
    try:
        s.sendall(("%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (method, target)).encode())
        data = recv_all(s)
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    return status, headers, body.decode()


class Notify:
    """A NOTIFY_SOCKET: a datagram socket bound to a path or an abstract name; every message
    it gets is kept, with the time it came."""

    def __init__(self, abstract=False, name_len=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "tp-notify-%d-%d" % (os.getpid(), time.monotonic_ns())
            if name_len:
                name = (name + "-" + "x" * name_len)[:name_len]
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            path = run_path("notify")
            self.sock.bind(path)
            self.env = path
        self.sock.settimeout(0.2)
        self.msgs = []
        self.lock = threading.Lock()
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.msgs.append((time.monotonic(), data.decode()))

    def events(self):
        """The READY/RELOADING/STOPPING messages, in order."""
        with self.lock:
            out = []
            for _, m in self.msgs:
                for k in ("READY=1", "RELOADING=1", "STOPPING=1"):
                    if k in m.split("\n"):
                        out.append(k.split("=")[0])
            return out

    def find(self, key):
        with self.lock:
            return [m for _, m in self.msgs if key in m]

    def close(self):
        self.stop = True
        self.t.join()
        self.sock.close()


def _notify_run(abstract):
    up = EchoServer()
    port = free_port()
    n = Notify(abstract=abstract)
    pid_file = run_path("tcpproxy.pid")
    cfg = bootstrap([listener_yaml("l", port, "c")], [cluster_yaml("c", [up.port])])
    try:
        with Proxy(cfg, extra_args=["--pid-file", pid_file],
                   env={"NOTIFY_SOCKET": n.env}) as p:
            wait_for(lambda: "READY" in n.events(), what="READY=1")
            # READY=1 came once both workers were ready: each logs before its ready byte.
            check(p.output().count("serving 1 listener") == 2, "READY=1 before the workers")
            ready = n.find("READY=1")[0]
            check(re.search(r"STATUS=generation 0, 2/2 workers, \d+ connections", ready),
                  "STATUS with READY: %r" % ready)
            check(open(pid_file).read() == "%d\n" % p.proc.pid, "the pid file")
            check(echo_roundtrip(port) == b"ping", "it serves")
            before = time.monotonic_ns() // 1000
            p.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: n.events().count("READY") == 2, what="READY=1 after the reload")
            rel = n.find("RELOADING=1")[0]
            usec = int(re.search(r"MONOTONIC_USEC=(\d+)", rel).group(1))
            check(before <= usec <= time.monotonic_ns() // 1000,
                  "MONOTONIC_USEC is CLOCK_MONOTONIC now: %d vs %d" % (usec, before))
            check("generation 1" in n.find("READY=1")[1], "STATUS after the reload: %r"
                  % n.find("READY=1")[1])
            # A reload that fails ends the reload job too: READY=1, with the reason.
            with open(p.config_path, "w") as f:
                f.write("static_resources: {listeners: 7}\n")
            p.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: n.events().count("READY") == 3, what="READY=1 after a failed one")
            check("reload failed" in n.find("READY=1")[2], "failed: %r" % n.find("READY=1")[2])
            check(p.stop() == 0, "exit 0")
            check(not os.path.exists(pid_file), "the pid file is removed at exit")
        check(n.events() == ["READY", "RELOADING", "READY", "RELOADING", "READY", "STOPPING"],
              "in order: %s" % n.events())
    finally:
        n.close()
        up.close()


def test_sd_notify_ready_reloading_stopping_in_order():
    _notify_run(abstract=False)


def test_pid_file_that_is_not_a_regular_file_is_refused_at_once():
    """--pid-file is opened O_NONBLOCK|O_NOFOLLOW and written only if it is a regular file: a
    FIFO there (with a reader or without) used to block the master's start in open(), and a
    device would have been written to."""
    up = EchoServer()
    port = free_port()
    cfg = bootstrap([listener_yaml("l", port, "c")], [cluster_yaml("c", [up.port])])
    cfg_path = run_path("pidfile.yaml")
    with open(cfg_path, "w") as f:
        f.write(cfg)
    try:
        for kind in ("fifo", "fifo with a reader", "symlink", "directory"):
            path = run_path("pid.%s" % kind.replace(" ", "_"))
            reader = None
            if kind.startswith("fifo"):
                os.mkfifo(path)
                if kind == "fifo with a reader":
                    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            elif kind == "symlink":
                os.symlink("/dev/null", path)
            else:
                os.mkdir(path)
            try:
                r = subprocess.run([TCPPROXY, "-c", cfg_path, "--concurrency", "1",
                                    "--pid-file", path, "--stats-socket",
                                    run_path("pidfile.sock")],
                                   capture_output=True, text=True, timeout=15)
                check(r.returncode == 1 and "--pid-file %s: not a regular file" % path
                      in r.stderr + r.stdout, "%s: exit %d: %s" % (kind, r.returncode,
                                                                   r.stderr + r.stdout))
                if reader is not None:
                    check(os.read(reader, 100) == b"", "%s: written to" % kind)
            finally:
                if reader is not None:
                    os.close(reader)
                if os.path.isdir(path) and not os.path.islink(path):
                    os.rmdir(path)
                else:
                    os.unlink(path)
    finally:
        up.close()


def test_sd_notify_to_an_abstract_socket():
    _notify_run(abstract=True)


def test_sd_notify_to_an_abstract_name_of_107_bytes():
    """sun_path holds 108 bytes: an abstract name takes all 107 after its leading NUL (it has
    no terminator), as systemd allows; the limit of a path (107 and its NUL) refused it."""
    up = EchoServer()
    port = free_port()
    n = Notify(abstract=True, name_len=107)
    try:
        check(len(n.env) == 108, n.env)
        with Proxy(bootstrap([listener_yaml("l", port, "c")], [cluster_yaml("c", [up.port])]),
                   env={"NOTIFY_SOCKET": n.env}) as p:
            wait_for(lambda: "READY" in n.events(), what="READY=1")
            check("NOTIFY_SOCKET" not in p.output(), p.output())
    finally:
        n.close()
        up.close()


def test_sd_notify_watchdog_pings_only_for_its_own_pid():
    up = EchoServer()
    try:
        cfg = bootstrap([listener_yaml("l", free_port(), "c")], [cluster_yaml("c", [up.port])])
        n = Notify()
        try:
            # WATCHDOG_PID unset: the watchdog is ours. 300 ms: a ping every 150 ms.
            with Proxy(cfg, env={"NOTIFY_SOCKET": n.env, "WATCHDOG_USEC": "300000"}):
                wait_for(lambda: len(n.find("WATCHDOG=1")) >= 4, what="watchdog pings")
        finally:
            n.close()
        n = Notify()
        try:
            with Proxy(cfg, env={"NOTIFY_SOCKET": n.env, "WATCHDOG_USEC": "300000",
                                 "WATCHDOG_PID": "1"}):
                wait_for(lambda: "READY" in n.events(), what="READY=1")
                time.sleep(0.5)
                check(not n.find("WATCHDOG=1"), "no ping for another pid's watchdog")
        finally:
            n.close()
    finally:
        up.close()


SECRET_NODE = """node:
  id: n1
  metadata:
    password: hunter2
    note: kept
    transport_socket:
      typed_config:
        common_tls_context:
          tls_certificates:
          - certificate_chain: {inline_string: "-----BEGIN CERTIFICATE-----"}
            private_key: {inline_string: "-----BEGIN PRIVATE KEY-----"}
            also: {filename: /etc/ssl/cert.pem}
          session_ticket_keys: {keys: [{inline_bytes: c2VjcmV0}]}
"""


class Setup:
    def __init__(self, extra_args=(), extra=""):
        self.up = EchoServer()
        self.port, self.admin = free_port(), free_port()
        self.p = Proxy(admin_config(self.port, [self.up.port], self.admin, extra=extra),
                       extra_args=list(extra_args))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.p.__exit__(*exc)
        finally:
            self.up.close()


def test_mutating_endpoints_take_post_only_and_the_others_get():
    with Setup() as s:
        for path in ("/drain_listeners", "/healthcheck/fail", "/healthcheck/ok",
                     "/reset_counters"):
            for method in ("GET", "HEAD", "PUT"):
                st, h, body = http(s.admin, method, path)
                check(st == 405 and h.get("allow") == "POST", "%s %s: %d %r" %
                      (method, path, st, h))
                if method == "GET":
                    check(body == "Method GET not allowed, POST required.\n", repr(body))
        for path in ("/config_dump", "/listeners", "/memory", "/server_info", "/connections"):
            st, h, _ = http(s.admin, "POST", path)
            check(st == 405 and h.get("allow") == "GET, HEAD", "POST %s: %d" % (path, st))
            check(http(s.admin, "GET", path)[0] == 200, "GET " + path)
        # Nothing was drained or failed by the refused requests.
        check(http(s.admin, "GET", "/ready")[0] == 200, "still LIVE")
        # The stats socket applies the same rules: tcpproxy-stat --get / --post.
        r = s.p.statcli("--get", "/healthcheck/fail")
        check(r.returncode == 1 and "405" in r.stderr, "GET over the socket: %r" % (r,))
        st, _, body = http(s.admin, "GET", "/")
        check(st == 200 and "/drain_listeners (POST)" in body and "/connections" in body, body)


def test_healthcheck_fail_and_ok_flip_ready_and_server_state():
    with Setup() as s:
        check(http(s.admin, "GET", "/ready") == (200, http(s.admin, "GET", "/ready")[1],
                                                 "LIVE\n"), "LIVE first")
        st, _, body = http(s.admin, "POST", "/healthcheck/fail")
        check(st == 200 and body == "OK\n", "fail: %d %r" % (st, body))
        st, _, body = http(s.admin, "GET", "/ready")
        check(st == 503 and body == "DRAINING\n", "ready after fail: %d %r" % (st, body))
        stats = s.p.stats()
        check(stats["server.state"] == 1 and stats["server.live"] == 0, "state 1, live 0")
        info = json.loads(http(s.admin, "GET", "/server_info")[2])
        check(info["state"] == "DRAINING" and info["health_check_failed"], info)
        # It still serves: a failed health check only tells load balancers to go away.
        check(echo_roundtrip(s.port) == b"ping", "still proxies")
        r = s.p.statcli("--post", "/healthcheck/ok")
        check(r.returncode == 0 and r.stdout == "OK\n", "ok over the socket: %r" % (r,))
        check(http(s.admin, "GET", "/ready")[0] == 200, "LIVE again")
        stats = s.p.stats()
        check(stats["server.state"] == 0 and stats["server.live"] == 1, "state 0, live 1")


def test_reset_counters_zeroes_counters_and_they_count_on():
    with Setup() as s:
        for _ in range(3):
            check(echo_roundtrip(s.port, b"x" * 100) == b"x" * 100, "round trip")
        s.p.wait_stat("tcp.ops.downstream_cx_total", 3)
        wait_for(lambda: s.p.stat("tcp.ops.downstream_cx_rx_bytes_total") == 300, what="rx")
        hist = s.p.statcli("--filter", "downstream_cx_length_ms").stdout
        st, _, body = http(s.admin, "POST", "/reset_counters")
        check(st == 200 and body == "OK\n", "reset: %d %r" % (st, body))
        text = s.p.statcli("--format", "json").stdout
        stats = {e["name"]: e.get("value") for e in json.loads(text)["stats"] if "name" in e}
        for name in ("tcp.ops.downstream_cx_total", "tcp.ops.downstream_cx_rx_bytes_total",
                     "cluster.c.upstream_cx_total", "listener.127.0.0.1_%d.downstream_cx_total"
                     % s.port):
            check(stats[name] == 0, "%s reads %s after the reset" % (name, stats[name]))
        check(stats["server.concurrency"] == 2, "gauges stay")
        check(s.p.statcli("--filter", "downstream_cx_length_ms").stdout == hist,
              "histograms stay, as in Envoy")
        # The segment itself reads zero (tp-statdump sums the blocks), and counts on exactly.
        check(s.p.stat("tcp.ops.downstream_cx_total") == 0, "segment sum")
        check(echo_roundtrip(s.port, b"y" * 7) == b"y" * 7, "round trip")
        s.p.wait_stat("tcp.ops.downstream_cx_total", 1)
        wait_for(lambda: s.p.stat("tcp.ops.downstream_cx_rx_bytes_total") == 7, what="7 bytes")
        # A worker killed now keeps its counters in the totals, from the reset on.
        os.kill(s.p.worker_pids()[0], signal.SIGKILL)
        wait_for(lambda: s.p.stat("server.worker_restarts") == 1, what="restart")
        check(s.p.stat("tcp.ops.downstream_cx_total") == 1, "after a worker's death")


def test_listeners_memory_server_info():
    with Setup(extra_args=["--drain-time-s", "42"]) as s:
        st, _, body = http(s.admin, "GET", "/listeners")
        check(st == 200 and body == "l::127.0.0.1:%d\n" % s.port, repr(body))
        j = json.loads(http(s.admin, "GET", "/listeners?format=json")[2])
        check(j == {"listener_statuses": [{"name": "l", "local_address": {"socket_address": {
            "address": "127.0.0.1", "port_value": s.port}}}]}, j)
        check(http(s.admin, "GET", "/listeners?format=yaml")[0] == 400, "bad format")
        m = json.loads(http(s.admin, "GET", "/memory")[2])
        for k in ("allocated", "heap_size", "pageheap_unmapped", "pageheap_free",
                  "total_thread_cache", "total_physical_bytes"):
            check(isinstance(m[k], str) and m[k].isdigit(), "%s: %r" % (k, m))
        roles = sorted(p["role"] for p in m["processes"])
        check(roles == ["master", "worker", "worker"], roles)
        check(int(m["total_physical_bytes"]) == sum(int(p["rss_bytes"]) for p in m["processes"]),
              "total is the sum")
        info = json.loads(http(s.admin, "GET", "/server_info")[2])
        for k in ("version", "state", "uptime_current_epoch", "uptime_all_epochs",
                  "hot_restart_version", "command_line_options"):
            check(k in info, "server_info lacks %s: %s" % (k, info))
        clo = info["command_line_options"]
        check(clo["concurrency"] == 2 and clo["drain_time"] == "42s" and
              clo["base_id"] == str(s.p.base_id) and clo["mode"] == "Serve", clo)
        check(re.fullmatch(r"\d+s", info["uptime_all_epochs"]), info)


def test_config_dump_redacts_secrets_and_takes_resource_and_mask():
    with Setup(extra=SECRET_NODE) as s:
        st, h, body = http(s.admin, "GET", "/config_dump")
        check(st == 200 and h["content-type"] == "application/json", "%d %r" % (st, h))
        for secret in ("hunter2", "BEGIN CERTIFICATE", "BEGIN PRIVATE KEY", "c2VjcmV0"):
            check(secret not in body, "%r leaked:\n%s" % (secret, body))
        d = json.loads(body)
        types = [c["@type"].rsplit("/", 1)[1] for c in d["configs"]]
        check(types == ["envoy.admin.v3.BootstrapConfigDump", "envoy.admin.v3.ClustersConfigDump",
                        "envoy.admin.v3.ListenersConfigDump"], types)
        boot = d["configs"][0]["bootstrap"]
        md = boot["node"]["metadata"]
        check(md["password"] == "[redacted]" and md["note"] == "kept", md)
        tls = md["transport_socket"]["typed_config"]["common_tls_context"]
        cert = tls["tls_certificates"][0]
        check(cert["certificate_chain"]["inline_string"] == "[redacted]" and
              cert["private_key"] == "[redacted]" and
              cert["also"] == {"filename": "/etc/ssl/cert.pem"} and
              tls["session_ticket_keys"] == "[redacted]", tls)
        check(boot["admin"]["address"]["socket_address"]["port_value"] == s.admin,
              "numbers stay numbers")
        cl = d["configs"][1]["static_clusters"][0]
        check(cl["cluster"]["name"] == "c" and "last_updated" in cl, cl)
        ls = d["configs"][2]["static_listeners"][0]["listener"]
        check(ls["name"] == "l", ls)
        # ?resource=: one entry per listener, typed as Envoy types it.
        r = json.loads(http(s.admin, "GET", "/config_dump?resource=static_listeners")[2])
        check(len(r["configs"]) == 1 and r["configs"][0]["@type"].endswith(
            "ListenersConfigDump.StaticListener") and r["configs"][0]["listener"]["name"] == "l",
            r)
        # ?mask=: only the fields named.
        r = json.loads(http(s.admin, "GET",
                            "/config_dump?resource=static_clusters&mask=cluster.name")[2])
        check(r["configs"][0] == {"@type": r["configs"][0]["@type"], "cluster": {"name": "c"}},
              r)
        r = json.loads(http(s.admin, "GET", "/config_dump?mask=bootstrap.node.id")[2])
        check(r["configs"][0]["bootstrap"] == {"node": {"id": "n1"}}, r)
        check(http(s.admin, "GET", "/config_dump?resource=secrets")[0] == 400, "bad resource")


def test_drain_listeners_stops_accepting_keeps_connections_and_the_master():
    with Setup(extra_args=["--drain-time-s", "30"]) as s:
        held = connect(s.port)
        held.sendall(b"before")
        check(held.recv(100) == b"before", "echo")
        s.p.wait_stat("tcp.ops.downstream_cx_total", 1)
        r = s.p.statcli("--post", "/drain_listeners?inboundonly")
        check(r.returncode == 0 and r.stdout == "OK\n", "drain over the socket: %r" % (r,))
        # Stops accepting: the listening sockets are closed once no generation accepts.
        wait_for(lambda: connect_refused(s.port), what="the listener to close")
        st, _, body = http(s.admin, "GET", "/ready")
        check(st == 503 and body == "DRAINING\n", "ready: %d %r" % (st, body))
        # The open connection still flows: it drains as on SIGTERM.
        held.sendall(b"after")
        check(held.recv(100) == b"after", "the held connection flows")
        # A reload would accept again: refused.
        s.p.proc.send_signal(signal.SIGHUP)
        s.p.master_barrier()
        wait_for(lambda: s.p.stat("server.reload_failed") == 1, what="the reload refused")
        check("listeners were drained" in s.p.output(), "logged")
        held.close()
        # The workers leave once drained; the master stays, and answers.
        wait_for(lambda: not s.p.worker_pids(), what="the drained workers to exit")
        check(s.p.proc.poll() is None, "the master is still up")
        check(http(s.admin, "GET", "/server_info")[0] == 200, "admin answers")
        check(s.p.stop() == 0, "SIGTERM then exits 0")


def test_drain_listeners_graceful_accepts_through_the_drain_time():
    with Setup(extra_args=["--drain-time-s", "2"]) as s:
        t0 = time.monotonic()
        check(http(s.admin, "POST", "/drain_listeners?graceful")[0] == 200, "graceful")
        check(http(s.admin, "GET", "/ready")[0] == 503, "not ready at once")
        check(echo_roundtrip(s.port) == b"ping", "still accepting while graceful")
        wait_for(lambda: connect_refused(s.port), timeout=10, what="the listener to close")
        check(time.monotonic() - t0 >= 1.9, "closed after the drain time, not before")


def connect_refused(port):
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=2)
    except ConnectionRefusedError:
        return True
    c.close()
    return False


def _open_sessions(port, n):
    """n connections, connection i having echoed (i+1)*10 bytes each way; returns them."""
    held = []
    for i in range(n):
        c = connect(port)
        c.sendall(b"z" * ((i + 1) * 10))
        got = b""
        while len(got) < (i + 1) * 10:
            got += c.recv(4096)
        held.append(c)
    return held


def _by_port(text):
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        kv = dict(f.split("=", 1) for f in line.split())
        out[int(kv["downstream"].rsplit(":", 1)[1])] = kv
    return out


def test_connections_lists_exactly_the_sessions_held_across_two_workers():
    with Setup() as s:
        held = []
        try:
            # SO_REUSEPORT spreads connections by hash: open until both workers have some.
            for _ in range(10):
                held += _open_sessions(s.port, 4)
                r = s.p.statcli("--connections")
                workers = {kv["worker"] for kv in _by_port(r.stdout).values()}
                if len(workers) == 2:
                    break
            check(len(workers) == 2, "sessions on both workers: %s" % workers)
            r = s.p.statcli("--connections")
            check(r.returncode == 0, r.stderr)
            view = _by_port(r.stdout)
            mine = {c.getsockname()[1]: (i % 4 + 1) * 10 for i, c in enumerate(held)}
            check(set(view) == set(mine), "exactly the sessions held: %s vs %s" %
                  (sorted(view), sorted(mine)))
            pids = set(map(str, s.p.worker_pids()))
            for port, kv in view.items():
                n = mine[port]
                check(kv["rx_bytes"] == str(n) and kv["tx_bytes"] == str(n),
                      "bytes of %d: %s" % (port, kv))
                check(kv["listener"] == "l" and kv["cluster"] == "c" and
                      kv["host"] == "127.0.0.1:%d" % s.up.port and
                      kv["local"] == "127.0.0.1:%d" % s.port and kv["phase"] == "relay" and
                      kv["generation"] == "serving" and kv["pid"] in pids and
                      kv["buffered_up"] == "0" and kv["buffered_down"] == "0", kv)
                check(re.fullmatch(r"127\.0\.0\.1:\d+", kv["upstream_local"]), kv)
            # json, the same sessions; sorted by bytes, largest first.
            j = json.loads(s.p.statcli("--connections", "--format", "json", "--sort",
                                       "bytes").stdout)
            check(len(j["connections"]) == len(held) and j["total"] == len(held), j)
            sizes = [c["rx_bytes"] + c["tx_bytes"] for c in j["connections"]]
            check(sizes == sorted(sizes, reverse=True), "sorted by bytes: %s" % sizes)
            check(all(w["answered"] for w in j["workers"]) and len(j["workers"]) == 2, j)
            # --filter on any field: these bytes, this worker.
            r = s.p.statcli("--connections", "--filter", r"rx_bytes=40\b")
            check(set(_by_port(r.stdout)) == {p for p, n in mine.items() if n == 40}, r.stdout)
            w = sorted(workers)[0]
            r = s.p.statcli("--connections", "--filter", "worker=%s " % re.escape(w))
            check({kv["worker"] for kv in _by_port(r.stdout).values()} == {w}, r.stdout)
            # The admin endpoint serves the same view; ages are oldest first.
            st, _, body = http(s.admin, "GET", "/connections?limit=3")
            check(st == 200 and len(_by_port(body)) == 3, body)
            ages = [int(kv["age_ms"]) for kv in
                    (dict(f.split("=", 1) for f in l.split()) for l in body.splitlines())]
            check(ages == sorted(ages, reverse=True), "oldest first: %s" % ages)
            # HEAD answers as GET does, the same head (Content-Length of the body it would
            # send), without the body; a bad query too.
            st, h, body = http(s.admin, "HEAD", "/connections?format=json")
            check(st == 200 and body == "" and h["content-type"] == "application/json" and
                  int(h["content-length"]) > 100, "HEAD: %d %r %r" % (st, h, body))
            st, h, body = http(s.admin, "HEAD", "/connections?sort=size")
            check(st == 400 and body == "" and int(h["content-length"]) > 0,
                  "HEAD, bad query: %d %r %r" % (st, h, body))
            # After a reload they belong to a draining generation, and say so.
            s.p.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "reload: generation 1 serving" in s.p.output(), what="reload")
            view = _by_port(s.p.statcli("--connections").stdout)
            check(set(view) == set(mine) and
                  all(kv["generation"] == "draining" and kv["worker"].startswith("0/")
                      for kv in view.values()), view)
            # One more byte each way on one of them shows at once.
            c = held[0]
            c.sendall(b"+")
            check(c.recv(10) == b"+", "echo")
            kv = _by_port(s.p.statcli("--connections").stdout)[c.getsockname()[1]]
            check(kv["rx_bytes"] == "11" and kv["tx_bytes"] == "11", kv)
        finally:
            for c in held:
                c.close()
        wait_for(lambda: _by_port(s.p.statcli("--connections").stdout) == {},
                 what="no session left")


def _memfd_of(pid):
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if "tcpproxy-connview" in os.readlink("/proc/%d/fd/%s" % (pid, fd)):
                return "/proc/%d/fd/%s" % (pid, fd)
        except OSError:
            pass
    raise AssertionError("no connview memfd in worker %d" % pid)


HDR = struct.Struct("<IIQQIIII")


def test_connections_view_survives_hostile_snapshots():
    """A worker is untrusted: stop one, and while the master waits for it, write into its memfd
    what a compromised worker could: huge counts, short files, bad indexes and phases."""
    if os.getuid() != 0:
        from harness import Skip
        raise Skip("needs root to open a worker's memfd through /proc")
    rec_size = 128  # struct tp_connview_rec: 124 bytes of fields, padded to 8
    with Setup() as s:
        held = _open_sessions(s.port, 2)
        try:
            victim = s.p.worker_pids()[0]
            memfd = _memfd_of(victim)
            cases = [
                ("huge count", lambda seq: HDR.pack(0x56435054, 1, seq, seq, rec_size,
                                                    0xffffffff, 0, 0)),
                ("count past the file", lambda seq: HDR.pack(0x56435054, 1, seq, seq,
                                                             rec_size, 1000, 0, 0)),
                ("wrong record size", lambda seq: HDR.pack(0x56435054, 1, seq, seq, 7, 1, 0, 0)),
                ("bad indexes", lambda seq: HDR.pack(0x56435054, 1, seq, seq, rec_size, 2, 0, 0)
                 + (struct.pack("<QQQQQIIIII", 1, 2, 3, 4, 5, 6, 7, 0x7fffffff, 99, 5)
                    + bytes([200, 0, 0, 0]) + bytes([99]) + b"\xff" * 19 + b"\0" * 44) * 2),
                # More than its descriptors can hold, in a sparse file: listed up to its hard
                # RLIMIT_NOFILE (which the master knows), the rest counted as cut.
                ("more than it can hold", lambda seq: HDR.pack(0x56435054, 1, seq, seq,
                                                               rec_size, over, 3, 0)),
            ]
            over = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 1 << 17) + 1000
            os.kill(victim, signal.SIGSTOP)
            try:
                for name, make in cases:
                    out = {}

                    def ask():
                        out["r"] = http(s.admin, "GET", "/connections?format=json")
                    t = threading.Thread(target=ask)
                    t.start()
                    # The master writes the request's number, then waits for the worker.
                    with open(memfd, "rb") as f:
                        wait_for(lambda: len(f.read()) >= 16 or f.seek(0), what="the request")
                    with open(memfd, "r+b") as f:
                        seq = struct.unpack("<Q", f.read(16)[8:16])[0]
                        f.seek(0)
                        f.truncate()
                        if name == "more than it can hold":
                            f.truncate(HDR.size + over * rec_size)
                        f.write(make(seq))
                    t.join(15)
                    st, _, body = out["r"]
                    check(st == 200, "%s: %d" % (name, st))
                    j = json.loads(body)
                    mine = [w for w in j["workers"] if w["pid"] == victim][0]
                    if name == "more than it can hold":
                        limit = over - 1000
                        mine_c = [c for c in j["connections"] if c["pid"] == victim]
                        check(mine["answered"] and mine["connections"] == limit
                              and mine["truncated"] == 1003 and len(mine_c) == limit,
                              "%s: %s, %d listed" % (name, mine, len(mine_c)))
                    elif name == "bad indexes":
                        bad = [c for c in j["connections"] if c["pid"] == victim]
                        check(len(bad) == 2 and all(c["listener"] == "" and c["cluster"] == ""
                                                    and c["phase"] == "?" and
                                                    c["downstream"] == "" for c in bad), bad)
                    else:
                        check(not mine["answered"] and mine["problem"], "%s: %s" % (name, mine))
                    check(s.p.proc.poll() is None, "the master survives %s" % name)
            finally:
                os.kill(victim, signal.SIGCONT)
            # And once the worker answers again, the view is whole.
            view = _by_port(s.p.statcli("--connections").stdout)
            check(set(view) == {c.getsockname()[1] for c in held}, view)
        finally:
            for c in held:
                c.close()


def _rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_one_worker_cannot_make_the_root_master_hold_hundreds_of_mb_of_connection_view():
    """A worker's snapshot may claim up to TP_CONNVIEW_MAX (2^18) sessions, whatever the worker
    could really hold (it has --concurrency's share of a 20,000-descriptor limit, two per
    session): a count within the cap and a sparse memfd that large pass every check. The master
    then builds 2^18 entries of 360 bytes (94 MB) and renders them for every client that
    asked, each client keeping its own copy of the 70 MB JSON answer until it has read it (up
    to 10 s). Eight /connections clients that do not read, and one compromised worker, grew the
    root master by 355 MB; every further client or hostile worker adds more. The cap should be
    what a worker can hold (or the answer streamed, or bounded), not 2^18 per worker times
    every waiting client. (Review 6753505.)

    The master now lists no more of a worker than its descriptor limit lets it hold (here
    20,000 sessions, 5 MB of JSON), and answers not yet read by their clients share a budget
    (64 MB) past which a large answer is 503: so 24 clients that do not read, three times the
    review's 8, stay within the bound too, and the clients past the budget are told so."""
    if os.getuid() != 0:
        from harness import Skip
        raise Skip("needs root to open a worker's memfd through /proc")
    n, rec_size, clients = 1 << 18, 128, 24
    with Setup() as s:
        victim = s.p.worker_pids()[0]
        memfd = _memfd_of(victim)
        before = _rss_kb(s.p.proc.pid)
        os.kill(victim, signal.SIGSTOP)
        held = []
        try:
            for _ in range(clients):
                c = socket.socket()
                c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                c.connect(("127.0.0.1", s.admin))
                c.sendall(b"GET /connections?format=json HTTP/1.1\r\nHost: x\r\n\r\n")
                held.append(c)
            # Every round the master starts (one per batch of waiting clients) gets the same
            # answer from the stopped worker: the round's number, then the claim.
            peak, answered, t0 = before, set(), time.monotonic()
            while time.monotonic() - t0 < 8:
                with open(memfd, "r+b") as f:
                    head = f.read(HDR.size)
                    if len(head) >= 16:
                        seq = struct.unpack("<Q", head[8:16])[0]
                        if seq not in answered:
                            answered.add(seq)
                            f.seek(0)
                            f.truncate(HDR.size + n * rec_size)  # sparse: costs the worker
                            f.write(HDR.pack(0x56435054, 1, seq, seq, rec_size, n, 0, 0))
                peak = max(peak, _rss_kb(s.p.proc.pid))
                time.sleep(0.02)
            # Each client had its answer: the whole view (the claim cut to the limit) or, past
            # the budget, a 503 that says why.
            statuses = []
            for c in held:
                c.settimeout(10)
                head = b""
                while b"\r\n" not in head:
                    more = c.recv(4096)
                    if not more:
                        break
                    head += more
                statuses.append(head.split(b" ", 2)[1] if head.count(b" ") >= 2 else head)
            check(set(statuses) <= {b"200", b"503"} and b"200" in statuses
                  and b"503" in statuses, "statuses: %r" % statuses)
        finally:
            os.kill(victim, signal.SIGCONT)
            for c in held:
                c.close()
        grown_mb = (peak - before) / 1024
        check(s.p.proc.poll() is None, "the master is alive")
        # Not under AddressSanitizer: freed memory stays resident in its quarantine (up to
        # 256 MB), so RSS says nothing there; the statuses above still show the budget.
        check(grown_mb < 128 or SANITIZED,
              "one worker's claim of %d sessions and %d waiting clients grew the root master "
              "by %.0f MB" % (n, clients, grown_mb))


def _http(port, method, target):
    status, _, body = http(port, method, target)
    return status, body


def test_workers_user_cannot_drive_the_root_master_through_the_stats_socket():
    """With --user, the root master chowns its stats socket to the workers' account (so that
    tcpproxy-stat may run as it) and the socket now serves the mutating admin routes too: any
    process of that account -- a compromised worker, or anything else running as 'nobody' --
    can POST /drain_listeners (every listener closed, reloads refused until a restart),
    /healthcheck/fail (taken out of the load balancer) and /reset_counters (counters go back)
    on the root master. Before issue 17 the socket only read stats, so the chown was harmless.
    The master now reads the peer's uid (SO_PEERCRED) at accept and answers those routes 403
    unless it is root or the master's own; the workers' user still reads stats."""
    user = nobody()
    up = EchoServer()
    port, admin = free_port(), free_port()
    cfg = ("admin:\n  address:\n    socket_address: {address: 127.0.0.1, port_value: %d}\n"
           % admin + bootstrap([listener_yaml("l", port, "c", stat_prefix="rv")],
                               [cluster_yaml("c", [up.port])]))
    try:
        with Proxy(cfg, extra_args=("--user", "nobody")) as p:
            check(echo_roundtrip(port) == b"ping", "serving")
            st = os.stat(p.stats_socket)
            check(st.st_uid == user.pw_uid, "the socket is handed to the workers' user")
            stat_bin = user_binary(STAT)
            obeyed = []
            for path in ("/healthcheck/fail", "/reset_counters", "/drain_listeners"):
                r = subprocess.run([stat_bin, "-s", p.stats_socket, "--post", path],
                                   capture_output=True, text=True, timeout=30,
                                   preexec_fn=as_user(user), cwd=RUN_DIR)
                if r.returncode == 0:
                    obeyed.append(path)
                check("403" in r.stderr + r.stdout and "only root" in r.stderr + r.stdout,
                      "POST %s as %s: %r" % (path, user.pw_name, r))
            st_ready, body = _http(admin, "GET", "/ready")
            p.master_barrier()
            accepting = True
            try:
                accepting = echo_roundtrip(port) == b"ping"
            except OSError:
                accepting = False
            check(not obeyed and st_ready == 200 and accepting,
                  "the root master obeyed the workers' user (uid %d) on its stats socket: %s; "
                  "/ready now %d %r; listener still accepting: %s"
                  % (user.pw_uid, ", ".join("POST " + o for o in obeyed), st_ready, body,
                     accepting))
            r = subprocess.run([stat_bin, "-s", p.stats_socket, "--filter",
                                "rv.downstream_cx_total"], capture_output=True, text=True,
                               timeout=30, preexec_fn=as_user(user), cwd=RUN_DIR)
            check(r.returncode == 0 and "tcp.rv.downstream_cx_total: " in r.stdout,
                  "the workers' user reads stats: %r" % (r,))
            # Root (the master's own uid here) still may.
            r = subprocess.run([STAT, "-s", p.stats_socket, "--post", "/healthcheck/fail"],
                               capture_output=True, text=True, timeout=30)
            check(r.returncode == 0 and _http(admin, "GET", "/ready")[0] == 503,
                  "root's POST: %r" % (r,))
    finally:
        up.close()
