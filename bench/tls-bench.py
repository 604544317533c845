#!/usr/bin/env python3
"""TLS termination on one tcpproxy worker: full and resumed TLS 1.3 handshakes per worker-second,
and bulk Gbit/s with CPU per GB, through Debian's wolfSSL (generic C: no AES-NI, no assembly).

The proxy runs with --concurrency 1, pinned to one CPU; the clients (Python's ssl, OpenSSL with
its assembly) are pinned to the other, so the worker's own CPU time (from /proc) is what a
handshake or a GB costs it. Not a timed test: numbers for docs/performance.md.

Usage: bench/tls-bench.py [--build build] [--seconds 10] [--proxy-cpu 1] [--client-cpu 0]
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOWN = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
TCP = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def config(port, upstream, certs, tls=True, ciphers=None):
    transport = ""
    if tls:
        params = ""
        if ciphers:
            params = "\n            tls_params: {cipher_suites: [%s]}" % ciphers
        transport = """
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": %s
          common_tls_context:%s
            tls_certificates:
            - certificate_chain: {filename: %s/server.pem}
              private_key: {filename: %s/server.key}""" % (DOWN, params, certs, certs)
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


class Sink:
    """The upstream: reads and counts (or, with source=True, writes as fast as it can)."""

    def __init__(self, source=False):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4096)
        self.port = self.sock.getsockname()[1]
        self.source = source
        self.bytes = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
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
        except OSError:
            pass
        c.close()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_proxy(build, cfg_text, cpu, tmp):
    path = os.path.join(tmp, "bench.yaml")
    with open(path, "w") as f:
        f.write(cfg_text)
    proc = subprocess.Popen(["taskset", "-c", str(cpu), os.path.join(build, "tcpproxy"), "-c",
                             path, "--concurrency", "1", "--base-id", "4242",
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
    ctx = client_ctx()
    sess = None
    end = time.monotonic() + seconds
    n = r = 0
    while time.monotonic() < end:
        s = socket.create_connection(("127.0.0.1", port))
        if tls:
            t = ctx.wrap_socket(s, server_hostname="server.test", session=sess)
            if resume and sess is None:
                # The TLS 1.3 ticket comes after the handshake: read for it once.
                t.settimeout(0.2)
                try:
                    t.recv(1)
                except (socket.timeout, ssl.SSLError, OSError):
                    pass
                sess = t.session
            r += t.session_reused
            t.close()
        else:
            s.close()
        n += 1
    with counter.get_lock():
        counter.value += n
        reused.value += r


def handshakes(args, certs, tmp, tls, resume, procs=6):
    sink = Sink()
    port = free_port()
    proxy, worker = start_proxy(args.build, config(port, sink.port, certs, tls), args.proxy_cpu,
                                tmp)
    try:
        counter = multiprocessing.Value("q", 0)
        reused = multiprocessing.Value("q", 0)
        ps = [multiprocessing.Process(target=pinned, args=(args.client_cpu, handshake_loop, port,
                                                            args.seconds, tls, resume, counter,
                                                            reused))
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
    n = counter.value
    if resume and reused.value < n * 0.99:
        print("  (only %d of %d resumed)" % (reused.value, n))
    return n / (t1 - t0), (c1 - c0) / n * 1e6


def pinned(cpu, fn, *a):
    os.sched_setaffinity(0, {cpu})
    fn(*a)


def bulk(args, certs, tmp, cipher, upload, total=1 << 30):
    sink = Sink(source=not upload)
    port = free_port()
    tls12 = cipher is not None
    proxy, worker = start_proxy(args.build, config(port, sink.port, certs), args.proxy_cpu, tmp)
    try:
        os.sched_setaffinity(0, {args.client_cpu})
        ctx = client_ctx(cipher)
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                            server_hostname="server.test")
        used = s.cipher()[0]
        chunk = os.urandom(1 << 18)
        moved = 0
        c0, t0 = cpu_seconds(worker), time.monotonic()
        if upload:
            while moved < total:
                s.sendall(chunk)
                moved += len(chunk)
            while sink.bytes < total:
                time.sleep(0.001)
        else:
            buf = bytearray(1 << 18)
            while moved < total:
                n = s.recv_into(buf)
                if not n:
                    break
                moved += n
        c1, t1 = cpu_seconds(worker), time.monotonic()
        s.close()
    finally:
        proxy.terminate()
        proxy.wait()
        os.sched_setaffinity(0, set(range(os.cpu_count())))
    gb = moved / 1e9
    return used if not tls12 else cipher, moved * 8 / (t1 - t0) / 1e9, (c1 - c0) / gb


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--proxy-cpu", type=int, default=1)
    ap.add_argument("--client-cpu", type=int, default=0)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="tls-bench.")
    try:
        certs = os.path.join(tmp, "certs")
        subprocess.run([os.path.join(ROOT, "tests", "tls", "mkcerts.sh"), certs], check=True)
        print("ECDSA P-256 certificate, X25519, one worker on CPU %d, clients on CPU %d" %
              (args.proxy_cpu, args.client_cpu))
        for name, tls, resume in (("plain TCP connections (no TLS)", False, False),
                                  ("full TLS 1.3 handshakes", True, False),
                                  ("resumed TLS 1.3 handshakes (tickets)", True, True)):
            rate, us = handshakes(args, certs, tmp, tls, resume)
            print("%-40s %8.0f /s achieved, worker %7.1f CPU-us each = %6.0f /s per worker" %
                  (name, rate, us, 1e6 / us))
            sys.stdout.flush()
        for cipher in (None, "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"):
            for upload in (True, False):
                used, gbps, cpu_per_gb = bulk(args, certs, tmp, cipher, upload)
                print("bulk %-34s %-9s %6.2f Gbit/s, worker %5.2f CPU-s/GB" %
                      (used, "decrypt" if upload else "encrypt", gbps, cpu_per_gb))
                sys.stdout.flush()
    finally:
        shutil.rmtree(tmp, True)


if __name__ == "__main__":
    main()
