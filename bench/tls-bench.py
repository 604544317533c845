#!/usr/bin/env python3
"""TLS termination on one worker of tcpproxy, HAProxy and nginx: full and resumed TLS 1.3
handshakes per worker-second, and bulk Gbit/s with CPU per GB in each direction.

Each proxy runs one worker (tcpproxy --concurrency 1, HAProxy nbthread 1, nginx
worker_processes 1) pinned to one CPU, with the same ECDSA P-256 certificate
(tests/tls/mkcerts.sh), the same suites and curves (TLS 1.3 AES-128-GCM first, X25519), the same
upstream and the same clients (Python's ssl, i.e. OpenSSL with its assembly), which run pinned to
the other CPU. The worker's own CPU time (utime + stime from /proc) divided by what it did is
what a handshake or a GB costs it; on a shared machine that is the number to compare, not the
achieved rates (the clients on one core cannot saturate a worker). Rounds run the proxies in a
rotated order; the summary gives min-max over the rounds and the machine's load average.
Not a timed test: numbers for docs/performance.md.

Usage: bench/tls-bench.py [--proxy tcpproxy,haproxy,nginx,tcpproxy@DIR] [--rounds 3]
                          [--seconds 10] [--cases plain,full,resumed,bulk13,bulk12] [--build build]
                          [--perf CASE] [--proxy-cpu 1] [--client-cpu 0]
"""
import argparse
import multiprocessing
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import cpu_seconds, free_port, move_bulk

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOWN = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
TCP = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
PROXIES = ("tcpproxy", "haproxy", "nginx")
# The server's preference everywhere: tcpproxy's own order on a CPU with AES-NI (AES-128-GCM,
# then ChaCha20, then AES-256-GCM), so that all three negotiate the same suite with the same
# client; OpenSSL's default would pick AES-256-GCM.
SUITES13 = "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"
CIPHERS12 = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:" \
            "ECDHE-ECDSA-AES256-GCM-SHA384"
BULK12 = ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305")
CASES = ("plain", "full", "resumed", "bulk13", "bulk12")


def tcpproxy_config(port, upstream, certs, tls):
    transport = ""
    if tls:
        transport = """
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": %s
          common_tls_context:
            tls_certificates:
            - certificate_chain: {filename: %s/server.pem}
              private_key: {filename: %s/server.key}""" % (DOWN, certs, certs)
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
          cluster: sink%s
  clusters:
  - name: sink
    load_assignment:
      cluster_name: sink
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}
""" % (port, TCP, transport, upstream)


def haproxy_config(port, upstream, certs, tls):
    ssl_bind = ""
    if tls:
        ssl_bind = " ssl crt %s/haproxy.pem curves X25519:P-256" % certs
    return """
global
    nbthread 1
    maxconn 7500
    ssl-default-bind-ciphersuites %s
    ssl-default-bind-ciphers %s
    ssl-default-bind-options ssl-min-ver TLSv1.2

defaults
    mode tcp
    timeout connect 5s
    timeout client 10m
    timeout server 10m
    backlog 4096

listen bench
    bind 127.0.0.1:%d%s
    server s 127.0.0.1:%d
