#!/usr/bin/env python3
"""HTTP tunnels on one tcpproxy worker: tunnels per second and bulk Gbit/s with the worker's CPU
per tunnel and per GB, through HTTP/2 CONNECT (tcpproxy -> nghttpx -s -> tinyproxy -> upstream),
HTTP/1.1 CONNECT (tcpproxy -> tinyproxy -> upstream) and a plain TCP upstream (tcpproxy ->
upstream), to show what the tunnel costs.

The proxy runs with --concurrency 1 pinned to one CPU; everything else (clients, nghttpx,
tinyproxy, the upstream) is pinned to the other, so the achieved rates are those of the peers
and the worker's own CPU time (utime + stime from /proc) divided by what it did is the number
that says what a tunnel costs tcpproxy. HAProxy and nginx cannot be compared: neither can carry
a TCP stream as an HTTP CONNECT (or POST) to an upstream proxy (HAProxy terminates CONNECT in
HTTP mode, nginx's stream module only proxies TCP). Not a timed test: numbers for
docs/performance.md. Needs tinyproxy and nghttpx (Debian: tinyproxy, nghttp2-proxy).

Usage: bench/tunnel-bench.py [--build build] [--seconds 10] [--proxy-cpu 1] [--client-cpu 0]
                             [--bulk-mib 1024]
"""
import argparse
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import cpu_seconds, free_port, move_bulk

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TCP = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
H2 = """
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http2_protocol_options: {}"""


def config(port, hop, target, kind):
    """kind: plain (to target itself), h1 or h2 (a tunnel through hop to target)."""
    tunnel = cluster = ""
    if kind != "plain":
        tunnel = '\n          tunneling_config: {hostname: "127.0.0.1:%d"}' % target
    if kind == "h2":
        cluster = H2
    return """
static_resources:
  listeners:
  - name: bench
    address: {socket_address: {address: 127.0.0.1, port_value: %d}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": %s
          stat_prefix: bench
          cluster: up%s
  clusters:
  - name: up%s
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}
""" % (port, TCP, tunnel, cluster, target if kind == "plain" else hop)


class Upstream:
    """The target. mode "hello": each connection gets one byte and is closed (the connection
    rate); "sink": read and count; "source": write as fast as it can."""

    def __init__(self, mode):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4096)
        self.port = self.sock.getsockname()[1]
        self.mode = mode
        self.bytes = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if self.mode == "hello":
                try:
                    c.sendall(b"x")
                except OSError:
                    pass
                c.close()
                continue
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = bytearray(1 << 20)
        try:
            if self.mode == "source":
                chunk = os.urandom(1 << 20)
                while True:
                    c.sendall(chunk)
            while True:
                n = c.recv_into(buf)
                if not n:
                    break
                self.bytes += n
        except OSError:
            pass
        c.close()

    def close(self):
        self.sock.close()


def wait_port(port, what):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(what + " did not listen")


class Peers:
    """tinyproxy, and nghttpx -s in front of it, pinned to the client CPU."""

    def __init__(self, cpu, tmp):
        self.procs = []
        self.tiny = free_port()
        conf = os.path.join(tmp, "tinyproxy.conf")
        with open(conf, "w") as f:
            f.write("Port %d\nListen 127.0.0.1\nTimeout 600\nMaxClients 4000\n"
                    "LogLevel Critical\n" % self.tiny)
        self._start(["tinyproxy", "-d", "-c", conf], cpu, tmp, "tinyproxy")
        wait_port(self.tiny, "tinyproxy")
        self.ngx = free_port()
        self._start(["nghttpx", "-s", "--conf=/dev/null",
                     "--frontend=127.0.0.1,%d;no-tls" % self.ngx,
                     "--backend=127.0.0.1,%d" % self.tiny, "--workers=1",
                     "--backend-connections-per-host=4000", "--log-level=ERROR",
                     "--pid-file=" + os.path.join(tmp, "nghttpx.pid")], cpu, tmp, "nghttpx")
        wait_port(self.ngx, "nghttpx")

    def _start(self, argv, cpu, tmp, name):
        log = open(os.path.join(tmp, name + ".log"), "w")
        self.procs.append(subprocess.Popen(["taskset", "-c", str(cpu)] + argv, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True))

    def close(self):
        for p in self.procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def start_proxy(build, cfg_text, cpu, tmp):
    path = os.path.join(tmp, "bench.yaml")
    with open(path, "w") as f:
        f.write(cfg_text)
    proc = subprocess.Popen(["taskset", "-c", str(cpu), os.path.join(build, "tcpproxy"), "-c",
                             path, "--concurrency", "1", "--base-id", "4243",
                             "--log-level", "warn"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)],
                             capture_output=True, text=True).stdout.split()
        if out:
            time.sleep(0.3)
            return proc, int(out[0])
        time.sleep(0.05)
    raise RuntimeError("tcpproxy did not start")


