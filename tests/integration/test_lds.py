"""Listeners that change without a reload: dynamic_resources.lds_config (issue 16, LDS)."""
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

from harness import (TCPPROXY, EchoServer, LoadEcho, Proxy, _alive, bootstrap, check, cluster_yaml,
                     connect, echo_roundtrip, free_port, listener_yaml, load_client, load_result,
                     recv_all, run_subdir, wait_for)

LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
TCP_PROXY_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"


def lds_listener(name, port, cluster, stat_prefix=None):
    return {
        "@type": LISTENER_TYPE,
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.tcp_proxy",
            "typed_config": {"@type": TCP_PROXY_TYPE, "stat_prefix": stat_prefix or name,
                             "cluster": cluster}}]}],
    }


class LdsFile:
    """The LDS file, replaced by an atomic rename (or, with watched=True, a Kubernetes
    ConfigMap's ..data symlink swap in a watched directory)."""

    def __init__(self, watched=False):
        self.dir = run_subdir("lds.")
        self.watched = watched
        self.n = 0
        if watched:
            self.path = os.path.join(self.dir, "lds.json")
            os.symlink("..data/lds.json", self.path)
        else:
            self.path = os.path.join(self.dir, "lds.json")

    def source_yaml(self):
        if self.watched:
            return ("  lds_config:\n    path_config_source:\n      path: %s\n"
                    "      watched_directory: {path: %s}\n" % (self.path, self.dir))
        return "  lds_config:\n    path_config_source: {path: %s}\n" % self.path

    def write_text(self, text):
        self.n += 1
        if self.watched:
            d = os.path.join(self.dir, "..v%d" % self.n)
            os.mkdir(d)
            with open(os.path.join(d, "lds.json"), "w") as f:
                f.write(text)
            tmp = os.path.join(self.dir, "..data_tmp")
            os.symlink(os.path.basename(d), tmp)
            os.rename(tmp, os.path.join(self.dir, "..data"))
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.path)

    def write(self, version, listeners):
        self.write_text(json.dumps({"version_info": version, "resources": listeners},
                                   indent=1))


def config(lds, listeners, clusters, admin_port=None):
    admin = ""
    if admin_port:
        admin = ("admin:\n  address:\n    socket_address: {address: 127.0.0.1, port_value: %d}\n"
                 % admin_port)
    return admin + bootstrap(listeners, clusters) + "dynamic_resources:\n" + lds.source_yaml()


def admin_get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        return r.read().decode()


def lm(p, name):
    return p.stat("listener_manager." + name)


def wait_version(p, n_success, n_rejected=None):
    wait_for(lambda: lm(p, "lds.update_success") >= n_success, 10,
             what="LDS update %d applied (success %d rejected %d)" % (
                 n_success, lm(p, "lds.update_success"), lm(p, "lds.update_rejected")))
    if n_rejected is not None:
        check(lm(p, "lds.update_rejected") == n_rejected,
              "update_rejected %d, want %d" % (lm(p, "lds.update_rejected"), n_rejected))


def wait_serving(port, payload=b"hello"):
    def ok():
        try:
            return echo_roundtrip(port, payload) == payload
        except OSError:
            return False
    wait_for(ok, 10, what="a round trip through port %d" % port)


def refused(port):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"x")
        s.shutdown(socket.SHUT_WR)
        return s.recv(10) == b""
    except OSError:
        return True
    finally:
        s.close()


