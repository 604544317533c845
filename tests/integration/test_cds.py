"""File-based CDS: dynamic_resources.cds_config's file rewritten while the proxy serves. Clusters
added, changed and removed under continuous load (tp-load checks every byte) with no failed
connection to a cluster that stays; a bad update refused with its FILE:LINE:COL and the old set
serving; an atomic rename and a Kubernetes-style watched_directory symlink swap as updates; the
cluster_manager.* counters exactly; a SIGHUP reload beside it."""
import os
import signal
import socket
import time
import urllib.request

from harness import (LoadEcho, Proxy, check, connect, free_port, listener_yaml, load_client,
                     load_result, run_subdir, wait_for)

CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"


def cds_cluster(name, ports, extra=""):
    eps = "".join("""
      - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}""" % p
                  for p in ports)
    return """
- "@type": %s
  name: %s
  connect_timeout: 2s%s
  load_assignment:
    cluster_name: %s
    endpoints:
    - lb_endpoints:%s
""" % (CLUSTER_TYPE, name, extra, name, eps)


def cds_file(version, clusters):
    return 'version_info: "%s"\nresources:' % version + "".join(clusters) + "\n"


class CdsDir:
    """A directory with cds.yaml, updated by writing a temporary file and renaming it over."""

    def __init__(self, text):
        self.dir = run_subdir("cds-")
        self.path = os.path.join(self.dir, "cds.yaml")
        self.write(text)

    def write(self, text):
        tmp = os.path.join(self.dir, ".cds.yaml.tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.path)


def boot(listeners, cds_path, admin_port=None, source=None, static_clusters=""):
    src = source or "path_config_source: {path: %s}" % cds_path
    text = ""
    if admin_port:
        text += "admin:\n  address:\n    socket_address: {address: 127.0.0.1, port_value: %d}\n" \
            % admin_port
    text += "dynamic_resources:\n  cds_config:\n    %s\n    resource_api_version: V3\n" % src
    text += "static_resources:\n  listeners:" + "".join(listeners)
    if static_clusters:
        text += "  clusters:" + static_clusters
    return text


def roundtrip(port, payload=b"ping"):
    s = connect(port)
    try:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
        return got
    finally:
        s.close()


def refused(port):
    """True if the proxy closed the connection without a byte (no_route)."""
    try:
        return roundtrip(port) == b""
    except OSError:
        return True


def admin_get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        return r.read().decode()


def wait_success(p, n):
    p.wait_stat("cluster_manager.cds.update_success", n)


def test_clusters_added_changed_and_removed_under_load():
    with LoadEcho() as e1, LoadEcho() as e2, LoadEcho() as e3:
        pa, pb, pc, admin = free_port(), free_port(), free_port(), free_port()
        cds = CdsDir(cds_file("1", [cds_cluster("a", [e1.port]), cds_cluster("b", [e2.port])]))
        cfg = boot([listener_yaml("la", pa, "a", stat_prefix="a"),
                    listener_yaml("lb", pb, "b", stat_prefix="b"),
                    listener_yaml("lc", pc, "c", stat_prefix="c")], cds.path, admin)
        with Proxy(cfg) as p:
            st = p.stats()
            check(st["cluster_manager.cds.update_success"] == 1, str(st))
            check(st["cluster_manager.cluster_added"] == 2, str(st))
            check(st["cluster_manager.active_clusters"] == 2, str(st))
            check(roundtrip(pa) == b"ping" and roundtrip(pb) == b"ping", "first set")
            # c is not known yet: no_route, as in Envoy.
            check(refused(pc), "a connection to c before it exists")
            p.wait_stat("tcp.c.downstream_cx_no_route", 1)

            # A live connection to b, kept across b's removal.
            live = connect(pb)
            live.sendall(b"before")
            check(live.recv(6) == b"before", "live connection to b")

            start = time.monotonic()
            load_a = load_client(pa, 6, threads=2, nbytes=1000)
            time.sleep(1)
            # Add c.
            cds.write(cds_file("2", [cds_cluster("a", [e1.port]), cds_cluster("b", [e2.port]),
                                     cds_cluster("c", [e3.port])]))
            wait_success(p, 2)
            # The master counts the update before its workers have read it (microseconds
            # later, on their next loop turn): a probe may just precede it.
            wait_for(lambda: roundtrip(pc) == b"ping", 2, what="c to be usable")
            load_c = load_client(pc, 4, threads=2, nbytes=1000)
            time.sleep(1)
            # Change a: its hosts become e1 and e3, new connections balance over both.
            cds.write(cds_file("3", [cds_cluster("a", [e1.port, e3.port]),
                                     cds_cluster("b", [e2.port]), cds_cluster("c", [e3.port])]))
            wait_success(p, 3)
            time.sleep(1)
            # Remove b.
            cds.write(cds_file("4", [cds_cluster("a", [e1.port, e3.port]),
                                     cds_cluster("c", [e3.port])]))
            wait_success(p, 4)
            wait_for(lambda: refused(pb), 2, what="a new connection to the removed b to fail")
            # The same definitions again: nothing added, changed or removed.
            cds.write(cds_file("5", [cds_cluster("a", [e1.port, e3.port]),
                                     cds_cluster("c", [e3.port])]))
            wait_success(p, 5)
            na, fa, _, err_a = load_result(load_a)
            nc, fc, _, err_c = load_result(load_c)
            elapsed = time.monotonic() - start
            check(fa == 0, "connections to a failed: %d of %d: %s" % (fa, na, err_a))
            check(fc == 0, "connections to c failed: %d of %d: %s" % (fc, nc, err_c))
            rate = (na + nc) / elapsed
            check(rate >= 1000, "only %.0f connections/s under load (%d + %d in %.1f s)"
                  % (rate, na, nc, elapsed))

            # The live connection to the removed b still relays.
            live.sendall(b"after")
            check(live.recv(5) == b"after", "the live connection to b was cut")
            live.close()

            st = p.stats()
            check(st["cluster_manager.cds.update_attempt"] == 5, str(st))
            check(st["cluster_manager.cds.update_rejected"] == 0, str(st))
            check(st["cluster_manager.cluster_added"] == 3, str(st))
            check(st["cluster_manager.cluster_modified"] == 1, str(st))
            check(st["cluster_manager.cluster_removed"] == 1, str(st))
            check(st["cluster_manager.active_clusters"] == 2, str(st))
            check(st["tcp.b.downstream_cx_no_route"] == 1, str(st))
            check(st["tcp.a.downstream_cx_no_route"] == 0, str(st))
            check(st["cluster.a.upstream_cx_total"] == na + 1, "%d %s" % (na, st))
            # b's counters keep their history while its generation lives.
            check(st["cluster.b.upstream_cx_total"] >= 2, str(st))
            page = admin_get(admin, "/clusters")
            check(page.startswith("version_info::5\n"), page[:200])
            check("a::127.0.0.1:%d::cx_total::" % e3.port in page, page)
            check("b::" not in page, "a removed cluster is listed:\n" + page)
            dump = admin_get(admin, "/config_dump")
            check('"dynamic_active_clusters":[' in dump and '"version_info":"5"' in dump, dump)
            check("cluster_manager: version_info \"5\"" not in p.output(), "log")
            check('cds: version_info "4": 2 cluster(s), 0 added, 0 modified, 1 removed'
                  in p.output(), p.output())


def test_config_dump_gives_each_cluster_the_version_that_last_changed_it():
    """Envoy's ClustersConfigDump: the top-level version_info is the last one accepted, but each
    dynamic_active_clusters[] entry carries the version_info of the update that last added or
    changed that cluster (ClusterManagerImpl keeps it in ClusterData; an identical resource is
    blocked by its hash and keeps it), beside its last_updated."""
    import json
    with LoadEcho() as e1:
        pa, admin = free_port(), free_port()
        cds = CdsDir(cds_file("v1", [cds_cluster("a", [e1.port])]))
        with Proxy(boot([listener_yaml("la", pa, "a", stat_prefix="a")], cds.path,
                        admin)) as p:
            cds.write(cds_file("v2", [cds_cluster("a", [e1.port]),
                                      cds_cluster("b", [e1.port])]))
            wait_success(p, 2)
            dump = json.loads(admin_get(admin, "/config_dump"))
            got = {}
            for c in dump["configs"]:
                if "dynamic_active_clusters" in c:
                    check(c["version_info"] == "v2", str(c))
                    for x in c["dynamic_active_clusters"]:
                        got[x["cluster"]["name"]] = x["version_info"]
            check(got == {"a": "v1", "b": "v2"}, str(got))


def test_cds_version_is_envoys_unsigned_xxhash64_of_version_info():
    """cluster_manager.cds.version is Envoy's HashUtil::xxHash64(version_info) in a uint64
    gauge: for version_info "1" Envoy prints 13237225503670494420 (0xb7b41276360564d4), in
    /stats and /stats/prometheus alike, never a negative number."""
    with LoadEcho() as e1:
        pa, admin = free_port(), free_port()
        cds = CdsDir(cds_file("1", [cds_cluster("a", [e1.port])]))
        with Proxy(boot([listener_yaml("la", pa, "a", stat_prefix="a")], cds.path,
                        admin)) as p:
            page = admin_get(admin, "/stats")
            check("cluster_manager.cds.version: 13237225503670494420\n" in page,
                  [line for line in page.splitlines() if "cds.version" in line])
            page = admin_get(admin, "/stats/prometheus")
            check("envoy_cluster_manager_cds_version 13237225503670494420\n" in page,
                  [line for line in page.splitlines() if "cds_version" in line])


def test_endpoints_that_come_and_go_do_not_exhaust_the_stats_segment():
    """A STATIC cluster from CDS lists its endpoints' addresses, which change with every
    deploy (pod IPs). Each update registers a host.<cluster>::<address> row per endpoint in the
    serving generation's hold, and nothing lets the rows of endpoints gone since go until a
    reload: after a few thousand addresses the segment (4096 scopes) is full and every update
    after is refused ("no room for the clusters' stats") for as long as the proxy runs without
    a SIGHUP. Updates that only replace endpoints must keep being accepted."""
    with LoadEcho() as e1:
        pa = free_port()
        cds = CdsDir(cds_file("0", [cds_cluster("a", [e1.port])]))
        with Proxy(boot([listener_yaml("la", pa, "a", stat_prefix="a")], cds.path)) as p:
            for i in range(1, 31):
                ports = [e1.port] + [20000 + i * 200 + j for j in range(199)]
                cds.write(cds_file(str(i), [cds_cluster("a", ports)]))
                p.wait_stat("cluster_manager.cds.update_attempt", i + 1)
            st = p.stats()
            check(st["cluster_manager.cds.update_rejected"] == 0,
                  [line for line in p.output().splitlines() if "no room" in line][:2])
            check(st["cluster_manager.cds.update_success"] == 31, str(st))


def test_a_removed_clusters_stats_stay_while_a_connection_holds_it_then_go():
    """The rows of a set's clusters are released only when no worker can write them: a removed
    cluster's counters stay in /stats while a connection still holds it (through later updates),
    and leave once that connection is gone and its worker has said so (TP_HS_CDS_LOW)."""
    with LoadEcho() as e1, LoadEcho() as e2:
        pa, pb = free_port(), free_port()
        cds = CdsDir(cds_file("0", [cds_cluster("a", [e1.port])]))
        lst = [listener_yaml("la", pa, "a", stat_prefix="a"),
               listener_yaml("lb", pb, "b", stat_prefix="b")]
        with Proxy(boot(lst, cds.path)) as p:
            cds.write(cds_file("1", [cds_cluster("a", [e1.port]),
                                     cds_cluster("b", [e2.port])]))
            p.wait_stat("cluster_manager.cds.update_success", 2)

            def b_serves():
                try:
                    return roundtrip(pb)
                except OSError:
                    return False  # a worker not yet on set 1: no_route

            wait_for(b_serves, what="cluster b to serve")

            def held():
                s = connect(pb)
                try:
                    s.sendall(b"held")
                    if s.recv(4) == b"held":
                        return s
                except OSError:
                    pass
                s.close()
                return None

            live = wait_for(held, what="a live connection to b")
            # b goes, and a's endpoints change twice more.
            for v, ports in ((2, [e1.port]), (3, [e1.port, e2.port]), (4, [e2.port])):
                cds.write(cds_file(str(v), [cds_cluster("a", ports)]))
                p.wait_stat("cluster_manager.cds.update_success", v + 1)
            time.sleep(0.5)  # the workers' reports of what they hold
            check("cluster.b.upstream_cx_total" in p.stats(),
                  "b's counters went while a connection holds it")
            live.sendall(b"more")
            check(live.recv(4) == b"more", "the live connection to the removed b")
            live.close()
            wait_for(lambda: "cluster.b.upstream_cx_total" not in p.stats(),
                     what="b's rows to go with its last connection")
            check(roundtrip(pa), "a still serves")


def test_a_bad_update_is_refused_with_its_position_and_the_old_set_serves():
    with LoadEcho() as e1:
        pa = free_port()
        cds = CdsDir(cds_file("good", [cds_cluster("a", [e1.port])]))
        with Proxy(boot([listener_yaml("la", pa, "a")], cds.path)) as p:
            check(roundtrip(pa) == b"ping", "first set")
            # Line 5 col 3: an unknown field; a second cluster of the same name at line 14.
            bad = cds_file("bad", [cds_cluster("a", [e1.port], extra="\n  bogus_field: 1"),
                                   cds_cluster("a", [e1.port])])
            cds.write(bad)
            p.wait_stat("cluster_manager.cds.update_rejected", 1)
            out = p.output()
            check("%s:6:3: resources[0].bogus_field: unknown field" % cds.path in out, out)
            check('%s:14:9: resources[1].name: duplicate cluster name "a" (first at line 4)'
                  % cds.path in out, out)
            check('update (version_info "bad") rejected, the previous version stays' in out, out)
            check(roundtrip(pa) == b"ping", "the old set serves")
            # Not YAML: Envoy counts a file it cannot parse as update_failure.
            cds.write("version_info: x\nresources: [\n")
            p.wait_stat("cluster_manager.cds.update_failure", 1)
            check("%s:3:1: " % cds.path in p.output(), p.output())
            # A certificate file that cannot be read: refused, at its place.
            tls = """
  transport_socket:
    name: envoy.transport_sockets.tls
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
      common_tls_context:
        validation_context: {trusted_ca: {filename: /nonexistent/ca.pem}}"""
            cds.write(cds_file("tls", [cds_cluster("a", [e1.port], extra=tls)]))
            p.wait_stat("cluster_manager.cds.update_rejected", 2)
            check("resources[0].transport_socket.typed_config.common_tls_context."
                  "validation_context.trusted_ca.filename: cannot open /nonexistent/ca.pem"
                  in p.output(), p.output())
            st = p.stats()
            check(st["cluster_manager.cds.update_attempt"] == 4, str(st))
            check(st["cluster_manager.cds.update_success"] == 1, str(st))
            check(roundtrip(pa) == b"ping", "the old set still serves")
            # A good one after them applies.
            cds.write(cds_file("good2", []))
            wait_success(p, 2)
            wait_for(lambda: refused(pa), 2, what="a to be removed")


def test_a_watched_directory_symlink_swap_is_an_update():
    with LoadEcho() as e1, LoadEcho() as e2:
        pa = free_port()
        d = run_subdir("cm-")
        # Kubernetes' ConfigMap volume: ..data -> ..v1, cds.yaml -> ..data/cds.yaml.
        for v, port in (("..v1", e1.port), ("..v2", e2.port)):
            os.mkdir(os.path.join(d, v))
            with open(os.path.join(d, v, "cds.yaml"), "w") as f:
                f.write(cds_file(v, [cds_cluster("a", [port])]))
        os.symlink("..v1", os.path.join(d, "..data"))
        os.symlink("..data/cds.yaml", os.path.join(d, "cds.yaml"))
        src = "path_config_source: {path: %s/cds.yaml, watched_directory: {path: %s}}" % (d, d)
        with Proxy(boot([listener_yaml("la", pa, "a")], None, source=src)) as p:
            check(roundtrip(pa) == b"ping", "first set")
            check(p.stat("cluster.a.upstream_cx_total") == 1, str(p.stats()))
            os.symlink("..v2", os.path.join(d, "..data_tmp"))
            os.rename(os.path.join(d, "..data_tmp"), os.path.join(d, "..data"))
            wait_success(p, 2)
            check(p.stat("cluster_manager.cluster_modified") == 1, str(p.stats()))
            check(roundtrip(pa) == b"ping", "second set")
            check('version_info "..v2"' in p.output(), p.output())


def test_the_older_path_form_and_a_sighup_reload_beside_cds():
    with LoadEcho() as e1, LoadEcho() as e2:
        pa, ps = free_port(), free_port()
        cds = CdsDir(cds_file("1", [cds_cluster("a", [e1.port])]))
        listeners = [listener_yaml("la", pa, "a", stat_prefix="a")]
        cfg = boot(listeners, None, source="path: %s" % cds.path)
        with Proxy(cfg) as p:
            for _ in range(3):
                check(roundtrip(pa) == b"ping", "first set")
            live = connect(pa)
            live.sendall(b"x")
            check(live.recv(1) == b"x", "live")
            # A reload adds a listener and a static cluster; the dynamic cluster goes on.
            static = """
  - name: s
    type: STATIC
    connect_timeout: 2s
    load_assignment:
      cluster_name: s
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}
""" % e2.port
            with open(p.config_path, "w") as f:
                f.write(boot(listeners + [listener_yaml("ls", ps, "s", stat_prefix="s")], None,
                             source="path: %s" % cds.path, static_clusters=static))
            p.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "reload: generation 1 serving" in p.output(),
                     what="the reload to serve")
            check(roundtrip(pa) == b"ping", "the dynamic cluster after the reload")
            check(roundtrip(ps) == b"ping", "the static cluster after the reload")
            st = p.stats()
            # Its counters went on across the reload.
            check(st["cluster.a.upstream_cx_total"] == 5, str(st))
            check(st["cluster_manager.active_clusters"] == 2, str(st))
            check(st["cluster_manager.cds.update_attempt"] == 1, str(st))
            # An update after the reload reaches the new generation.
            cds.write(cds_file("2", [cds_cluster("a", [e2.port])]))
            wait_success(p, 2)
            check(roundtrip(pa) == b"ping", "after the update")
            live.sendall(b"y")
            check(live.recv(1) == b"y", "the live connection from before the reload")
            live.close()
            # tcpproxy-stat shows the dynamic cluster and the CDS version like any stat.
            r = p.statcli("--filter", r"^(cluster\.a\.upstream_cx_total|cluster_manager\.cds)")
            check(r.returncode == 0, r.stderr)
            check("cluster.a.upstream_cx_total: 6" in r.stdout, r.stdout)
            check("cluster_manager.cds.update_success: 2" in r.stdout, r.stdout)
            # A CDS cluster may not take a static cluster's name.
            cds.write(cds_file("3", [cds_cluster("s", [e2.port])]))
            p.wait_stat("cluster_manager.cds.update_rejected", 1)
            check('cluster "s" is in static_resources; CDS cannot change it' in p.output(),
                  p.output())


