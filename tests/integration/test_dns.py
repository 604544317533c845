"""STRICT_DNS and LOGICAL_DNS clusters against a real DNS server on loopback (Debian's dnsmasq,
answering from a hosts file the test rewrites and signals), and `localhost` from /etc/hosts:
resolution, the host set published to running workers, live connections kept across a change,
the last good hosts kept when the server goes, and the update_* / membership_* counters."""
import os
import shutil
import signal
import socket
import subprocess
import urllib.request

from harness import (Proxy, Server, Skip, bootstrap, check, cluster_yaml, connect, free_port,
                     listener_yaml, run_path, wait_for)

CARES = "type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig"


class Dnsmasq:
    """dnsmasq on 127.0.0.1:port answering names under tp.test from a hosts file only."""

    def __init__(self, hosts):
        exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        if not os.path.exists(exe):
            raise Skip("dnsmasq is not installed (.ci/deps --test installs dnsmasq-base)")
        self.port = free_port()
        self.hosts_path = run_path("dns-hosts-%d" % self.port)
        self.write(hosts)
        self.log = open(run_path("dnsmasq-%d.log" % self.port), "w+")
        # free_port() keeps the port bound (SO_REUSEADDR, TCP): dnsmasq binds UDP and TCP.
        self.proc = subprocess.Popen(
            [exe, "--no-daemon", "--port=%d" % self.port, "--listen-address=127.0.0.1",
             "--bind-interfaces", "--no-resolv", "--no-hosts", "--local=/tp.test/",
             "--addn-hosts=" + self.hosts_path, "--local-ttl=1", "--user=root",
             "--pid-file="], stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self.answers, what="dnsmasq to answer")

    def answers(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.connect(("127.0.0.1", self.port))
            return True
        except OSError:
            check(self.proc.poll() is None, "dnsmasq exited: " + self.output())
            return False
        finally:
            s.close()

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def write(self, hosts):
        tmp = self.hosts_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(hosts)
        os.rename(tmp, self.hosts_path)

    def change(self, hosts):
        """New records: dnsmasq rereads --addn-hosts on SIGHUP."""
        self.write(hosts)
        self.proc.send_signal(signal.SIGHUP)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        self.log.close()


def whoami_handler(c):
    """Says which address it answered on, then echoes until EOF."""
    c.sendall(c.getsockname()[0].encode() + b"\n")
    while True:
        b = c.recv(65536)
        if not b:
            break
        c.sendall(b)


def dns_cluster(name, typ, endpoints, dns_port, extra=""):
    eps = "".join("""
        - endpoint: {address: {socket_address: {address: %s, port_value: %d}}}""" % e
                  for e in endpoints)
    return """
  - name: %s
    type: %s
    connect_timeout: 2s%s
    typed_dns_resolver_config:
      name: envoy.network.dns_resolver.cares
      typed_config:
        "@type": %s
        resolvers: [{socket_address: {address: 127.0.0.1, port_value: %d}}]
        dns_resolver_options: {no_default_search_domain: true}
    load_assignment:
      cluster_name: %s
      endpoints:
      - lb_endpoints:%s
""" % (name, typ, extra, CARES, dns_port, name, eps)


def config(port, admin_port, cluster):
    return ("admin:\n  address:\n    socket_address: {address: 127.0.0.1, port_value: %d}\n"
            % admin_port + bootstrap([listener_yaml("l", port, "c")], [cluster]))


def who(port):
    s = connect(port)
    f = s.makefile("rb")
    line = f.readline().decode().strip()
    f.close()
    s.close()
    return line


def admin_get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        return r.read().decode()


def backends(port, addrs):
    return [Server(whoami_handler, host=a, port=port) for a in addrs]


def test_strict_dns_follows_the_records_and_keeps_live_connections():
    up = free_port()
    servers = backends(up, ["127.0.0.2", "127.0.0.3", "127.0.0.4"])
    try:
        with Dnsmasq("127.0.0.2 be.tp.test\n127.0.0.3 be.tp.test\n") as dns:
            port, admin = free_port(), free_port()
            cl = dns_cluster("c", "STRICT_DNS", [("be.tp.test", up)], dns.port,
                             extra="\n    dns_refresh_rate: 0.3s")
            with Proxy(config(port, admin, cl)) as p:
                # The workers started only once the first answer was published.
                check(p.stat("cluster.c.membership_total") == 2, str(p.stats()))
                check(p.stat("cluster.c.update_success") >= 1, str(p.stats()))
                seen = {who(port) for _ in range(20)}
                check(seen == {"127.0.0.2", "127.0.0.3"}, "connections went to %s" % seen)
                page = admin_get(admin, "/clusters")
                for a in ("127.0.0.2", "127.0.0.3"):
                    check("c::%s:%d::hostname::be.tp.test\n" % (a, up) in page, page)
                    check("c::%s:%d::health_flags::healthy\n" % (a, up) in page, page)

                # A live connection on .2 or .3, then the record moves to .4 only.
                live = connect(port)
                f = live.makefile("rb")
                first = f.readline().decode().strip()
                dns.change("127.0.0.4 be.tp.test\n")
                wait_for(lambda: p.stat("cluster.c.membership_total") == 1 and
                         who(port) == "127.0.0.4", what="the new record to be used")
                seen = {who(port) for _ in range(10)}
                check(seen == {"127.0.0.4"}, "after the change connections went to %s" % seen)
                # The old connection keeps flowing to its host.
                live.sendall(b"still here\n")
                check(f.readline() == b"still here\n", "the live connection was cut")
                check(first in ("127.0.0.2", "127.0.0.3"), first)
                st = p.stats()
                check(st["cluster.c.membership_change"] >= 2, str(st))
                check(st["cluster.c.membership_healthy"] == 1, str(st))
                # The live one only, once the probes' closes have gone through (asynchronous).
                p.wait_stat("cluster.c.upstream_cx_active", 1)
                page = admin_get(admin, "/clusters")
                check("c::127.0.0.4:%d::hostname::be.tp.test\n" % up in page, page)
                check("c::127.0.0.2:%d::" % up not in page, "a removed host is listed:\n" + page)
                live.close()
                f.close()
                wait_for(lambda: p.stat("cluster.c.upstream_cx_active") == 0,
                         what="the old connection to close")
    finally:
        for s in servers:
            s.close()


def test_strict_dns_keeps_the_last_hosts_when_the_server_fails():
    up = free_port()
    servers = backends(up, ["127.0.0.2"])
    try:
        with Dnsmasq("127.0.0.2 be.tp.test\n") as dns:
            port, admin = free_port(), free_port()
            cl = dns_cluster("c", "STRICT_DNS", [("be.tp.test", up)], dns.port,
                             extra="\n    dns_refresh_rate: 0.3s\n"
                                   "    dns_failure_refresh_rate: {base_interval: 0.1s, "
                                   "max_interval: 0.4s}")
            with Proxy(config(port, admin, cl)) as p:
                check(who(port) == "127.0.0.2", "first pick")
                dns.stop()
                wait_for(lambda: p.stat("cluster.c.update_failure") >= 3, timeout=20,
                         what="failed refreshes to be counted")
                check(p.stat("cluster.c.membership_total") == 1, str(p.stats()))
                check(who(port) == "127.0.0.2", "the last good host is kept")
                st = p.stats()
                check(st["cluster.c.update_attempt"] >=
                      st["cluster.c.update_success"] + st["cluster.c.update_failure"], str(st))
                # Envoy's c-ares stats: every query counted when its callback runs; a server
                # that is gone is a timeout or a general failure (refused), never not_found.
                cares_accounted(st)
                check(st["dns.cares.timeouts"] + st["dns.cares.get_addr_failure"] >=
                      st["cluster.c.update_failure"], str(st))
                check(st["dns.cares.not_found"] == 0, str(st))
                check(st["dns.cares.pending_resolutions"] in (0, 1), str(st))
                check("keeping its last addresses" in p.output(), p.output())
    finally:
        for s in servers:
            s.close()


def test_logical_dns_uses_the_first_address_and_localhost_resolves():
    up = free_port()
    servers = backends(up, ["127.0.0.1", "127.0.0.3"])
    try:
        with Dnsmasq("127.0.0.3 one.tp.test\n") as dns:
            port, admin = free_port(), free_port()
            cl = dns_cluster("c", "LOGICAL_DNS", [("one.tp.test", up)], dns.port)
            with Proxy(config(port, admin, cl)) as p:
                check({who(port) for _ in range(6)} == {"127.0.0.3"}, "LOGICAL_DNS host")
                check(p.stat("cluster.c.membership_total") == 1, str(p.stats()))
            # localhost comes from /etc/hosts, before any DNS server is asked.
            port, admin = free_port(), free_port()
            cl = dns_cluster("c", "STRICT_DNS", [("localhost", up)], dns.port,
                             extra="\n    dns_lookup_family: V4_ONLY")
            with Proxy(config(port, admin, cl)) as p:
                check(who(port) == "127.0.0.1", "localhost")
                page = admin_get(admin, "/clusters")
                check("c::127.0.0.1:%d::hostname::localhost\n" % up in page, page)
    finally:
        for s in servers:
            s.close()


def test_an_ip_literal_in_a_dns_cluster_keeps_its_port():
    """An IP literal endpoint of a STRICT_DNS cluster is its own answer, with its own port (the
    host set once took the port only from names, and published port 0 for literals)."""
    up = free_port()
    servers = backends(up, ["127.0.0.2"])
    try:
        with Dnsmasq("127.0.0.3 be.tp.test\n") as dns:
            port, admin = free_port(), free_port()
            cl = dns_cluster("c", "STRICT_DNS", [("127.0.0.2", up)], dns.port)
            with Proxy(config(port, admin, cl)) as p:
                check(who(port) == "127.0.0.2", "the literal's host")
                page = admin_get(admin, "/clusters")
                check("c::127.0.0.2:%d::" % up in page, page)
    finally:
        for s in servers:
            s.close()


def cares_accounted(st):
    """Each query the cluster started is answered (resolve_total) or pending; a snapshot taken
    while the master is between the two counts of a query may be one short."""
    left = st["cluster.c.update_attempt"] - st["dns.cares.resolve_total"] - \
        st["dns.cares.pending_resolutions"]
    check(left in (0, 1), str(st))


def test_a_name_that_does_not_exist_is_counted_not_found():
    """dns.cares.not_found (NXDOMAIN, NODATA) and the cluster's update_empty for a name the server
    says does not exist, beside one that resolves; pending_resolutions returns to 0."""
    up = free_port()
    servers = backends(up, ["127.0.0.2"])
    try:
        with Dnsmasq("127.0.0.2 be.tp.test\n") as dns:
            port, admin = free_port(), free_port()
            cl = dns_cluster("c", "STRICT_DNS", [("be.tp.test", up), ("gone.tp.test", up)],
                             dns.port, extra="\n    dns_refresh_rate: 0.2s")
            with Proxy(config(port, admin, cl)) as p:
                check(who(port) == "127.0.0.2", "the name that resolves")
                wait_for(lambda: p.stat("dns.cares.not_found") >= 3, timeout=20,
                         what="the missing name's answers to be counted")
                st = p.stats()
                check(st["cluster.c.update_empty"] >= 3, str(st))
                cares_accounted(st)
                check(st["dns.cares.get_addr_failure"] == 0, str(st))
                check(st["dns.cares.pending_resolutions"] in (0, 1, 2), str(st))
            # No DNS cluster: no dns.cares tree in a fresh proxy's /stats.
            port = free_port()
            with Proxy(bootstrap([listener_yaml("l", port, "c")],
                                 [cluster_yaml("c", [up])])) as p:
                check(not any(k.startswith("dns.cares.") for k in p.stats()), str(p.stats()))
    finally:
        for s in servers:
            s.close()


def test_the_dns_example_serves_make_runs_demo_upstream():
    """etc/dns.yaml, as its header says to try it, in front of `make run`'s demo upstream (an
    HTTP server on 127.0.0.1 serving docs/): ports moved to free ones, nothing else changed."""
    import http.server
    import functools
    import threading
    from harness import ROOT
    up, port, admin = free_port(), free_port(), free_port()
    with open(os.path.join(ROOT, "etc", "dns.yaml")) as f:
        text = f.read()
    for old, new in ((10000, port), (9901, admin), (10001, up)):
        check(text.count("port_value: %d}" % old) == 1, "etc/dns.yaml has port %d once" % old)
        text = text.replace("port_value: %d}" % old, "port_value: %d}" % new)
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=os.path.join(ROOT, "docs"))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", up), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        with Proxy(text) as p:
            body = admin_get(port, "/")
            check("envoy-compat.md" in body, body[:300])
            page = admin_get(admin, "/clusters")
            check("by_name::127.0.0.1:%d::hostname::localhost\n" % up in page, page)
            check("by_name::127.0.0.1:%d::health_flags::healthy\n" % up in page, page)
            check(p.stat("cluster.by_name.health_check.success") >= 1, str(p.stats()))
            check(p.stat("dns.cares.resolve_total") >= 1, str(p.stats()))
    finally:
        srv.shutdown()
        srv.server_close()