def test_added_listener_serves_and_is_counted():
    lds = LdsFile()
    sport, dport, aport = free_port(), free_port(), free_port()
    with EchoServer() as up:
        lds.write("v1", [lds_listener("dyn", dport, "c")])
        cfg = config(lds, [listener_yaml("static", sport, "c")], [cluster_yaml("c", [up.port])],
                     admin_port=aport)
        with Proxy(cfg) as p:
            wait_version(p, 1, 0)
            check(admin_get(aport, "/listeners") ==
                  "static::127.0.0.1:%d\ndyn::127.0.0.1:%d\n" % (sport, dport), "/listeners")
            js = json.loads(admin_get(aport, "/listeners?format=json"))
            check([x["name"] for x in js["listener_statuses"]] == ["static", "dyn"],
                  "/listeners json")
            dump = json.loads(admin_get(aport, "/config_dump"))
            ld = [c for c in dump["configs"] if c["@type"].endswith("ListenersConfigDump")][0]
            check(ld["version_info"] == "v1", "version in /config_dump")
            dl = ld["dynamic_listeners"]
            check(len(dl) == 1 and dl[0]["name"] == "dyn" and
                  dl[0]["active_state"]["version_info"] == "v1" and
                  dl[0]["active_state"]["listener"]["address"]["socket_address"]["port_value"]
                  == dport, "dynamic listener in /config_dump: %r" % dl)
            payload = os.urandom(100000)
            check(echo_roundtrip(dport, payload) == payload, "dynamic listener round trip")
            check(echo_roundtrip(sport, b"s") == b"s", "static listener round trip")
            check(lm(p, "listener_added") == 1, "listener_added")
            check(lm(p, "listener_create_success") == 2, "one per worker")
            check(lm(p, "total_listeners_active") == 2, "static + dynamic")
            check(lm(p, "lds.update_attempt") == 1, "attempt")
            check(p.stat("tcp.dyn.downstream_cx_total") == 1, "tcp.dyn counted")
            check(p.stat("listener.127.0.0.1_%d.downstream_cx_total" % dport) == 1,
                  "listener scope counted")
            check(re.search(r'version "v1" applied', p.output()), "version logged")
            # The connection view names the listener a session came in by.
            live = connect(dport)
            exchange(live, b"view")
            r = p.statcli("--connections")
            check(r.returncode == 0 and re.search(r"\blistener=dyn\b", r.stdout), r.stdout)
            finish(live)


def exchange(s, payload):
    """One echo exchange on an open connection, every byte checked."""
    s.sendall(payload)
    got = b""
    while len(got) < len(payload):
        b = s.recv(len(payload) - len(got))
        check(b, "connection closed mid-exchange")
        got += b
    check(got == payload, "echoed bytes differ")


def finish(s, payload=b"bye"):
    """Half-closes after a last exchange and reads to EOF: the connection ran to completion."""
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    check(recv_all(s) == payload, "the last bytes came back")
    s.close()


def test_removed_listener_stops_accepting_and_drains_its_connections():
    lds = LdsFile()
    sport, dport = free_port(), free_port()
    with EchoServer() as up:
        lds.write("v1", [lds_listener("dyn", dport, "c")])
        cfg = config(lds, [listener_yaml("static", sport, "c")], [cluster_yaml("c", [up.port])])
        with Proxy(cfg) as p:
            wait_version(p, 1)
            live = connect(dport)
            exchange(live, os.urandom(50000))
            lds.write("v2", [])
            wait_version(p, 2, 0)
            wait_for(lambda: refused(dport), 10, what="the removed listener to refuse")
            # The live connection keeps flowing, both ways, to its end.
            for _ in range(5):
                exchange(live, os.urandom(20000))
            finish(live)
            check(lm(p, "listener_removed") == 1, "listener_removed")
            check(lm(p, "total_listeners_active") == 1, "only the static one is active")
            check(lm(p, "total_listeners_draining") == 1, "draining for the drain time")
            check(echo_roundtrip(sport, b"s") == b"s", "the static listener serves on")
            # Added back: the same address binds again.
            lds.write("v3", [lds_listener("dyn", dport, "c")])
            wait_version(p, 3, 0)
            wait_serving(dport)
            check(lm(p, "listener_added") == 2, "added twice")


def test_changed_listener_routes_new_connections_anew_and_keeps_old_ones():
    lds = LdsFile()
    sport, dport = free_port(), free_port()
    with EchoServer() as up1, EchoServer() as up2:
        lds.write("v1", [lds_listener("dyn", dport, "one")])
        cfg = config(lds, [listener_yaml("static", sport, "one")],
                     [cluster_yaml("one", [up1.port]), cluster_yaml("two", [up2.port])])
        with Proxy(cfg) as p:
            wait_version(p, 1)
            old = connect(dport)
            exchange(old, b"first")
            check(up1.accepted == 1 and up2.accepted == 0, "routed to one")
            lds.write("v2", [lds_listener("dyn", dport, "two")])
            wait_version(p, 2, 0)
            # New connections take the new route; none is refused on the way.
            for i in range(20):
                check(echo_roundtrip(dport, b"n%d" % i) == b"n%d" % i, "new route round trip")
            wait_for(lambda: up2.accepted >= 1, 5, what="a connection routed to two")
            # Give the old listener's last accepts time to be seen: every later one is two's.
            before = up1.accepted
            for i in range(20):
                echo_roundtrip(dport, b"m")
            check(up1.accepted == before, "no new connection routed to one after the change")
            exchange(old, os.urandom(30000))
            finish(old)
            check(lm(p, "listener_modified") == 1, "listener_modified")
            check(lm(p, "listener_added") == 1 and lm(p, "listener_removed") == 0,
                  "a change is neither an add nor a remove")
            check(lm(p, "listener_create_success") == 4, "two versions on two workers")
            # The same text again: nothing changes.
            lds.write("v3", [lds_listener("dyn", dport, "two")])
            wait_version(p, 3, 0)
            check(lm(p, "listener_modified") == 1 and lm(p, "listener_create_success") == 4,
                  "an unchanged listener is left alone")