def test_a_reload_that_removes_cds_config_removes_the_dynamic_clusters_in_the_workers():
    """docs/envoy-compat.md: "a removed [cds_config] removes every dynamic cluster". The master
    counts them removed and sends its workers the empty set; the workers must apply it (the
    empty set has no text to decode), so that a connection to a former dynamic cluster ends
    with no_route in the old generation's workers and in the new one's."""
    with LoadEcho() as e1:
        pa = free_port()
        cds = CdsDir(cds_file("1", [cds_cluster("a", [e1.port])]))
        listeners = [listener_yaml("la", pa, "a", stat_prefix="a")]
        with Proxy(boot(listeners, cds.path)) as p:
            check(roundtrip(pa) == b"ping", "the dynamic cluster")
            with open(p.config_path, "w") as f:
                f.write("static_resources:\n  listeners:" + "".join(listeners))
            p.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "reload: generation 1 serving" in p.output(),
                     what="the reload to serve")
            check(p.stat("cluster_manager.cluster_removed") == 1, str(p.stats()))
            check("does not decode" not in p.output(), p.output())
            for _ in range(4):
                check(refused(pa), "a removed dynamic cluster still serves")
            check(p.stat("tcp.a.downstream_cx_no_route") == 4, str(p.stats()))


def test_a_reload_to_a_cds_config_whose_directory_is_missing_is_refused():
    """At start a cds_config whose directory cannot be watched is fatal (exit 1). A reload to
    one must fail the same way, the serving generation and its dynamic clusters unchanged,
    rather than serve on with CDS gone (every dynamic cluster removed) and report success."""
    with LoadEcho() as e1:
        pa = free_port()
        cds = CdsDir(cds_file("1", [cds_cluster("a", [e1.port])]))
        listeners = [listener_yaml("la", pa, "a", stat_prefix="a")]
        with Proxy(boot(listeners, cds.path)) as p:
            check(roundtrip(pa) == b"ping", "the dynamic cluster")
            with open(p.config_path, "w") as f:
                f.write(boot(listeners, os.path.join(cds.dir, "missing", "cds.yaml")))
            p.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "reload failed" in p.output() or
                     "reload: generation 1 serving" in p.output(), what="the reload's outcome")
            check(p.stat("server.reload_failed") == 1, p.output())
            check(p.stat("cluster_manager.cluster_removed") == 0, str(p.stats()))
            check(roundtrip(pa) == b"ping", "the dynamic cluster after the refused reload")
            # The old source is still watched.
            cds.write(cds_file("2", [cds_cluster("a", [e1.port]), cds_cluster("b", [e1.port])]))
            wait_success(p, 2)


