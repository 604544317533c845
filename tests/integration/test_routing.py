"""Routing to the right host (issue 13): weighted clusters, subsets by metadata with each
precedence and fallback, consistent hashing across reloads and host changes."""
import os
import signal
import socket
import threading

from harness import Proxy, check, free_port, recv_all, wait_for

TCP_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
SFS_TYPE = "type.googleapis.com/envoy.extensions.filters.network.set_filter_state.v3.Config"
SDM_TYPE = "type.googleapis.com/tcpproxy.filters.network.set_dynamic_metadata.v1.Config"


class NameServer:
    """Answers each connection with its name, then closes: which upstream a connection
    reached. One thread, accepting in a loop."""

    def __init__(self, name, host="127.0.0.1"):
        self.name = name.encode()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            try:
                c.sendall(self.name)
            except OSError:
                pass
            c.close()

    def close(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Upstreams:
    """Named servers, closed together."""

    def __init__(self, *names):
        self.by_name = {n: NameServer(n) for n in names}

    def __getitem__(self, name):
        return self.by_name[name]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for s in self.by_name.values():
            s.close()


def ask(port, src=None):
    """Connects through the proxy (from source address src if given); returns the name the
    upstream answered with ("" when the proxy closed the connection without one)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        if src:
            s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        return recv_all(s).decode()
    except ConnectionResetError:
        return ""
    finally:
        s.close()


def tally(port, n, src=None):
    counts = {}
    for _ in range(n):
        name = ask(port, src)
        counts[name] = counts.get(name, 0) + 1
    return counts


def endpoint(port, metadata=None, extra=""):
    md = ""
    if metadata:
        md = "\n          metadata: {filter_metadata: {envoy.lb: %s}}" % metadata
    return """
        - endpoint:
            address:
              socket_address: {address: 127.0.0.1, port_value: %d}%s%s""" % (port, md, extra)


def cluster(name, endpoints, lb="ROUND_ROBIN", extra=""):
    return """
  - name: %s
    connect_timeout: 2s
    lb_policy: %s%s
    load_assignment:
      cluster_name: %s
      endpoints:
      - lb_endpoints:%s
""" % (name, lb, extra, name, "".join(endpoints))


def listener(name, port, proxy, filters=""):
    """A listener whose chain is filters (YAML list entries) then tcp_proxy with proxy (YAML
    lines of its typed_config, after stat_prefix)."""
    return """
  - name: %s
    address:
      socket_address: {address: 127.0.0.1, port_value: %d}
    filter_chains:
    - filters:%s
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": %s
          stat_prefix: %s%s
""" % (name, port, filters, TCP_TYPE, name, proxy)


def bootstrap(listeners, clusters):
    return "static_resources:\n  listeners:" + "".join(listeners) + "  clusters:" + \
        "".join(clusters)


def set_metadata(key, fmt, value_type="STRING"):
    """A set_dynamic_metadata filter (namespace envoy.lb) setting key from the format fmt."""
    return """
      - name: tcpproxy.set_dynamic_metadata
        typed_config:
          "@type": %s
          on_new_connection:
          - key: %s
            value_type: %s
            format_string: {text_format_source: {inline_string: "%s"}}""" % (
        SDM_TYPE, key, value_type, fmt)


def test_weighted_clusters_split_by_weight_within_binomial_tolerance():
    with Upstreams("a", "b") as up:
        port = free_port()
        cfg = bootstrap([listener("w", port, """
          weighted_clusters:
            clusters:
            - {name: a, weight: 1}
            - {name: b, weight: 3}""")],
                        [cluster("a", [endpoint(up["a"].port)]),
                         cluster("b", [endpoint(up["b"].port)])])
        with Proxy(cfg) as p:
            n = 2000
            counts = tally(port, n)
            check(set(counts) <= {"a", "b"}, "only a and b answer: %s" % counts)
            # Binomial(2000, 1/4): mean 500, sd 19.4; 5 sd either way.
            check(abs(counts.get("a", 0) - 500) <= 97, "a got %s of 2000 (want 500 +- 97)" %
                  counts.get("a", 0))
            st = p.stats()
            check(st["cluster.a.upstream_cx_total"] + st["cluster.b.upstream_cx_total"] == n,
                  "one upstream connection each: %s" % st)
            check(st["cluster.a.upstream_cx_total"] == counts.get("a", 0), str(st))


def test_weighted_retry_picks_the_cluster_again():
    dead = free_port()  # refuses connections
    with Upstreams("live") as up:
        port = free_port()
        cfg = bootstrap([listener("w", port, """
          max_connect_attempts: 20
          weighted_clusters:
            clusters:
            - {name: dead, weight: 1}
            - {name: live, weight: 1}""")],
                        [cluster("dead", [endpoint(dead)]),
                         cluster("live", [endpoint(up["live"].port)])])
        with Proxy(cfg) as p:
            counts = tally(port, 200)
            # A retry that stayed on the dead cluster would fail every attempt: each
            # connection reaching live shows the pick made again (all 20 dead: 2^-20).
            check(counts == {"live": 200}, "every connection reaches live: %s" % counts)
            st = p.stats()
            fails = st["cluster.dead.upstream_cx_connect_fail"]
            check(40 <= fails <= 400, "about half of the first picks were dead: %s" % st)
            check(st["cluster.dead.upstream_cx_total"] == fails, str(st))
            check(st["cluster.live.upstream_cx_total"] == 200, str(st))
            check(st["cluster.dead.upstream_cx_connect_attempts_exceeded"] == 0, str(st))


def test_weighted_unknown_cluster_counts_no_route_and_filter_state_does_not_override():
    with Upstreams("a", "b") as up:
        p1, p2 = free_port(), free_port()
        override = """
      - name: envoy.filters.network.set_filter_state
        typed_config:
          "@type": %s
          on_new_connection:
          - object_key: envoy.tcp_proxy.cluster
            format_string: {text_format_source: {inline_string: "b"}}""" % SFS_TYPE
        cfg = bootstrap([listener("u", p1, """
          weighted_clusters:
            clusters:
            - {name: a, weight: 1}
            - {name: nope, weight: 1}"""),
                         listener("o", p2, """
          weighted_clusters: {clusters: [{name: a, weight: 1}]}""", filters=override)],
                        [cluster("a", [endpoint(up["a"].port)]),
                         cluster("b", [endpoint(up["b"].port)])])
        with Proxy(cfg) as p:
            counts = tally(p1, 200)
            check(set(counts) <= {"a", ""} and 40 <= counts.get("", 0) <= 160,
                  "about half find no route: %s" % counts)
            check(p.stat("tcp.u.downstream_cx_no_route") == counts.get("", 0),
                  "each counted: %s" % p.stats())
            # Envoy's getRouteFromEntries picks weighted clusters before it reads the filter
            # state: envoy.tcp_proxy.cluster = b changes nothing.
            check(tally(p2, 20) == {"a": 20}, "weighted clusters win over the filter state")
            check("unknown cluster \"nope\"" in p.output(), "the unknown name is warned about")


# Four hosts: version v1/v2 x stage prod/canary.
HOSTS = [("v1prod", "{version: v1, stage: prod}"), ("v2prod", "{version: v2, stage: prod}"),
         ("v1canary", "{version: v1, stage: canary}"), ("v2canary", "{version: v2, stage: canary}")]


def subset_cluster(name, up, subset, lb="ROUND_ROBIN"):
    return cluster(name, [endpoint(up[h].port, md) for h, md in HOSTS], lb,
                   "\n    lb_subset_config:" + subset)


def test_subset_criteria_precedence():
    with Upstreams(*[h for h, _ in HOSTS]) as up:
        ports = [free_port() for _ in range(4)]
        subset = """
      subset_selectors:
      - keys: [version, stage]"""
        top = "\n          metadata_match: {filter_metadata: {envoy.lb: %s}}"
        cfg = bootstrap([
            # 1. TcpProxy.metadata_match alone.
            listener("top", ports[0], "\n          cluster: c" +
                     top % "{version: v1, stage: prod}"),
            # 2. ClusterWeight.metadata_match alone.
            listener("percluster", ports[1], """
          weighted_clusters:
            clusters:
            - name: c
              weight: 1
              metadata_match: {filter_metadata: {envoy.lb: {version: v2, stage: canary}}}"""),
            # 3. Both: the cluster's values win over the top-level ones.
            listener("both", ports[2], top % "{version: v1, stage: prod}" + """
          weighted_clusters:
            clusters:
            - name: c
              weight: 1
              metadata_match: {filter_metadata: {envoy.lb: {stage: canary}}}"""),
            # 4. Dynamic metadata an earlier filter set, merged last.
            listener("dynamic", ports[3], "\n          cluster: c" +
                     top % "{version: v1, stage: prod}",
                     filters=set_metadata("version", "v2")),
        ], [subset_cluster("c", up, subset)])
        with Proxy(cfg) as p:
            want = ["v1prod", "v2canary", "v1canary", "v2prod"]
            for port, host in zip(ports, want):
                got = tally(port, 20)
                check(got == {host: 20}, "port %d: want %s, got %s" % (port, host, got))
            st = p.stats()
            check(st["cluster.c.lb_subsets_selected"] == 80, str(st))
            # Four subsets in each of the two workers, as each of Envoy's threads counts its own.
            check(st["cluster.c.lb_subsets_active"] == 8, str(st))
            check(st["cluster.c.lb_subsets_created"] == 8, str(st))
            check(st["cluster.c.lb_subsets_fallback"] == 0, str(st))


def test_subset_fallback_policies():
    with Upstreams(*[h for h, _ in HOSTS]) as up:
        ports = [free_port() for _ in range(5)]
        nomatch = "\n          metadata_match: {filter_metadata: {envoy.lb: " \
            "{version: v9, stage: prod}}}"
        sel = """
      subset_selectors:
      - keys: [version, stage]"""
        cfg = bootstrap(
            [listener("l%d" % i, ports[i], "\n          cluster: c%d" % i + nomatch)
             for i in range(4)] +
            [listener("l4", ports[4], "\n          cluster: c4" +
                      "\n          metadata_match: {filter_metadata: {envoy.lb: " +
                      "{version: v2, stage: nope}}}")],
            [subset_cluster("c0", up, sel),  # NO_FALLBACK, the default
             subset_cluster("c1", up, sel + "\n      fallback_policy: ANY_ENDPOINT"),
             subset_cluster("c2", up, sel + """
      fallback_policy: DEFAULT_SUBSET
      default_subset: {stage: canary}"""),
             subset_cluster("c3", up, sel + """
      fallback_policy: DEFAULT_SUBSET
      default_subset: {stage: none}
      panic_mode_any: true"""),
             subset_cluster("c4", up, """
      subset_selectors:
      - keys: [version]
      - keys: [version, stage]
        fallback_policy: KEYS_SUBSET
        fallback_keys_subset: [version]""")])
        with Proxy(cfg) as p:
            got = [tally(port, 40) for port in ports]
            check(got[0] == {"": 40}, "NO_FALLBACK closes: %s" % got[0])
            check(set(got[1]) == {h for h, _ in HOSTS}, "ANY_ENDPOINT: any host: %s" % got[1])
            check(set(got[2]) == {"v1canary", "v2canary"}, "DEFAULT_SUBSET: %s" % got[2])
            check(set(got[3]) == {h for h, _ in HOSTS}, "panic_mode_any: %s" % got[3])
            check(set(got[4]) == {"v2prod", "v2canary"}, "KEYS_SUBSET to version: %s" % got[4])
            st = p.stats()
            check(st["cluster.c0.upstream_cx_none_healthy"] == 40, "UH counted: %s" % st)
            check(st["cluster.c0.upstream_cx_total"] == 0, str(st))
            check(st["cluster.c1.lb_subsets_fallback"] == 40, str(st))
            check(st["cluster.c2.lb_subsets_fallback"] == 40, str(st))
            check(st["cluster.c3.lb_subsets_fallback_panic"] == 40, str(st))
            check(st["cluster.c3.lb_subsets_fallback"] == 0, str(st))
            check(st["cluster.c4.lb_subsets_selected"] == 40, "found again by version: %s" % st)


def test_subset_chosen_by_destination_port_through_dynamic_metadata():
    with Upstreams("h1", "h2") as up:
        p1, p2 = free_port(), free_port()
        # One chain, shared by both listeners: the port the client dialled picks the host.
        chain = """
    filter_chains: &chain
    - filters:%s
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": %s
          stat_prefix: t
          cluster: c""" % (set_metadata("port", "%DOWNSTREAM_LOCAL_PORT%", "NUMBER"), TCP_TYPE)
        cfg = """static_resources:
  listeners:
  - name: a
    address: {socket_address: {address: 127.0.0.1, port_value: %d}}%s
  - name: b
    address: {socket_address: {address: 127.0.0.1, port_value: %d}}
    filter_chains: *chain
  clusters:%s""" % (p1, chain, p2, cluster("c", [endpoint(up["h1"].port, "{port: %d}" % p1),
                                                 endpoint(up["h2"].port, "{port: %d}" % p2)],
                                         extra="""
    lb_subset_config:
      subset_selectors: [{keys: [port]}]"""))
        with Proxy(cfg):
            check(tally(p1, 10) == {"h1": 10}, "port %d goes to h1" % p1)
            check(tally(p2, 10) == {"h2": 10}, "port %d goes to h2" % p2)


SOURCES = ["127.%d.%d.%d" % (10 + i // 250, (i * 7) % 250 + 1, i % 250 + 1) for i in range(300)]


def where(port):
    """Each source address's host."""
    return {src: ask(port, src) for src in SOURCES}


def reload_to(p, config):
    """Writes config, reloads, and waits until only the new generation's workers are left."""
    epoch = p.stat("server.hot_restart_epoch")
    with open(p.config_path, "w") as f:
        f.write(config)
    p.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: p.stat("server.hot_restart_epoch") == epoch + 1, 30, what="the reload")
    wait_for(lambda: len(p.worker_pids()) == 2, 30, what="the old generation to exit")