def test_malformed_update_is_rejected_with_its_position_and_the_old_set_serves():
    lds = LdsFile()
    sport, dport = free_port(), free_port()
    with EchoServer() as up:
        lds.write("v1", [lds_listener("dyn", dport, "c")])
        cfg = config(lds, [listener_yaml("static", sport, "c")], [cluster_yaml("c", [up.port])])
        with Proxy(cfg) as p:
            wait_version(p, 1)
            other = lds_listener("other", free_port(), "c")
            other["filter_chains"][0]["filters"][0]["typed_config"]["idle_timeout"] = "soon"
            other["per_connection_buffer_limit_bytes"] = -1
            lds.write("v2", [lds_listener("dyn", dport, "c"), other])
            wait_for(lambda: lm(p, "lds.update_rejected") == 1, 10, what="rejected")
            text = open(lds.path).read().splitlines()
            out = p.output()
            # Every error, each with its position in the file.
            for key, path in (('"soon"', "resources[1].filter_chains[0].filters[0]."
                                         "typed_config.idle_timeout"),
                              ("-1", "resources[1].per_connection_buffer_limit_bytes")):
                line = next(i for i, t in enumerate(text) if key in t) + 1
                col = text[line - 1].index(key) + 1
                want = "%s:%d:%d: %s: " % (lds.path, line, col, path)
                check(want in out, "position of the error logged: %s\n%s" % (want, out[-2000:]))
            wait_serving(dport)
            check(lm(p, "lds.update_success") == 1, "nothing applied")
            check(lm(p, "lds.update_attempt") == 2, "two attempts")
            check(lm(p, "listener_added") == 1, "the bad one was not added")
            # Not YAML at all, a duplicate name, a static listener's address: rejected too.
            lds.write_text("{version_info: v3, resources: [")
            wait_for(lambda: lm(p, "lds.update_failure") == 1, 10, what="not YAML: failure")
            lds.write("v4", [lds_listener("dyn", dport, "c"), lds_listener("dyn", free_port(), "c")])
            wait_for(lambda: lm(p, "lds.update_rejected") == 2, 10, what="duplicate name")
            check('duplicate listener name \\"dyn\\"' in p.output() or
                  'duplicate listener name "dyn"' in p.output(), "duplicate name logged")
            lds.write("v5", [lds_listener("s2", sport, "c")])
            wait_for(lambda: lm(p, "lds.update_rejected") == 3, 10, what="static address")
            check("is already used by static listener" in p.output(), "static address logged")
            wait_serving(dport)
            check(lm(p, "lds.update_success") == 1, "nothing applied")


def test_port_in_use_is_rejected_and_the_old_set_kept():
    lds = LdsFile()
    sport, dport = free_port(), free_port()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    busy_port = busy.getsockname()[1]
    try:
        with EchoServer() as up:
            lds.write("v1", [lds_listener("dyn", dport, "c")])
            cfg = config(lds, [listener_yaml("static", sport, "c")],
                         [cluster_yaml("c", [up.port])])
            with Proxy(cfg) as p:
                wait_version(p, 1)
                fresh = free_port()
                lds.write("v2", [lds_listener("dyn", dport, "c"),
                                 lds_listener("fresh", fresh, "c"),
                                 lds_listener("busy", busy_port, "c")])
                wait_for(lambda: lm(p, "lds.update_rejected") == 1, 10, what="rejected")
                check(re.search(r"resources\[2\]\.address: listener 'busy': bind "
                                r"127\.0\.0\.1:%d: Address already in use" % busy_port,
                                p.output()), "bind failure logged")
                check(lm(p, "listener_create_failure") == 1, "listener_create_failure")
                check(lm(p, "listener_added") == 1, "nothing added")
                wait_serving(dport)
                check(refused(fresh), "the good listener of a refused version is not bound")
                check(not any("_%d." % fresh in k for k in p.stats()),
                      "nor are its stats scopes registered")
    finally:
        busy.close()