def test_a_reload_whose_static_cluster_is_named_like_a_dynamic_one_is_refused():
    """A CDS update may not name a static cluster ("CDS cannot change it"). A reload that adds
    a static cluster named like a current dynamic one must not make both live under one name
    (the static one silently shadowing the dynamic one, cluster_manager.active_clusters
    counting the name twice, /clusters listing it twice): it is refused, the old generation
    serving on."""
    with LoadEcho() as e1, LoadEcho() as e2:
        pa = free_port()
        cds = CdsDir(cds_file("1", [cds_cluster("a", [e1.port])]))
        listeners = [listener_yaml("la", pa, "a", stat_prefix="a")]
        with Proxy(boot(listeners, cds.path)) as p:
            check(roundtrip(pa) == b"ping", "the dynamic cluster")
            static = """
  - name: a
    type: STATIC
    connect_timeout: 2s
    load_assignment:
      cluster_name: a
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}
""" % e2.port
            with open(p.config_path, "w") as f:
                f.write(boot(listeners, cds.path, static_clusters=static))
            p.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "reload failed" in p.output() or
                     "reload: generation 1 serving" in p.output(), what="the reload's outcome")
            check(p.stat("server.reload_failed") == 1, p.output())
            check(p.stat("cluster_manager.active_clusters") == 1, str(p.stats()))