def hash_config(port, up, names, lb):
    return bootstrap([listener("h", port, "\n          cluster: c\n"
                               "          hash_policy: [{source_ip: {}}]")],
                     [cluster("c", [endpoint(up[n].port) for n in names], lb)])


def consistent_hashing(lb):
    """Returns (kept across a reload, kept when a 4th host joins, moved when h1 leaves: its
    own clients, and others), as fractions."""
    with Upstreams("h0", "h1", "h2", "h3") as up:
        port = free_port()
        three = hash_config(port, up, ["h0", "h1", "h2"], lb)
        with Proxy(three) as p:
            first = where(port)
            check(set(first.values()) == {"h0", "h1", "h2"}, "every host has clients")
            # The same config again, new worker processes: every client keeps its host.
            reload_to(p, three)
            again = where(port)
            same = sum(first[s] == again[s] for s in SOURCES)
            check(same == len(SOURCES), "%s: %d of %d kept their host across a reload" %
                  (lb, same, len(SOURCES)))
            # A fourth host.
            reload_to(p, hash_config(port, up, ["h0", "h1", "h2", "h3"], lb))
            four = where(port)
            kept = sum(first[s] == four[s] for s in SOURCES)
            to_new = sum(four[s] == "h3" for s in SOURCES)
            check(kept + to_new >= len(SOURCES) * 0.8, "%s: clients that moved went mostly "
                  "to the new host: kept %d, to h3 %d" % (lb, kept, to_new))
            # h1 leaves the three.
            reload_to(p, hash_config(port, up, ["h0", "h2"], lb))
            two = where(port)
            own = [s for s in SOURCES if first[s] == "h1"]
            others = [s for s in SOURCES if first[s] != "h1"]
            check(all(two[s] in ("h0", "h2") for s in own), "h1's clients moved")
            others_moved = sum(two[s] != first[s] for s in others)
            print("    %s over %d sources: reload %d/%d kept; +h3: %d kept, %d to h3; -h1: "
                  "%d clients moved, %d of the other %d moved" %
                  (lb, len(SOURCES), same, len(SOURCES), kept, to_new, len(own),
                   others_moved, len(others)), flush=True)
            return kept / len(SOURCES), others_moved / max(1, len(others))