""" % (SUITES13, CIPHERS12, port, ssl_bind, upstream)


def nginx_config(port, upstream, certs, tls, tmp):
    ssl = ""
    if tls:
        ssl = """
        ssl_certificate %s/server.pem;
        ssl_certificate_key %s/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers %s;
        ssl_conf_command Ciphersuites %s;
        ssl_prefer_server_ciphers on;
        ssl_ecdh_curve X25519:prime256v1;""" % (certs, certs, CIPHERS12, SUITES13)
    return """
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
daemon off;
pid %s/nginx.pid;
error_log %s/nginx.err warn;
worker_rlimit_nofile 20000;
events { worker_connections 12000; }
stream {
    proxy_buffer_size 16k;
    proxy_timeout 10m;
    proxy_connect_timeout 5s;
    tcp_nodelay on;
    server {
        listen 127.0.0.1:%d %sbacklog=4096;%s
        proxy_pass 127.0.0.1:%d;
    }
}
""" % (tmp, tmp, port, "ssl " if tls else "", ssl, upstream)


class Sink:
    """The upstream: reads and counts; with source=True writes as fast as it can instead; with
    echo=True answers each read with what it read."""

    def __init__(self, source=False, echo=False):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4096)
        self.port = self.sock.getsockname()[1]
        self.source = source
        self.echo = echo
        self.bytes = 0
        self.conns = 0
        threading.Thread(target=self._run, daemon=True).start()

    def close(self):
        self.sock.close()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = bytearray(1 << 20)
        try:
            if self.source:
                chunk = os.urandom(1 << 20)
                while True:
                    c.sendall(chunk)
            while True:
                n = c.recv_into(buf)
                if not n:
                    break
                self.bytes += n
                if self.echo:
                    c.sendall(buf[:n])
        except OSError:
            pass
        c.close()


def child_pid(pid):
    for _ in range(100):
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)],
                             capture_output=True, text=True).stdout.split()
        if out:
            return int(out[0])
        time.sleep(0.05)
    return None


def wait_listening(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on %d" % port)


class Proxy:
    """One proxy with one worker pinned to a CPU; .worker is the pid whose CPU is counted."""

    def __init__(self, args, name, port, upstream, certs, tls, tmp):
        self.name = name
        pin = ["taskset", "-c", str(args.proxy_cpu)]
        if name.split("@")[0] == "tcpproxy":
            build = name.split("@", 1)[1] if "@" in name else args.build
            path = os.path.join(tmp, "bench.yaml")
            text = tcpproxy_config(port, upstream, certs, tls)
            cmd = [os.path.join(build, "tcpproxy"), "-c", path, "--concurrency", "1",
                   "--base-id", "4242", "--log-level", "warn"]
        elif name == "haproxy":
            path = os.path.join(tmp, "bench.cfg")
            text = haproxy_config(port, upstream, certs, tls)
            cmd = ["haproxy", "-db", "-f", path]
        else:
            path = os.path.join(tmp, "nginx.conf")
            text = nginx_config(port, upstream, certs, tls, tmp)
            cmd = ["nginx", "-p", tmp, "-e", os.path.join(tmp, "nginx.err"), "-c", path]
        with open(path, "w") as f:
            f.write(text)
        self.proc = subprocess.Popen(pin + cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            # tcpproxy and nginx: a master and one worker; HAProxy -db: one process.
            self.worker = self.proc.pid if name == "haproxy" else child_pid(self.proc.pid)
            if not self.worker:
                raise RuntimeError("%s did not start" % name)
            wait_listening(port)
            time.sleep(0.3)
        except BaseException:
            self.stop()
            raise

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()


class Perf:
    """perf record (call graphs) on the worker for one measurement (--perf): its own CPU inflates that
    measurement, so profiled runs are for the profile, not for the numbers."""

    def __init__(self, args, proxy, case):
        self.proc = None
        if args.perf != case:
            return
        out = os.path.join(args.perf_dir, "perf.%s.%s.data" % (proxy.name.replace("/", "_"),
                                                               case))
        # DWARF unwinding: the libraries (wolfSSL, OpenSSL) have no frame pointers.
        self.proc = subprocess.Popen(["perf", "record", "-q", "--call-graph", "dwarf,32768",
                                      "-F", "2000", "-p", str(proxy.worker),
                                      "-o", out], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        time.sleep(0.5)

    def stop(self):
        if self.proc:
            self.proc.send_signal(2)
            self.proc.wait()


def client_ctx(tls12_cipher=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls12_cipher:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(tls12_cipher)
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def handshake_loop(port, seconds, tls, resume, counter, reused):
    """Connections one after the other: handshake, one byte to the upstream and its echo back
    (so that every proxy has connected upstream and relayed both ways), close."""
    ctx = client_ctx()
    sess = None
    end = time.monotonic() + seconds
    n = r = 0
    while time.monotonic() < end:
        s = socket.create_connection(("127.0.0.1", port))
        if tls:
            t = ctx.wrap_socket(s, server_hostname="server.test", session=sess)
            t.sendall(b"x")
            # Reading the echo also reads the ticket(s) the server sent after its handshake.
            if t.recv(1) != b"x":
                raise RuntimeError("no echo")
            if resume and sess is None:
                sess = t.session
            r += t.session_reused
            t.close()
        else:
            s.sendall(b"x")
            if s.recv(1) != b"x":
                raise RuntimeError("no echo")
            s.close()
        n += 1
    with counter.get_lock():
        counter.value += n
        reused.value += r


def pinned(cpu, fn, *a):
    os.sched_setaffinity(0, {cpu})
    fn(*a)


def handshakes(args, name, certs, tmp, tls, resume, procs=6):
    sink = Sink(echo=True)
    port = free_port()
    proxy = Proxy(args, name, port, sink.port, certs, tls, tmp)
    try:
        counter = multiprocessing.Value("q", 0)
        reused = multiprocessing.Value("q", 0)
        ps = [multiprocessing.Process(target=pinned, args=(args.client_cpu, handshake_loop, port,
                                                            args.seconds, tls, resume, counter,
                                                            reused))
              for _ in range(procs)]
        perf = Perf(args, proxy, "resumed" if resume else "full" if tls else "plain")
        c0, t0 = cpu_seconds(proxy.worker), time.monotonic()
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        c1, t1 = cpu_seconds(proxy.worker), time.monotonic()
        perf.stop()
        time.sleep(0.2)
    finally:
        proxy.stop()
        sink.close()
    n = counter.value
    note = ""
    if resume and reused.value < n - procs:  # each client's first handshake is a full one
        note += " only %d of %d resumed;" % (reused.value, n)
    if sink.conns < n:
        note += " %d upstream connections for %d clients;" % (sink.conns, n)
    return {"rate": n / (t1 - t0), "us": (c1 - c0) / n * 1e6, "note": note}


def bulk(args, name, certs, tmp, cipher, upload, total=1 << 30):
    sink = Sink(source=not upload)
    port = free_port()
    proxy = Proxy(args, name, port, sink.port, certs, True, tmp)
    try:
        ctx = client_ctx(cipher)
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                            server_hostname="server.test")
        used = s.cipher()[0]
        perf = Perf(args, proxy, "bulk13" if cipher is None else "bulk12")
        c0, t0 = cpu_seconds(proxy.worker), time.monotonic()
        moved = move_bulk(s, total, upload, lambda: sink.bytes)
        c1, t1 = cpu_seconds(proxy.worker), time.monotonic()
        perf.stop()
        s.close()
    finally:
        proxy.stop()
        sink.close()
    gb = moved / 1e9
    return {"cipher": used, "gbps": moved * 8 / (t1 - t0) / 1e9, "cpu_gb": (c1 - c0) / gb}


def workloads(cases):
    """(key, label, kind, params) for every measurement of the chosen cases, in order."""
    out = []
    hs = {"plain": ("plain TCP connection (no TLS)", False, False),
          "full": ("full TLS 1.3 handshake", True, False),
          "resumed": ("resumed TLS 1.3 handshake (ticket)", True, True)}
    for c in ("plain", "full", "resumed"):
        if c in cases:
            out.append((c, hs[c][0], "hs", hs[c][1:]))
    ciphers = ([(None, "TLS 1.3")] if "bulk13" in cases else []) + \
              ([(c, c) for c in BULK12] if "bulk12" in cases else [])
    for cipher, label in ciphers:
        for upload in (True, False):
            d = "decrypt (client to upstream)" if upload else "encrypt (upstream to client)"
            out.append(("%s %s" % (label, "up" if upload else "down"), "bulk %s, %s" % (label, d),
                        "bulk", (cipher, upload)))
    return out


def span(vals, fmt):
    lo, hi = min(vals), max(vals)
    a, b = fmt % lo, fmt % hi
    return a if a == b else "%s–%s" % (a, b)


def haproxy_pem(certs):
    with open(os.path.join(certs, "haproxy.pem"), "w") as out:
        for name in ("server.pem", "server.key"):
            with open(os.path.join(certs, name)) as f:
                out.write(f.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--proxy", default=",".join(PROXIES),
                    help="comma-separated, of %s; tcpproxy@DIR is DIR/tcpproxy (another build, "
                    "for an A/B)" % ", ".join(PROXIES))
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated, of %s" %
                    ", ".join(CASES))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10, help="per handshake measurement")
    ap.add_argument("--perf", choices=CASES, help="perf record the worker during this case")
    ap.add_argument("--perf-dir", default=".")
    ap.add_argument("--proxy-cpu", type=int, default=1)
    ap.add_argument("--client-cpu", type=int, default=0)
    args = ap.parse_args()
    proxies = [p for p in args.proxy.split(",") if p]
    cases = [c for c in args.cases.split(",") if c]
    for p in proxies:
        if p.split("@")[0] not in PROXIES:
            ap.error("unknown proxy %s" % p)
    for c in cases:
        if c not in CASES:
            ap.error("unknown case %s" % c)
    # The harness, its upstream and its clients stay off the proxy's CPU.
    os.sched_setaffinity(0, {args.client_cpu})
    tmp = tempfile.mkdtemp(prefix="tls-bench.")
    results = {}
    loads = []
    try:
        certs = os.path.join(tmp, "certs")
        subprocess.run([os.path.join(ROOT, "tests", "tls", "mkcerts.sh"), certs], check=True)
        haproxy_pem(certs)
        print("ECDSA P-256 certificate, X25519; one worker on CPU %d, clients on CPU %d; "
              "%d rounds" % (args.proxy_cpu, args.client_cpu, args.rounds))
        for rnd in range(args.rounds):
            k = rnd % len(proxies)
            order = proxies[k:] + proxies[:k]
            for key, label, kind, params in workloads(cases):
                for name in order:
                    loads.append(os.getloadavg()[0])
                    if kind == "hs":
                        r = handshakes(args, name, certs, tmp, *params)
                        print("r%d %-9s %-36s %7.0f /s achieved, worker %6.1f CPU-us each = "
                              "%6.0f /s per worker-second%s" %
                              (rnd, name, label, r["rate"], r["us"], 1e6 / r["us"], r["note"]))
                    else:
                        r = bulk(args, name, certs, tmp, *params)
                        print("r%d %-9s %-36s %-28s %5.2f Gbit/s, worker %5.2f CPU-s/GB" %
                              (rnd, name, label[:36], r["cipher"], r["gbps"], r["cpu_gb"]))
                    results.setdefault((key, label, kind), {}).setdefault(name, []).append(r)
                    sys.stdout.flush()
        print("\nload average (1 min) during the run: %.1f–%.1f on %d CPUs" %
              (min(loads), max(loads), os.cpu_count()))
        print("\n| worker CPU per operation (min–max over %d rounds) | %s |" %
              (args.rounds, " | ".join(proxies)))
        print("|---|%s" % ("---|" * len(proxies)))
        for (key, label, kind), by in results.items():
            cells = []
            for p in proxies:
                rs = by.get(p, [])
                if not rs:
                    cells.append("")
                elif kind == "hs":
                    cells.append("%s µs (%s /s)" % (span([r["us"] for r in rs], "%.0f"),
                                                    span([1e6 / r["us"] for r in rs], "%.0f")))
                else:
                    cells.append("%s CPU-s/GB (%s Gbit/s)" %
                                 (span([r["cpu_gb"] for r in rs], "%.2f"),
                                  span([r["gbps"] for r in rs], "%.2f")))
            print("| %s | %s |" % (label, " | ".join(cells)))
    finally:
        shutil.rmtree(tmp, True)


if __name__ == "__main__":
    main()