def test_envoys_quick_start_files():
    """Envoy's "dynamic from filesystem" quick start (tests/fixtures/real-xds/): its bootstrap's
    cds_config and lds_config load (validate says the LDS file is not on this machine); its
    cds.yaml (a STRICT_DNS cluster with HTTP/2 options and upstream TLS) loads as it is
    (resolving www.envoyproxy.io needs no network to load)."""
    import subprocess
    from harness import ROOT, TCPPROXY
    real = os.path.join(ROOT, "tests", "fixtures", "real-xds")
    boot_path = os.path.join(real, "envoy-dynamic-filesystem-demo.yaml")
    r = subprocess.run([TCPPROXY, "--mode", "validate", "-c", boot_path], capture_output=True,
                       text=True)
    # The bootstrap loads; --mode validate also reads its LDS file, which is not here.
    check(r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr))
    check(r.stderr.strip().splitlines() == [
        "/var/lib/envoy/lds.yaml: cannot read: No such file or directory"], r.stderr)
    cds = CdsDir(open(os.path.join(real, "envoy-dynamic-cds-demo.yaml")).read())
    pa = free_port()
    with Proxy(boot([listener_yaml("la", pa, "example_proxy_cluster")], cds.path)) as p:
        wait_success(p, 1)
        st = p.stats()
        check(st["cluster_manager.cluster_added"] == 1, str(st))
        check(st["cluster_manager.cds.update_rejected"] == 0, p.output())
        check("cluster.example_proxy_cluster.update_attempt" in st, str(st))


def cds_breaker(max_connections=None):
    t = "\n  circuit_breakers:\n    thresholds:\n    - priority: DEFAULT\n      track_remaining: true"
    if max_connections is not None:
        t += "\n      max_connections: %d" % max_connections
    return t


def _hold(port):
    """Connects and has one byte echoed: the socket if it went through, else None."""
    s = connect(port)
    s.settimeout(5)
    s.sendall(b"x")
    try:
        got = s.recv(1)
    except ConnectionResetError:
        got = b""
    if got == b"x":
        return s
    s.close()
    return None