def test_watched_directory_symlink_swap():
    lds = LdsFile(watched=True)
    sport, d1, d2 = free_port(), free_port(), free_port()
    with EchoServer() as up:
        lds.write("v1", [lds_listener("a", d1, "c")])
        cfg = config(lds, [listener_yaml("static", sport, "c")], [cluster_yaml("c", [up.port])])
        with Proxy(cfg) as p:
            wait_version(p, 1)
            wait_serving(d1)
            lds.write("v2", [lds_listener("b", d2, "c")])
            wait_version(p, 2, 0)
            wait_serving(d2)
            wait_for(lambda: refused(d1), 10, what="a removed")
            check(lm(p, "listener_added") == 2 and lm(p, "listener_removed") == 1, "counted")


def test_killed_worker_comes_back_with_the_dynamic_listeners():
    lds = LdsFile()
    sport, dport = free_port(), free_port()
    with EchoServer() as up:
        lds.write("v1", [lds_listener("dyn", dport, "c")])
        cfg = config(lds, [listener_yaml("static", sport, "c")], [cluster_yaml("c", [up.port])])
        with Proxy(cfg, concurrency=2) as p:
            wait_version(p, 1)
            for pid in p.worker_pids():
                os.kill(pid, signal.SIGKILL)
            wait_for(lambda: p.stat("server.worker_restarts") == 2, 10, what="restarts")
            wait_for(lambda: lm(p, "listener_create_success") == 4, 10,
                     what="the new workers took the dynamic listener")
            # Every connection lands on a worker that has it (both were restarted).
            for i in range(40):
                check(echo_roundtrip(dport, b"r%d" % i) == b"r%d" % i, "round trip")


def test_sighup_keeps_the_dynamic_listeners():
    lds = LdsFile()
    sport, dport = free_port(), free_port()
    with EchoServer() as up:
        lds.write("v1", [lds_listener("dyn", dport, "c")])
        cfg = config(lds, [listener_yaml("static", sport, "c")], [cluster_yaml("c", [up.port])])
        with Proxy(cfg, concurrency=2) as p:
            wait_version(p, 1)
            live = connect(dport)
            exchange(live, b"before")
            p.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: p.stat("server.hot_restart_epoch") == 1, 10, what="reload")
            wait_for(lambda: lm(p, "listener_create_success") == 4, 10,
                     what="the new generation took the dynamic listener")
            for i in range(40):
                check(echo_roundtrip(dport, b"h%d" % i) == b"h%d" % i, "round trip")
            exchange(live, os.urandom(10000))
            finish(live)
            check(lm(p, "lds.update_success") == 1, "a reload is not an LDS update")
            check(lm(p, "total_listeners_active") == 2, "static + dynamic after the reload")
            # A reload cannot move the LDS source: refused, the old generation serves on.
            other = LdsFile()
            other.write("o1", [])
            with open(p.config_path, "w") as f:
                f.write(config(other, [listener_yaml("static", sport, "c")],
                               [cluster_yaml("c", [up.port])]))
            p.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: p.stat("server.reload_failed") == 1, 10, what="reload refused")
            check("lds_config cannot change on a reload" in p.output(), "why logged")
            wait_serving(dport)


def test_static_listener_under_load_loses_nothing_while_lds_adds_and_removes():
    lds = LdsFile()
    sport = free_port()
    ports = [free_port() for _ in range(4)]
    with LoadEcho() as up:
        lds.write("v0", [])
        cfg = config(lds, [listener_yaml("static", sport, "c")], [cluster_yaml("c", [up.port])])
        with Proxy(cfg, concurrency=2) as p:
            wait_version(p, 1)
            seconds = 8
            client = load_client(sport, seconds, threads=4, nbytes=1000)
            t0 = time.monotonic()
            n = 0
            while time.monotonic() - t0 < seconds - 1:
                n += 1
                live = ports[: 1 + n % len(ports)]
                lds.write("v%d" % n, [lds_listener("d%d" % i, port, "c", "d")
                                      for i, port in enumerate(live)])
                wait_version(p, n + 1)
                wait_serving(live[-1], b"x%d" % n)
                time.sleep(0.2)
            conns, failed, nbytes, err = load_result(client)
            check(failed == 0, "%d of %d connections failed: %s" % (failed, conns, err))
            check(conns >= 1000 * seconds, "%d connections in %d s" % (conns, seconds))
            check(n >= 5, "only %d LDS updates" % n)
            check(lm(p, "lds.update_rejected") == 0, "no update rejected")
            check(p.stat("tcp.test.downstream_cx_total") == conns, "every connection counted")


