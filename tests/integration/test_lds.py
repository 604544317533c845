"""Listeners that change without a reload: dynamic_resources.lds_config (issue 16, LDS)."""
import json
import os
import re
import signal
import socket
import threading
import time

from harness import (EchoServer, LoadEcho, Proxy, _alive, bootstrap, check, cluster_yaml,
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


def config(lds, listeners, clusters):
    return bootstrap(listeners, clusters) + "dynamic_resources:\n" + lds.source_yaml()


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
    sport, dport = free_port(), free_port()
    with EchoServer() as up:
        lds.write("v1", [lds_listener("dyn", dport, "c")])
        cfg = config(lds, [listener_yaml("static", sport, "c")], [cluster_yaml("c", [up.port])])
        with Proxy(cfg) as p:
            wait_version(p, 1, 0)
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