def test_circuit_breakers_of_cds_clusters_count_across_workers():
    """A CDS cluster's circuit breaker is enforced across the workers as a static cluster's:
    max_connections 10, 50 clients held over 2 workers: exactly 10 through, 40 upstream_cx_overflow,
    the master's gauges from the shared counters. One without circuit_breakers gets Envoy's
    defaults (1024). A changed definition keeps counting the connections it has: raised to 12,
    two more go through and the third overflows. A cluster added later gets its own breaker."""
    from harness import EchoServer
    with EchoServer() as up:
        pa, pb, pc = free_port(), free_port(), free_port()
        cds = CdsDir(cds_file("1", [cds_cluster("dyn", [up.port], cds_breaker(10)),
                                    cds_cluster("dflt", [up.port], cds_breaker())]))
        cfg = boot([listener_yaml("la", pa, "dyn"), listener_yaml("lb", pb, "dflt"),
                    listener_yaml("lc", pc, "late")], cds.path)
        cb = "cluster.dyn.circuit_breakers.default."
        with Proxy(cfg, concurrency=2) as p:
            wait_success(p, 1)
            p.wait_stat(cb + "remaining_cx", 10)
            p.wait_stat("cluster.dflt.circuit_breakers.default.remaining_cx", 1024)
            check(p.stat(cb + "cx_open") == 0, str(p.stats()))
            check(p.stat("cluster.dflt.circuit_breakers.default.remaining_pending") == 1024,
                  str(p.stats()))
            held, refused = [], 0
            for _ in range(50):
                s = _hold(pa)
                if s:
                    held.append(s)
                else:
                    refused += 1
            check(len(held) == 10, "%d connections through, want 10" % len(held))
            check(refused == 40, "%d refused, want 40" % refused)
            p.wait_stat("cluster.dyn.upstream_cx_overflow", 40)
            p.wait_stat(cb + "cx_open", 1)
            p.wait_stat(cb + "remaining_cx", 0)
            check(p.stat("cluster.dyn.upstream_cx_total") == 10, str(p.stats()))
            check(p.stat("cluster.dyn.upstream_cx_active") == 10, str(p.stats()))
            # The other cluster's breaker is its own.
            s = _hold(pb)
            check(s is not None, "dflt is not limited by dyn's breaker")
            held.append(s)
            p.wait_stat("cluster.dflt.circuit_breakers.default.remaining_cx", 1023)

            cds.write(cds_file("2", [cds_cluster("dyn", [up.port], cds_breaker(12)),
                                     cds_cluster("dflt", [up.port], cds_breaker()),
                                     cds_cluster("late", [up.port], cds_breaker(1))]))
            wait_success(p, 2)
            check(p.stat("cluster_manager.cluster_modified") == 1, str(p.stats()))
            p.wait_stat(cb + "remaining_cx", 2)
            p.wait_stat(cb + "cx_open", 0)
            more = [_hold(pa) for _ in range(3)]
            check(more[0] is not None and more[1] is not None and more[2] is None,
                  "two more through after the raise, the third refused: %r" % more)
            held += [s for s in more if s]
            p.wait_stat("cluster.dyn.upstream_cx_overflow", 41)
            p.wait_stat(cb + "remaining_cx", 0)
            s = _hold(pc)
            check(s is not None, "late's first connection goes through")
            held.append(s)
            check(_hold(pc) is None, "late's second overflows its max_connections 1")
            p.wait_stat("cluster.late.upstream_cx_overflow", 1)
            p.wait_stat("cluster.late.circuit_breakers.default.cx_open", 1)
            for s in held:
                s.close()
            p.wait_stat("cluster.dyn.upstream_cx_active", 0)
            p.wait_stat(cb + "remaining_cx", 12)
            p.wait_stat("cluster.late.circuit_breakers.default.remaining_cx", 1)
            p.wait_stat("cluster.dflt.circuit_breakers.default.remaining_cx", 1024)


def test_a_killed_workers_counts_leave_a_cds_breaker():
    """A SIGKILLed worker never gives its counts back: the master zeroes its share of every CDS
    breaker when it reaps it, so the breaker does not stay shut, and still holds after."""
    from harness import EchoServer
    with EchoServer() as up:
        pa = free_port()
        cds = CdsDir(cds_file("1", [cds_cluster("dyn", [up.port], cds_breaker(2))]))
        cb = "cluster.dyn.circuit_breakers.default."
        with Proxy(boot([listener_yaml("la", pa, "dyn")], cds.path), concurrency=1) as p:
            wait_success(p, 1)
            held = [_hold(pa), _hold(pa)]
            check(all(held), "two within the limit")
            p.wait_stat(cb + "cx_open", 1)
            (worker,) = p.worker_pids()
            os.kill(worker, signal.SIGKILL)
            wait_for(lambda: p.workers_ready(2) and p.worker_pids() not in ([], [worker]),
                     what="the worker restarted")
            for s in held:
                s.close()
            held = [_hold(pa), _hold(pa)]
            check(all(held), "two served after the restart")
            check(_hold(pa) is None, "the limit still holds after the restart")
            p.wait_stat("cluster.dyn.upstream_cx_overflow", 1)
            for s in held:
                s.close()
            p.wait_stat(cb + "remaining_cx", 2)


UP_TLS_TYPE = ("type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
               "UpstreamTlsContext")


def cds_up_tls(ca, san, cert_pair=None):
    """A CDS cluster's transport_socket: TLS to the upstream, verified against ca and san."""
    own = ""
    if cert_pair:
        own = """
        tls_certificates:
        - certificate_chain: {filename: %s}
          private_key: {filename: %s}""" % cert_pair
    return """
  transport_socket:
    name: envoy.transport_sockets.tls
    typed_config:
      "@type": %s
      sni: up.test
      common_tls_context:%s
        validation_context:
          trusted_ca: {filename: %s}
          match_typed_subject_alt_names:
          - san_type: DNS
            matcher: {exact: %s}""" % (UP_TLS_TYPE, own, ca, san)


def _line_through(port, line):
    s = connect(port)
    s.settimeout(10)
    try:
        s.sendall(line)
        got = b""
        while not got.endswith(b"\n"):
            b = s.recv(100)
            if not b:
                break
            got += b
        return got
    except OSError:
        return b""
    finally:
        s.close()


def test_upstream_tls_of_cds_clusters():
    """A CDS cluster with transport_socket (UpstreamTlsContext) re-encrypts to an openssl
    s_server with mTLS and SAN verification: the worker builds the cluster's context when it
    applies the update; its ssl.* stats count under cluster.<name>. One verifying the wrong SAN
    fails its handshakes, counted. A certificate file that cannot be read refuses the update
    with its position, and the old set serves on. The files are read by the master, which
    passes their bytes to the workers: a worker running as nobody serves a CDS cluster whose
    key only root can read."""
    from test_tls import SServer, cert, ssl_stat
    import shutil
    # The client key only root may read: the workers (--user nobody) get its bytes.
    keydir = run_subdir("cds-key-")
    key = os.path.join(keydir, "client.key")
    shutil.copy(cert("client.key"), key)
    os.chmod(key, 0o600)
    pair = (cert("client.pem"), key)
    with SServer("up", "-Verify", "1", "-CAfile", cert("ca.pem")) as up:
        pa, pb = free_port(), free_port()
        cds = CdsDir(cds_file("1", [
            cds_cluster("tlsup", [up.port], cds_up_tls(cert("ca.pem"), "up.test", pair)),
            cds_cluster("wrong", [up.port], cds_up_tls(cert("ca.pem"), "nope.test"))]))
        cfg = boot([listener_yaml("la", pa, "tlsup"), listener_yaml("lb", pb, "wrong")],
                   cds.path)
        user = ["--user", "nobody"] if os.geteuid() == 0 else []
        with Proxy(cfg, concurrency=2, extra_args=user) as p:
            wait_success(p, 1)
            for _ in range(4):
                got = _line_through(pa, b"hello\n")
                check(got == b"olleh\n", "s_server reversed the line, got %r" % got)
            p.wait_stat("cluster.tlsup.ssl.handshake", 4)
            check(_line_through(pb, b"hello\n") == b"", "a wrong SAN gets no answer")
            p.wait_stat("cluster.wrong.ssl.fail_verify_san", 1)
            check(p.stat("cluster.wrong.ssl.handshake") == 0, str(p.stats()))
            # An unreadable certificate: refused at its place, the old set serves.
            bad = cds_cluster("tlsup", [up.port],
                              cds_up_tls(os.path.join(keydir, "missing-ca.pem"), "up.test"))
            cds.write(cds_file("2", [bad]))
            p.wait_stat("cluster_manager.cds.update_rejected", 1)
            out = p.output()
            check("resources[0].transport_socket.typed_config.common_tls_context."
                  "validation_context.trusted_ca.filename: cannot open" in out, out)
            check(_line_through(pa, b"again\n") == b"niaga\n", "the old set serves")
            p.wait_stat("cluster.tlsup.ssl.handshake", 5)