def hello_loop(cpu, port, seconds, counter, failed):
    os.sched_setaffinity(0, {cpu})
    end = time.monotonic() + seconds
    n = f = 0
    while time.monotonic() < end:
        try:
            s = socket.create_connection(("127.0.0.1", port))
            s.settimeout(10)
            ok = s.recv(10) == b"x"
            s.close()
        except OSError:
            ok = False
        n += ok
        f += not ok
    with counter.get_lock():
        counter.value += n
        failed.value += f


def tunnels_per_second(args, peers, tmp, kind, procs=6):
    up = Upstream("hello")
    port = free_port()
    proxy, worker = start_proxy(args.build, config(port, peers.ngx if kind == "h2" else
                                                   peers.tiny, up.port, kind),
                                args.proxy_cpu, tmp)
    try:
        counter = multiprocessing.Value("q", 0)
        failed = multiprocessing.Value("q", 0)
        ps = [multiprocessing.Process(target=hello_loop,
                                      args=(args.client_cpu, port, args.seconds, counter, failed))
              for _ in range(procs)]
        c0, t0 = cpu_seconds(worker), time.monotonic()
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        c1, t1 = cpu_seconds(worker), time.monotonic()
    finally:
        proxy.terminate()
        proxy.wait()
        up.close()
    n = counter.value
    return n / (t1 - t0), (c1 - c0) / max(n, 1) * 1e6, failed.value


def bulk(args, peers, tmp, kind, upload):
    total = args.bulk_mib << 20
    up = Upstream("sink" if upload else "source")
    port = free_port()
    proxy, worker = start_proxy(args.build, config(port, peers.ngx if kind == "h2" else
                                                   peers.tiny, up.port, kind),
                                args.proxy_cpu, tmp)
    try:
        os.sched_setaffinity(0, {args.client_cpu})
        s = socket.create_connection(("127.0.0.1", port))
        c0, t0 = cpu_seconds(worker), time.monotonic()
        moved = move_bulk(s, total, upload, lambda: up.bytes)
        c1, t1 = cpu_seconds(worker), time.monotonic()
        s.close()
    finally:
        proxy.terminate()
        proxy.wait()
        up.close()
        os.sched_setaffinity(0, set(range(os.cpu_count())))
    return moved * 8 / (t1 - t0) / 1e9, (c1 - c0) / (moved / 1e9)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--proxy-cpu", type=int, default=1)
    ap.add_argument("--client-cpu", type=int, default=0)
    ap.add_argument("--bulk-mib", type=int, default=1024)
    args = ap.parse_args()
    for tool in ("tinyproxy", "nghttpx", "taskset"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            sys.exit("%s is not installed (make test-deps installs it)" % tool)
    tmp = tempfile.mkdtemp(prefix="tunnel-bench.")
    peers = Peers(args.client_cpu, tmp)
    names = {"plain": "plain TCP upstream",
             "h1": "HTTP/1.1 CONNECT (tinyproxy)",
             "h2": "HTTP/2 CONNECT (nghttpx -> tinyproxy)"}
    try:
        print("one worker on CPU %d; clients, peers and upstream on CPU %d" %
              (args.proxy_cpu, args.client_cpu))
        for kind in ("plain", "h1", "h2"):
            rate, us, failed = tunnels_per_second(args, peers, tmp, kind)
            print("connections %-38s %7.0f /s achieved, worker %6.1f CPU-us each = %6.0f /s "
                  "per worker%s" % (names[kind], rate, us, 1e6 / us,
                                    " (%d failed)" % failed if failed else ""))
            sys.stdout.flush()
        for kind in ("plain", "h1", "h2"):
            for upload in (True, False):
                gbps, cpu_gb = bulk(args, peers, tmp, kind, upload)
                print("bulk %-38s %-8s %6.2f Gbit/s achieved, worker %5.2f CPU-s/GB" %
                      (names[kind], "upload" if upload else "download", gbps, cpu_gb))
                sys.stdout.flush()
    finally:
        peers.close()
        shutil.rmtree(tmp, True)


if __name__ == "__main__":
    main()