def test_ring_hash_keeps_clients_across_reloads_and_host_changes():
    kept, others_moved = consistent_hashing("RING_HASH")
    # Each host's share of ring points changes with the host count: about two thirds stay.
    check(kept >= 0.55, "RING_HASH: %.0f%% kept when a host joined" % (kept * 100))
    check(others_moved <= 0.35, "RING_HASH: %.0f%% of the others moved when h1 left" %
          (others_moved * 100))


def test_maglev_keeps_clients_across_reloads_and_host_changes():
    kept, others_moved = consistent_hashing("MAGLEV")
    check(kept >= 0.65, "MAGLEV: %.0f%% kept when a host joined" % (kept * 100))
    check(others_moved <= 0.2, "MAGLEV: %.0f%% of the others moved when h1 left" %
          (others_moved * 100))


def test_hash_policy_filter_state_and_no_hash():
    with Upstreams("h0", "h1", "h2") as up:
        p1, p2 = free_port(), free_port()
        sfs = """
      - name: envoy.filters.network.set_filter_state
        typed_config:
          "@type": %s
          on_new_connection:
          - object_key: tenant
            factory_key: envoy.string
            format_string: {text_format_source: {inline_string: "tenant-42"}}""" % SFS_TYPE
        cfg = bootstrap([listener("fs", p1, "\n          cluster: c\n"
                                  "          hash_policy: [{filter_state: {key: tenant}}]",
                                  filters=sfs),
                         listener("none", p2, "\n          cluster: c")],
                        [cluster("c", [endpoint(up[n].port) for n in ("h0", "h1", "h2")],
                                 "MAGLEV")])
        with Proxy(cfg):
            fs = tally(p1, 30)
            check(len(fs) == 1 and "" not in fs, "one tenant, one host: %s" % fs)
            # No hash policy: Envoy's hash balancers pick at random.
            check(len(tally(p2, 60)) == 3, "without a hash every host is reached")