def _who(port):
    """The address the backend answered on, or "" when the proxy closed the connection."""
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


def test_a_strict_dns_cds_cluster_resolves_in_the_master():
    """A CDS cluster of type STRICT_DNS (and one LOGICAL_DNS) resolves through dnsmasq in the
    master and its workers get the host sets: connections follow the records. A changed
    definition resolves again under its new id; a removed one stops, and its listener's new
    connections count no_route."""
    from harness import Server
    from test_dns import CARES, Dnsmasq, whoami_handler
    up = free_port()
    servers = [Server(whoami_handler, host=a, port=up)
               for a in ("127.0.0.2", "127.0.0.3", "127.0.0.4")]
    try:
        with Dnsmasq("127.0.0.2 be.tp.test\n127.0.0.3 be.tp.test\n") as dns:
            def dns_extra(typ, refresh="0.3s"):
                return """
  type: %s
  dns_refresh_rate: %s
  typed_dns_resolver_config:
    name: envoy.network.dns_resolver.cares
    typed_config:
      "@type": %s
      resolvers: [{socket_address: {address: 127.0.0.1, port_value: %d}}]
      dns_resolver_options: {no_default_search_domain: true}""" % (typ, refresh, CARES,
                                                                    dns.port)

            def dns_cds(name, typ, refresh="0.3s"):
                return """
- "@type": %s
  name: %s
  connect_timeout: 2s%s
  load_assignment:
    cluster_name: %s
    endpoints:
    - lb_endpoints:
      - endpoint: {address: {socket_address: {address: be.tp.test, port_value: %d}}}
""" % (CLUSTER_TYPE, name, dns_extra(typ, refresh), name, up)

            pa, pb, admin = free_port(), free_port(), free_port()
            cds = CdsDir(cds_file("1", [dns_cds("d", "STRICT_DNS"),
                                        dns_cds("l", "LOGICAL_DNS")]))
            cfg = boot([listener_yaml("la", pa, "d"), listener_yaml("lb", pb, "l")], cds.path,
                       admin_port=admin)
            with Proxy(cfg, concurrency=2) as p:
                wait_success(p, 1)
                p.wait_stat("cluster.d.membership_total", 2)
                p.wait_stat("cluster.l.membership_total", 1)
                check(p.stat("cluster.d.update_success") >= 1, str(p.stats()))
                wait_for(lambda: {_who(pa) for _ in range(20)} == {"127.0.0.2", "127.0.0.3"},
                         what="both records used by the workers")
                check(_who(pb) in ("127.0.0.2", "127.0.0.3"), "LOGICAL_DNS: the first address")
                page = admin_get(admin, "/clusters")
                check("d::127.0.0.2:%d::hostname::be.tp.test\n" % up in page, page)
                # The records move: the master resolves again and publishes.
                dns.change("127.0.0.4 be.tp.test\n")
                wait_for(lambda: p.stat("cluster.d.membership_total") == 1 and
                         {_who(pa) for _ in range(6)} == {"127.0.0.4"},
                         what="the new record to be used")
                # A changed definition: a new resolver for it, the old one stops.
                cds.write(cds_file("2", [dns_cds("d", "STRICT_DNS", "0.4s"),
                                         dns_cds("l", "LOGICAL_DNS")]))
                wait_success(p, 2)
                check(p.stat("cluster_manager.cluster_modified") == 1, str(p.stats()))
                wait_for(lambda: _who(pa) == "127.0.0.4", what="the new definition to serve")
                # Removed: no route; the master stops resolving it.
                cds.write(cds_file("3", [dns_cds("l", "LOGICAL_DNS")]))
                wait_success(p, 3)
                wait_for(lambda: refused(pa), what="the removed cluster to be gone")
                check(p.stat("tcp.test.downstream_cx_no_route") >= 1, str(p.stats()))
                before = p.stat("cluster.d.update_attempt")
                time.sleep(1.0)
                check(p.stat("cluster.d.update_attempt") == before,
                      "a removed cluster is no longer resolved: %s" % p.stats())
                check(_who(pb) == "127.0.0.4", "the other cluster serves on")
                # A reload: the new generation resolves the CDS cluster itself and serves it.
                dns.change("127.0.0.3 be.tp.test\n")
                p.proc.send_signal(signal.SIGHUP)
                wait_for(lambda: "reload: generation 1 serving" in p.output(),
                         what="the reload to serve")
                wait_for(lambda: _who(pb) == "127.0.0.3", what="the new generation's answer")
    finally:
        for s in servers:
            s.close()