def test_changed_listener_under_load_loses_no_connection():
    lds = LdsFile()
    sport, dport = free_port(), free_port()
    with LoadEcho() as up:
        lds.write("v0", [lds_listener("dyn", dport, "c1", "d")])
        cfg = config(lds, [listener_yaml("static", sport, "c1")],
                     [cluster_yaml("c1", [up.port]), cluster_yaml("c2", [up.port])])
        with Proxy(cfg, concurrency=2) as p:
            wait_version(p, 1)
            seconds = 6
            client = load_client(dport, seconds, threads=4, nbytes=1000)
            t0 = time.monotonic()
            n = 0
            while time.monotonic() - t0 < seconds - 1:
                n += 1
                lds.write("v%d" % n, [lds_listener("dyn", dport, "c%d" % (1 + n % 2), "d")])
                wait_version(p, n + 1)
                time.sleep(0.15)
            conns, failed, nbytes, err = load_result(client)
            check(failed == 0, "%d of %d connections failed: %s" % (failed, conns, err))
            check(conns >= 1000 * seconds, "%d connections in %d s" % (conns, seconds))
            check(lm(p, "listener_modified") == n, "every change counted")
            check(p.stat("cluster.c1.upstream_cx_total") + p.stat("cluster.c2.upstream_cx_total")
                  == conns, "every connection went upstream")
            check(p.stat("cluster.c1.upstream_cx_total") > 0 and
                  p.stat("cluster.c2.upstream_cx_total") > 0, "both routes used")


def test_removed_listener_connections_close_at_the_drain_deadline():
    lds = LdsFile()
    sport, dport = free_port(), free_port()
    with EchoServer() as up:
        lds.write("v1", [lds_listener("dyn", dport, "c")])
        cfg = config(lds, [listener_yaml("static", sport, "c")], [cluster_yaml("c", [up.port])])
        with Proxy(cfg, extra_args=("--drain-time-s", "1")) as p:
            wait_version(p, 1)
            live = connect(dport)
            exchange(live, b"x")
            static = connect(sport)
            exchange(static, b"y")
            lds.write("v2", [])
            wait_version(p, 2)
            t0 = time.monotonic()
            exchange(live, b"still here")
            live.settimeout(5)
            check(recv_all(live) == b"", "closed by the proxy")
            took = time.monotonic() - t0
            check(0.5 < took < 3, "closed at the drain deadline (after %.1f s)" % took)
            wait_for(lambda: lm(p, "total_listeners_draining") == 0, 5, what="drained")
            # A static listener's connection is not the removed listener's business.
            exchange(static, b"z")
            finish(static)


def test_validate_mode_checks_the_lds_file():
    lds = LdsFile()
    other = lds_listener("x", free_port(), "c")
    other["bogus"] = 1
    lds.write("v1", [other])
    path = os.path.join(lds.dir, "boot.yaml")
    with open(path, "w") as f:
        f.write(config(lds, [listener_yaml("static", free_port(), "c")],
                       [cluster_yaml("c", [free_port()])]))
    r = subprocess.run([TCPPROXY, "--mode", "validate", "-c", path], capture_output=True,
                       text=True, timeout=10)
    text = open(lds.path).read().splitlines()
    line = next(i for i, t in enumerate(text) if '"bogus"' in t) + 1
    want = "%s:%d:%d: resources[0].bogus: unknown field" % (
        lds.path, line, text[line - 1].index('"bogus"') + 1)
    check(r.returncode == 1 and want in r.stderr, "exit %d: %s" % (r.returncode, r.stderr))
    lds.write("v2", [lds_listener("x", free_port(), "c")])
    r = subprocess.run([TCPPROXY, "--mode", "validate", "-c", path], capture_output=True,
                       text=True, timeout=10)
    check(r.returncode == 0 and r.stderr == "", "exit %d: %s" % (r.returncode, r.stderr))