def test_priorities_fail_over_only_when_empty_and_localities_are_weighted():
    with Upstreams("a1", "a2", "b", "p1") as up:
        p1, p2 = free_port(), free_port()

        def ep(name):
            return endpoint(up[name].port)

        # Priority 0: zone a (weight 1, two hosts) and zone b (weight 3); priority 1 behind.
        weighted = """
  - name: w
    connect_timeout: 2s
    common_lb_config: {locality_weighted_lb_config: {}}
    load_assignment:
      cluster_name: w
      endpoints:
      - locality: {zone: a}
        load_balancing_weight: 1
        lb_endpoints:%s%s
      - locality: {zone: b}
        load_balancing_weight: 3
        lb_endpoints:%s
      - priority: 1
        lb_endpoints:%s
""" % (ep("a1"), ep("a2"), ep("b"), ep("p1"))
        # Priority 0 listed with no hosts: priority 1 serves.
        failover = """
  - name: f
    connect_timeout: 2s
    load_assignment:
      cluster_name: f
      endpoints:
      - priority: 0
        lb_endpoints: []
      - priority: 1
        lb_endpoints:%s
""" % ep("p1")
        cfg = bootstrap([listener("w", p1, "\n          cluster: w"),
                         listener("f", p2, "\n          cluster: f")], [weighted, failover])
        with Proxy(cfg, concurrency=1):
            counts = tally(p1, 400)
            # One worker: the localities' EDF gives exactly 1:3, round robin within zone a.
            check(counts == {"a1": 50, "a2": 50, "b": 300}, "1:3 by locality: %s" % counts)
            check(tally(p2, 10) == {"p1": 10}, "priority 1 when 0 has no hosts")