def test_health_checks_and_outlier_detection_of_a_cds_cluster():
    """A CDS cluster with a TCP health check: the master checks its hosts, a host that stops
    listening leaves the rotation of every worker, and comes back. A CDS cluster with
    outlier_detection: the workers report connect failures by the CDS cluster's id, and the
    master ejects the refusing host."""
    from harness import Server
    from test_health import TCP_HC, stop_listening, whoami_handler
    up = free_port()
    a = Server(whoami_handler, host="127.0.0.2", port=up)
    b = Server(whoami_handler, host="127.0.0.3", port=up)
    good = Server(whoami_handler, host="127.0.0.5", port=up)
    # 127.0.0.6:up: nothing listens there, so every connect is refused.
    try:
        def eps(addrs):
            return "".join("""
      - endpoint: {address: {socket_address: {address: %s, port_value: %d}}}""" % (x, up)
                           for x in addrs)

        def cl(name, addrs, extra):
            return """
- "@type": %s
  name: %s
  connect_timeout: 1s%s
  load_assignment:
    cluster_name: %s
    endpoints:
    - lb_endpoints:%s
""" % (CLUSTER_TYPE, name, extra, name, eps(addrs))

        hc = "\n  health_checks:" + TCP_HC.replace("\n    ", "\n  ")
        od = """
  outlier_detection:
    consecutive_5xx: 3
    interval: 0.1s
    base_ejection_time: 30s
    max_ejection_percent: 50"""
        pa, pb, admin = free_port(), free_port(), free_port()
        cds = CdsDir(cds_file("1", [cl("h", ["127.0.0.2", "127.0.0.3"], hc),
                                    cl("o", ["127.0.0.5", "127.0.0.6"], od)]))
        one = "\n          max_connect_attempts: 1"
        cfg = boot([listener_yaml("la", pa, "h"),
                    listener_yaml("lb", pb, "o", stat_prefix="od", proxy_extra=one)],
                   cds.path, admin_port=admin)
        with Proxy(cfg, concurrency=2) as p:
            wait_success(p, 1)
            p.wait_stat("cluster.h.membership_healthy", 2)
            p.wait_stat("cluster.h.health_check.healthy", 2)
            wait_for(lambda: {_who(pa) for _ in range(10)} == {"127.0.0.2", "127.0.0.3"},
                     what="both hosts in rotation")
            stop_listening(a)
            p.wait_stat("cluster.h.membership_healthy", 1)
            page = admin_get(admin, "/clusters")
            check("h::127.0.0.2:%d::health_flags::/failed_active_hc\n" % up in page, page)
            seen = {_who(pa) for _ in range(10)}
            check(seen == {"127.0.0.3"}, "with .2 unhealthy connections went to %s" % seen)
            a = Server(whoami_handler, host="127.0.0.2", port=up)
            p.wait_stat("cluster.h.membership_healthy", 2)

            check(p.stat("cluster.o.outlier_detection.ejections_active") == 0, str(p.stats()))
            failed = 0
            for _ in range(60):
                if _who(pb) == "":
                    failed += 1
                if failed >= 3:
                    break
            p.wait_stat("cluster.o.outlier_detection.ejections_enforced_total", 1)
            p.wait_stat("cluster.o.outlier_detection.ejections_active", 1)
            seen = {_who(pb) for _ in range(10)}
            check(seen == {"127.0.0.5"}, "after the ejection connections went to %s" % seen)
            page = admin_get(admin, "/clusters")
            check("o::127.0.0.6:%d::health_flags::/failed_outlier_check\n" % up in page, page)
            check("malformed host report" not in p.output(), p.output())
    finally:
        for s in (a, b, good):
            s.close()


def test_http2_tunnels_to_a_cds_cluster():
    """A CDS cluster with HTTP/2 protocol options carries tcp_proxy's tunnels as streams of one
    shared connection per worker (node's HTTP/2 CONNECT terminator, to an echo server). A
    changed definition gets its own connection; the old one, idle, closes at the update."""
    from harness import EchoServer
    from test_tunnel import h2, terminator
    with terminator("h2") as t, EchoServer() as up:
        pa = free_port()
        tun = '\n          tunneling_config:\n            hostname: "127.0.0.1:%d"' % up.port
        opts = h2("").replace("\n    ", "\n  ")
        cds = CdsDir(cds_file("1", [cds_cluster("t", [t.port], opts)]))
        with Proxy(boot([listener_yaml("la", pa, "t", proxy_extra=tun)], cds.path),
                   concurrency=1) as p:
            wait_success(p, 1)
            for i in range(3):
                got = roundtrip(pa, b"hello %d" % i)
                check(got == b"hello %d" % i, "echoed through the tunnel: %r" % got)
            st = p.stats()
            check(st["cluster.t.upstream_cx_http2_total"] == 1, "one shared connection: %s" % st)
            check(st["cluster.t.upstream_rq_200"] == 3, str(st))
            # A new definition: a new connection; the old one, idle, is closed.
            cds.write(cds_file("2", [cds_cluster("t", [t.port], "\n  per_connection_buffer_"
                                                 "limit_bytes: 65536" + opts)]))
            wait_success(p, 2)
            check(roundtrip(pa, b"again") == b"again", "the new definition tunnels")
            p.wait_stat("cluster.t.upstream_cx_http2_total", 2)
            p.wait_stat("cluster.t.upstream_cx_destroy_local", 1)
            p.wait_stat("cluster.t.upstream_cx_active", 1)


SFS_TYPE = ("type.googleapis.com/envoy.extensions.filters.network.set_filter_state.v3."
            "Config")


def od_listener(name, port, cluster, prefix, timeout, cds_path, state_cluster=None):
    """A listener whose tcp_proxy waits for its cluster from cds_path (on_demand); with
    state_cluster, a set_filter_state filter names the cluster (envoy.tcp_proxy.cluster)."""
    pre = ""
    if state_cluster:
        pre = """
      - name: envoy.filters.network.set_filter_state
        typed_config:
          "@type": %s
          on_new_connection:
          - object_key: envoy.tcp_proxy.cluster
            format_string: {text_format_source: {inline_string: "%s"}}""" % (SFS_TYPE,
                                                                            state_cluster)
    return """
  - name: %s
    address:
      socket_address: {address: 127.0.0.1, port_value: %d}
    filter_chains:
    - filters:%s
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: %s
          cluster: %s
          on_demand:
            odcds_config:
              path_config_source: {path: %s}
              resource_api_version: V3
            resources_locator: "xdstp://ignored/envoy.config.cluster.v3.Cluster/%s"
            timeout: %s
""" % (name, port, pre, prefix, cluster, cds_path, cluster, timeout)


def send_and_wait(port, payload):
    """Connects and sends payload at once (before the cluster is known); returns the socket."""
    s = connect(port)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    return s


def read_to_eof(s, timeout=10):
    s.settimeout(timeout)
    got = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except ConnectionResetError:
        pass
    s.close()
    return got