def test_a_tls_listener_and_fifty_listeners_in_one_update():
    import ssl
    from test_tls import DOWN_TYPE, cert
    lds = LdsFile()
    sport, tport = free_port(), free_port()
    many = [free_port() for _ in range(50)]
    with EchoServer() as up:
        tls = lds_listener("tls", tport, "c")
        tls["filter_chains"][0]["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {"@type": DOWN_TYPE, "common_tls_context": {"tls_certificates": [{
                "certificate_chain": {"filename": cert("server.pem")},
                "private_key": {"filename": cert("server.key")}}]}}}
        lds.write("v1", [tls] + [lds_listener("m%d" % i, port, "c", "m")
                                 for i, port in enumerate(many)])
        cfg = config(lds, [listener_yaml("static", sport, "c")], [cluster_yaml("c", [up.port])])
        with Proxy(cfg) as p:
            wait_version(p, 1, 0)
            ctx = ssl.create_default_context(cafile=cert("ca.pem"))
            ctx.check_hostname = False
            for _ in range(4):  # both workers' contexts, most likely
                with socket.create_connection(("127.0.0.1", tport), timeout=10) as raw:
                    with ctx.wrap_socket(raw) as s:
                        payload = os.urandom(20000)
                        s.sendall(payload)
                        got = b""
                        while len(got) < len(payload):
                            b = s.recv(65536)
                            check(b, "TLS connection closed early")
                            got += b
                        check(got == payload, "TLS round trip through an LDS listener")
            check(p.stat("listener.127.0.0.1_%d.ssl.handshake" % tport) == 4, "ssl stats")
            for port in many:
                check(echo_roundtrip(port, b"m%d" % port) == b"m%d" % port, "round trip")
            check(lm(p, "listener_added") == 51, "all added")
            check(lm(p, "listener_create_success") == 102, "on both workers")
            check(p.stat("tcp.m.downstream_cx_total") == 50, "one scope shared by prefix")
            # All of them changed at once, then all removed: none stays behind.
            lds.write("v2", [tls] + [lds_listener("m%d" % i, port, "c", "m2")
                                     for i, port in enumerate(many)])
            wait_version(p, 2, 0)
            for port in many[:5]:
                check(echo_roundtrip(port, b"x") == b"x", "after the change")
            check(lm(p, "listener_modified") == 50, "fifty modified, TLS unchanged")
            lds.write("v3", [])
            wait_version(p, 3, 0)
            for port in many[:5] + [tport]:
                wait_for(lambda: refused(port), 10, what="removed")
            check(lm(p, "listener_removed") == 51, "all removed")


def test_a_file_that_appears_later_is_applied_then():
    lds = LdsFile()
    sport, dport = free_port(), free_port()
    with EchoServer() as up:
        cfg = config(lds, [listener_yaml("static", sport, "c")], [cluster_yaml("c", [up.port])])
        with Proxy(cfg) as p:
            check(lm(p, "lds.update_failure") == 1 and lm(p, "lds.update_success") == 0,
                  "no file yet: a failed fetch, and the static listener serves")
            check(echo_roundtrip(sport, b"s") == b"s", "static serves")
            lds.write("v1", [lds_listener("dyn", dport, "c")])
            wait_version(p, 1, 0)
            wait_serving(dport)


def test_a_privileged_port_from_lds_with_workers_as_nobody():
    import grp
    import pwd
    from harness import Skip
    if os.getuid() != 0:
        raise Skip("needs root to drop privileges")
    try:
        pwd.getpwnam("nobody")
        grp.getgrnam("nogroup")
    except KeyError:
        raise Skip("no nobody/nogroup")
    port = None
    for cand in range(900, 1000):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", cand))
            port = cand
            break
        except OSError:
            continue
        finally:
            s.close()
    if port is None:
        raise Skip("no free privileged port")
    lds = LdsFile()
    os.chmod(lds.dir, 0o755)
    sport = free_port()
    with EchoServer() as up:
        lds.write("v0", [])
        os.chmod(lds.path, 0o644)
        cfg = config(lds, [listener_yaml("static", sport, "c")], [cluster_yaml("c", [up.port])])
        with Proxy(cfg, extra_args=["--user", "nobody", "--group", "nogroup"]) as p:
            wait_version(p, 1)
            # The master binds, as root; the workers (nobody) take the socket and serve.
            lds.write("v1", [lds_listener("low", port, "c")])
            wait_version(p, 2, 0)
            wait_serving(port)
            check(lm(p, "listener_create_success") == 2, "both workers took it")