def test_on_demand_clusters_success_timeout_and_missing():
    """tcp_proxy on_demand with a file source (tcpproxy's extension): the connection waits,
    without holding its worker, for its cluster; it proceeds when an update brings it (300 ms
    later here), is closed when an update comes without it (missing) or when its timeout
    passes (timeout); each counted exactly."""
    with LoadEcho() as e1:
        ps, pt, pm, pf = free_port(), free_port(), free_port(), free_port()
        cds = CdsDir(cds_file("0", []))
        listeners = [od_listener("ls", ps, "od_s", "s", "10s", cds.path),
                     od_listener("lt", pt, "od_t", "t", "0.5s", cds.path),
                     od_listener("lm", pm, "od_m", "m", "10s", cds.path),
                     od_listener("lf", pf, "od_cfg", "f", "10s", cds.path,
                                 state_cluster="od_f")]
        # No dynamic_resources: the on_demand source is the CDS file.
        cfg = "static_resources:\n  listeners:" + "".join(listeners)
        with Proxy(cfg) as p:
            check(p.stat("cluster_manager.cds.update_success") == 1, str(p.stats()))
            # Timeout: nothing brings od_t; closed after 0.5 s, not before.
            t0 = time.monotonic()
            s = send_and_wait(pt, b"never")
            check(read_to_eof(s) == b"", "a timed-out connection got bytes")
            waited = time.monotonic() - t0
            check(0.4 <= waited < 3, "timed out after %.2f s" % waited)
            p.wait_stat("tcp.t.on_demand_cluster_timeout", 1)

            # Success: od_s appears 300 ms after the connection, which then relays.
            s = send_and_wait(ps, b"hello on demand")
            time.sleep(0.3)
            check(p.stat("tcp.s.on_demand_cluster_attempt") == 1, str(p.stats()))
            cds.write(cds_file("1", [cds_cluster("od_s", [e1.port])]))
            check(read_to_eof(s) == b"hello on demand", "the waiting connection")
            # Known now: the next connection does not wait.
            check(roundtrip(ps) == b"ping", "od_s known")

            # Missing: an update that does not bring od_m closes its waiting connection.
            s = send_and_wait(pm, b"x")
            p.wait_stat("tcp.m.on_demand_cluster_attempt", 1)
            cds.write(cds_file("2", [cds_cluster("od_s", [e1.port]),
                                     cds_cluster("other", [e1.port])]))
            check(read_to_eof(s) == b"", "a missing cluster's connection got bytes")
            p.wait_stat("tcp.m.on_demand_cluster_missing", 1)

            # The filter state names the cluster (envoy.tcp_proxy.cluster), not the config.
            s = send_and_wait(pf, b"via filter state")
            p.wait_stat("tcp.f.on_demand_cluster_attempt", 1)
            cds.write(cds_file("3", [cds_cluster("od_s", [e1.port]),
                                     cds_cluster("od_f", [e1.port])]))
            check(read_to_eof(s) == b"via filter state", "the filter state's cluster")

            st = p.stats()
            for prefix, want in (("s", (1, 1, 0, 0)), ("t", (1, 0, 0, 1)),
                                 ("m", (1, 0, 1, 0)), ("f", (1, 1, 0, 0))):
                got = tuple(st["tcp.%s.on_demand_cluster_%s" % (prefix, k)]
                            for k in ("attempt", "success", "missing", "timeout"))
                check(got == want, "tcp.%s: %s != %s\n%s" % (prefix, got, want, st))
                # Envoy's onClusterDiscoveryCompletion failure path counts
                # downstream_cx_no_route too (missing and timeout), beside flag NC.
                no_route = 1 if prefix in ("t", "m") else 0
                check(st["tcp.%s.downstream_cx_no_route" % prefix] == no_route, str(st))
            check(st["cluster.od_s.upstream_cx_total"] == 2, str(st))


def test_on_demand_a_fin_without_bytes_while_waiting_ends_the_session():
    """ON_DOWNSTREAM_DATA: a FIN with no byte before it never opens an upstream connection and
    ends the session (Envoy #42006, tp_proxy_on_data). The same FIN that arrives while the
    connection waits for its on-demand cluster must end it once the cluster comes, not leave
    it open until idle_timeout."""
    with LoadEcho() as e1:
        ps = free_port()
        cds = CdsDir(cds_file("0", []))
        listener = od_listener("ls", ps, "od_s", "s", "20s", cds.path).replace(
            "          on_demand:",
            "          upstream_connect_mode: ON_DOWNSTREAM_DATA\n"
            "          max_early_data_bytes: 1024\n"
            "          on_demand:")
        with Proxy("static_resources:\n  listeners:" + listener) as p:
            s = connect(ps)
            s.shutdown(socket.SHUT_WR)
            p.wait_stat("tcp.s.on_demand_cluster_attempt", 1)
            time.sleep(0.2)
            cds.write(cds_file("1", [cds_cluster("od_s", [e1.port])]))
            wait_success(p, 2)
            p.wait_stat("tcp.s.on_demand_cluster_success", 1)
            check(read_to_eof(s, timeout=3) == b"", "the FIN-only connection got bytes")
            check(p.stat("cluster.od_s.upstream_cx_total") == 0, str(p.stats()))


def test_on_demand_a_cluster_with_no_host_does_not_leave_a_timer_on_a_freed_slot():
    """A waiting connection whose cluster comes with no endpoint ends at once (no healthy
    upstream, UH) when the update arrives. Its slot is freed; a session timer armed after that
    (max_downstream_connection_duration) stays in the worker's heap, the next connection in
    the slot zeroes it, and the heap then holds the same timer twice: when it is due the worker
    pops it forever (a hang). The worker must go on serving."""
    with LoadEcho() as e1:
        ps, pe = free_port(), free_port()
        cds = CdsDir(cds_file("0", [cds_cluster("echo", [e1.port])]))
        waiting = od_listener("ls", ps, "od_s", "s", "10s", cds.path).replace(
            "          on_demand:",
            "          max_downstream_connection_duration: 1s\n          on_demand:")
        echo = listener_yaml("le", pe, "echo", stat_prefix="e",
                             proxy_extra="\n          max_downstream_connection_duration: 1s")
        cfg = ("dynamic_resources:\n  cds_config:\n    path_config_source: {path: %s}\n"
               % cds.path + "static_resources:\n  listeners:" + waiting + echo)
        with Proxy(cfg, concurrency=1) as p:
            a = connect(ps)
            p.wait_stat("tcp.s.on_demand_cluster_attempt", 1)
            cds.write(cds_file("1", [cds_cluster("echo", [e1.port]), cds_cluster("od_s", [])]))
            p.wait_stat("cluster.od_s.upstream_cx_none_healthy", 1)
            time.sleep(0.2)
            # The next connection takes the freed slot.
            b = connect(pe)
            b.sendall(b"x")
            check(b.recv(1) == b"x", "the connection in the reused slot")
            time.sleep(2)
            s = connect(pe, timeout=3)
            s.settimeout(3)
            s.sendall(b"y")
            try:
                got = s.recv(1)
            except OSError as e:
                got = repr(e)
            check(got == b"y", "the worker stopped serving: %r" % (got,))
            s.close()
            b.close()
            a.close()


def test_on_demand_sources_must_be_the_one_cds_file():
    import subprocess
    from harness import TCPPROXY
    d = run_subdir("od-")
    cfg = os.path.join(d, "boot.yaml")
    with open(cfg, "w") as f:
        f.write("dynamic_resources:\n  cds_config: {path: %s/cds.yaml}\n"
                "static_resources:\n  listeners:" % d +
                od_listener("l", free_port(), "c", "p", "1s", d + "/other.yaml"))
    r = subprocess.run([TCPPROXY, "--mode", "validate", "-c", cfg], capture_output=True,
                       text=True)
    check(r.returncode == 1, r.stderr)
    check("on_demand.odcds_config: tcpproxy reads one CDS file: this must name the same path"
          in r.stderr, r.stderr)