def test_an_lds_listener_logs_to_stdout_with_fields_the_bootstrap_never_asked_for():
    lds = LdsFile()
    sport, dport = free_port(), free_port()
    with EchoServer() as up:
        dyn = lds_listener("dyn", dport, "c")
        dyn["filter_chains"][0]["filters"][0]["typed_config"]["access_log"] = [{
            "name": "envoy.access_loggers.stdout",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3."
                         "StdoutAccessLog",
                "log_format": {"text_format_source": {"inline_string":
                    "LDSLOG %DOWNSTREAM_REMOTE_ADDRESS% %UPSTREAM_HOST% %START_TIME(%s)%\n"}}}}]
        lds.write("v1", [dyn])
        cfg = config(lds, [listener_yaml("static", sport, "c")], [cluster_yaml("c", [up.port])])
        with Proxy(cfg) as p:
            wait_version(p, 1, 0)
            s = connect(dport)
            local = s.getsockname()
            exchange(s, b"log me")
            finish(s)
            want = "LDSLOG %s:%d 127.0.0.1:%d " % (local[0], local[1], up.port)
            wait_for(lambda: want in p.output(), 10, what="the access log line")
            line = p.output().split(want, 1)[1].split("\n")[0]
            check(line.isdigit() and abs(int(line) - time.time()) < 60, "start time: %r" % line)
            # A file the bootstrap does not write is refused (the workers opened theirs).
            dyn["filter_chains"][0]["filters"][0]["typed_config"]["access_log"][0] = {
                "name": "envoy.access_loggers.file",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3."
                             "FileAccessLog",
                    "path": os.path.join(lds.dir, "new.log")}}
            lds.write("v2", [dyn])
            wait_for(lambda: lm(p, "lds.update_rejected") == 1, 10, what="rejected")
            check("write to a file the bootstrap's access logs do not" in p.output(), "why")


def test_connection_limit_in_an_lds_listener_counts_across_workers():
    lds = LdsFile()
    sport, dport = free_port(), free_port()
    with EchoServer() as up:
        dyn = lds_listener("dyn", dport, "c")
        dyn["filter_chains"][0]["filters"].insert(0, {
            "name": "envoy.filters.network.connection_limit",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network."
                         "connection_limit.v3.ConnectionLimit",
                "stat_prefix": "lim", "max_connections": 3}})
        lds.write("v1", [dyn])
        cfg = config(lds, [listener_yaml("static", sport, "c")], [cluster_yaml("c", [up.port])])
        with Proxy(cfg, concurrency=2) as p:
            wait_version(p, 1, 0)
            held = []
            for i in range(3):
                s = connect(dport)
                exchange(s, b"h%d" % i)
                held.append(s)
            # Whichever worker takes them, the fourth to sixth are over the limit.
            for i in range(3):
                s = connect(dport)
                s.settimeout(5)
                check(recv_all(s) == b"", "over the limit: closed")
                s.close()
            check(p.stat("connection_limit.lim.limited_connections") == 3, "limited")
            check(p.stat("connection_limit.lim.active_connections") == 3, "active")
            # An unchanged listener keeps its counters across another update.
            lds.write("v2", [dyn, lds_listener("other", free_port(), "c")])
            wait_version(p, 2, 0)
            s = connect(dport)
            s.settimeout(5)
            check(recv_all(s) == b"", "still over the limit after an update")
            s.close()
            for s in held:
                finish(s)
            wait_for(lambda: p.stat("connection_limit.lim.active_connections") == 0, 10,
                     what="released")
            wait_serving(dport)
            # A reload's generation counts its own connections, in its own memory.
            p.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: p.stat("server.hot_restart_epoch") == 1, 10, what="reload")
            wait_for(lambda: lm(p, "listener_create_success") == 8, 10, what="new workers")
            held = [connect(dport) for _ in range(3)]
            for i, s in enumerate(held):
                exchange(s, b"r%d" % i)
            s = connect(dport)
            s.settimeout(5)
            check(recv_all(s) == b"", "the limit holds in the new generation")
            s.close()
            for s in held:
                finish(s)
