"""tls_inspector and filter_chain_match with real peers (issue 12, listener side): SNI routing of
TLS passed through end to end to openssl s_server upstreams, chosen by exact and wildcard server
names; plaintext to a raw_buffer chain; NR when nothing matches; a ClientHello split across
segments; a partial ClientHello held open until listener_filters_timeout; random bytes; resets.
"""
import os
import random
import select
import shutil
import socket
import struct
import subprocess
import threading
import time

import harness
from harness import (ROOT, EchoServer, Proxy, Server, Skip, bootstrap, check, cluster_yaml,
                     connect, free_port, read_lines, recv_all, run_subdir, wait_for, wait_lines)

TCP_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
FILE_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
TLS_INSPECTOR_TYPE = ("type.googleapis.com/"
                      "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector")
HELLO = os.path.join(ROOT, "tests", "fixtures", "clienthello", "openssl-tls13-sni-alpn.bin")
LOG_FORMAT = "%FILTER_CHAIN_NAME%|%REQUESTED_SERVER_NAME%|%RESPONSE_FLAGS%|" \
             "%RESPONSE_CODE_DETAILS%|%BYTES_RECEIVED%\\n"


def _openssl():
    if not shutil.which("openssl") or not shutil.which("curl"):
        raise Skip("needs the openssl and curl binaries (.ci/deps --test installs them)")


class Certs:
    """Self-signed certificates made for the run, one per name."""

    def __init__(self, *names):
        _openssl()
        self.dir = run_subdir("certs.")
        for n in names:
            r = subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=" + n,
                 "-keyout", self.key(n), "-out", self.cert(n)],
                capture_output=True, text=True)
            check(r.returncode == 0, "openssl req: " + r.stderr)

    def cert(self, name):
        return os.path.join(self.dir, name + ".crt")

    def key(self, name):
        return os.path.join(self.dir, name + ".key")


class TlsServer:
    """openssl s_server on a port of its own, serving one connection after another: with
    mode '-rev' it answers each line reversed, with '-www' an HTTP status page."""

    def __init__(self, certs, name, mode="-rev"):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", str(self.port), "-cert", certs.cert(name),
             "-key", certs.key(name), mode],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        # It says ACCEPT once it listens; what it says next is drained, so that it never
        # waits on a full pipe.
        seen = b""
        end = time.monotonic() + 10
        fd = self.proc.stdout.fileno()
        while b"ACCEPT" not in seen and time.monotonic() < end:
            # os.read, not readline(): a buffered read could take both lines at once and
            # leave select() waiting for bytes already read.
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                seen += chunk
        if b"ACCEPT" not in seen:
            self.close()  # no with-block owns it yet
            raise harness.TestFailure("s_server did not start: %r" % seen)
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        try:
            while os.read(self.proc.stdout.fileno(), 65536):
                pass
        except (OSError, ValueError):  # the pipe went away with the server
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def s_client(port, servername, line=b"hello tls\n", alpn=None, timeout=10):
    """openssl s_client through the proxy: sends line, returns (certificate subject seen,
    whether the reversed line came back) once it has, or at the timeout."""
    args = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", servername]
    if alpn:
        args += ["-alpn", alpn]
    p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    out = b""
    want = line.rstrip(b"\n")[::-1]
    try:
        p.stdin.write(line)
        p.stdin.flush()
        end = time.monotonic() + timeout
        while want not in out and time.monotonic() < end and p.poll() is None:
            r, _, _ = select.select([p.stdout], [], [], 0.2)
            if r:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
    finally:
        p.kill()
        p.wait()
        rest = p.stdout.read()
        out += rest or b""
    subject = None
    for l in out.decode(errors="replace").splitlines():
        if l.startswith("subject="):
            subject = l.split("CN = ")[-1].strip() if "CN = " in l else l
    return subject, want in out, out


def sni_config(port, clusters, log_path=None, timeout="15s", extra_chains="", listener_extra=""):
    """A listener with tls_inspector and chains: 'exact' (a.example.com) -> cluster a,
    'wild' (*.example.com) -> cluster w, 'raw' (raw_buffer) -> cluster r; clusters maps each
    name to its port."""
    log = ""
    if log_path:
        log = """
    access_log:
    - name: envoy.access_loggers.file
      typed_config:
        "@type": %s
        path: %s
        log_format:
          text_format_source:
            inline_string: "%s"
""" % (FILE_TYPE, log_path, LOG_FORMAT)

    def chain(name, match, cluster):
        return """
    - name: %s
      filter_chain_match: %s
      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": %s
          stat_prefix: %s
          cluster: %s
""" % (name, match, TCP_TYPE, name, cluster)

    listener = """
  - name: sni
    address:
      socket_address: {address: 127.0.0.1, port_value: %d}
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config:
        "@type": %s
    listener_filters_timeout: %s%s%s
    filter_chains:%s%s%s%s
""" % (port, TLS_INSPECTOR_TYPE, timeout, listener_extra, log,
       chain("exact", "{server_names: [A.Example.com]}", "a"),
       chain("wild", "{server_names: [\"*.example.com\"]}", "w"),
       chain("raw", "{transport_protocol: raw_buffer}", "r"), extra_chains)
    return bootstrap([listener], [cluster_yaml(n, [p]) for n, p in sorted(clusters.items())])


def _log_dir():
    return run_subdir("tlslog.", 0o777)


def test_sni_routes_passthrough_tls_to_its_upstream():
    """openssl s_client and curl --resolve through tls_inspector: a.example.com goes to the
    exact chain's s_server, other *.example.com names to the wildcard chain's, each TLS session
    end to end (the client sees that upstream's certificate and its answer); plaintext goes to
    the raw_buffer chain; a name nothing matches is closed with NR."""
    certs = Certs("a.example.com", "wild.example.com")
    logdir = _log_dir()
    log = os.path.join(logdir, "listener.log")
    with TlsServer(certs, "a.example.com") as a, \
            TlsServer(certs, "wild.example.com", "-www") as wild, EchoServer() as raw:
        port = free_port()
        with Proxy(sni_config(port, {"a": a.port, "w": wild.port, "r": raw.port}, log)) as p:
            subject, answered, out = s_client(port, "a.example.com", alpn="h2,http/1.1")
            check(subject == "a.example.com" and answered,
                  "a.example.com reached the exact chain's upstream: %r" % out[-400:])
            subject, _, out = s_client(port, "x.y.Example.COM", line=b"GET / HTTP/1.0\n")
            check(subject == "wild.example.com", "the wildcard chain's upstream: %r" % out[-300:])
            r = subprocess.run(
                ["curl", "-sk", "--max-time", "10", "--resolve",
                 "b.example.com:%d:127.0.0.1" % port, "https://b.example.com:%d/" % port],
                capture_output=True, text=True)
            check(r.returncode == 0 and "s_server" in r.stdout,
                  "curl to b.example.com through the wildcard chain: rc %d %r %r"
                  % (r.returncode, r.stdout[:200], r.stderr))
            # Plaintext: raw_buffer, byte for byte.
            with connect(port) as s:
                s.sendall(b"plain bytes\n")
                s.shutdown(socket.SHUT_WR)
                check(recv_all(s) == b"plain bytes\n", "plaintext through the raw chain")
            # No chain for this name (and no default): NR, counted, closed.
            subject, answered, out = s_client(port, "other.org", timeout=5)
            check(subject is None and not answered, "other.org matched nothing: %r" % out[-300:])
            p.wait_stat("listener.127.0.0.1_%d.no_filter_chain_match" % port, 1)
            st = p.stats()
            check(st.get("tcp.exact.downstream_cx_total") == 1, "exact: %s" % st)
            check(st.get("tcp.wild.downstream_cx_total") == 2, "wild: %s" % st)
            check(st.get("tcp.raw.downstream_cx_total") == 1, "raw: %s" % st)
            check(st.get("tls_inspector.tls_found") == 4, "tls_found: %s" % st)
            check(st.get("tls_inspector.tls_not_found") == 1, "tls_not_found")
            check(st.get("tls_inspector.sni_found") == 4, "sni_found")
            check(st.get("tls_inspector.alpn_found") >= 2, "alpn_found (s_client -alpn, curl)")
            wait_lines(log, 5)
        lines = read_lines(log)
        check(len(lines) == 5, "one listener log entry per connection: %r" % lines)
        by_chain = {}
        for l in lines:
            chain, sni, flags, details, _ = l.split("|")
            by_chain.setdefault(chain, []).append((sni, flags, details))
        check(by_chain.get("exact") == [("a.example.com", "-", "-")], "exact: %r" % lines)
        check(sorted(by_chain.get("wild", [])) ==
              [("b.example.com", "-", "-"), ("x.y.example.com", "-", "-")], "wild: %r" % lines)
        check(by_chain.get("raw") == [("-", "-", "-")], "raw: %r" % lines)
        check(by_chain.get("-") == [("other.org", "NR", "filter_chain_not_found")],
              "NR entry: %r" % lines)


def test_default_chain_takes_what_no_chain_matches():
    certs = Certs("d.example.com")
    with TlsServer(certs, "d.example.com") as d, EchoServer() as raw:
        port = free_port()
        default = """
    default_filter_chain:
      name: fallback
      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": %s
          stat_prefix: fallback
          cluster: d
""" % TCP_TYPE
        cfg = sni_config(port, {"a": raw.port, "w": raw.port, "r": raw.port, "d": d.port},
                         listener_extra=default)
        with Proxy(cfg) as p:
            subject, answered, out = s_client(port, "other.org")
            check(subject == "d.example.com" and answered, "the default chain: %r" % out[-300:])
            check(p.stat("tcp.fallback.downstream_cx_total") == 1, "counted on the default")
            check(p.stat("listener.127.0.0.1_%d.no_filter_chain_match" % port) == 0, "no NR")


def _hello():
    with open(HELLO, "rb") as f:
        return f.read()


def test_a_client_hello_split_across_two_segments():
    """The ClientHello in two TCP segments with a pause between them: the SNI
    (www.example.com, the wildcard chain) is found, and the upstream gets every byte."""
    hello = _hello()
    got = []

    def upstream(c):
        got.append(recv_all(c))

    with Server(upstream) as w, EchoServer() as other:
        port = free_port()
        with Proxy(sni_config(port, {"a": other.port, "w": w.port, "r": other.port})) as p:
            s = connect(port)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(hello[:57])
            time.sleep(0.3)
            check(p.stat("tls_inspector.tls_found") == 0, "undecided after the first part")
            s.sendall(hello[57:])
            p.wait_stat("tcp.wild.downstream_cx_total", 1)
            s.shutdown(socket.SHUT_WR)
            wait_for(lambda: got, what="the upstream to see the end of the stream")
            s.close()
            check(got[0] == hello, "the upstream got the hello byte for byte (%d of %d)"
                  % (len(got[0]), len(hello)))
            check(p.stat("tls_inspector.sni_found") == 1, "sni_found")


def test_a_partial_hello_is_closed_at_the_timeout_while_others_are_served():
    """A client that sends half a ClientHello and waits is closed at listener_filters_timeout
    (not before), counted in downstream_pre_cx_timeout, while plaintext clients are served;
    with continue_on_listener_filters_timeout it goes on as raw_buffer instead."""
    hello = _hello()
    with EchoServer() as up:
        port = free_port()
        with Proxy(sni_config(port, {"a": up.port, "w": up.port, "r": up.port},
                              timeout="1s")) as p:
            t0 = time.monotonic()
            held = connect(port)
            held.sendall(hello[:40])
            for i in range(5):
                with connect(port) as s:
                    s.sendall(b"served %d" % i)
                    s.shutdown(socket.SHUT_WR)
                    check(recv_all(s) == b"served %d" % i, "a plaintext client meanwhile")
            check(p.stat("listener.127.0.0.1_%d.downstream_pre_cx_active" % port) == 1,
                  "the partial hello waits in the listener filters")
            held.settimeout(10)
            try:
                end = held.recv(100)
            except ConnectionResetError:
                end = b""
            waited = time.monotonic() - t0
            check(end == b"", "closed, not answered: %r" % end)
            check(waited >= 0.9, "closed after %.2fs, before the 1 s timeout" % waited)
            held.close()
            p.wait_stat("listener.127.0.0.1_%d.downstream_pre_cx_timeout" % port, 1)
            check(p.stat("listener.127.0.0.1_%d.downstream_pre_cx_active" % port) == 0,
                  "nothing left waiting")
            check(p.stat("tcp.raw.downstream_cx_total") == 5, "the others were served")

    got = []

    def upstream(c):
        got.append(recv_all(c))

    with Server(upstream) as raw, EchoServer() as other:
        port = free_port()
        cfg = sni_config(port, {"a": other.port, "w": other.port, "r": raw.port},
                         timeout="0.5s", listener_extra="\n    continue_on_listener_filters_timeout: true")
        with Proxy(cfg) as p:
            s = connect(port)
            s.sendall(hello[:40])
            p.wait_stat("tcp.raw.downstream_cx_total", 1)
            s.shutdown(socket.SHUT_WR)
            wait_for(lambda: got, what="the raw chain's upstream to see the end")
            s.close()
            check(got[0] == hello[:40], "the partial hello went on as raw_buffer, unconsumed")
            check(p.stat("listener.127.0.0.1_%d.downstream_pre_cx_timeout" % port) == 1,
                  "the timeout was counted")


def test_random_bytes_are_counted_and_handled():
    """1 MiB of random bytes is not TLS: tls_not_found, and the raw chain relays all of it.
    Then 40 connections of random bytes (some starting like a TLS record): each is counted as
    exactly one of tls_not_found or client_hello_too_large, and the proxy keeps serving."""
    rng = random.Random(12)
    blob = bytes(rng.getrandbits(8) for _ in range(1 << 20))
    blob = b"\x42" + blob[1:]  # certainly not a TLS record type
    with EchoServer() as up:
        port = free_port()
        with Proxy(sni_config(port, {"a": up.port, "w": up.port, "r": up.port})) as p:
            with connect(port) as s:
                t = threading.Thread(target=lambda: (s.sendall(blob), s.shutdown(socket.SHUT_WR)))
                t.start()
                back = recv_all(s)
                t.join()
            check(back == blob, "1 MiB echoed through the raw chain (%d bytes)" % len(back))
            check(p.stat("tls_inspector.tls_not_found") == 1, "tls_not_found")
            for i in range(40):
                data = bytes(rng.getrandbits(8) for _ in range(64 * 1024))
                if i % 4 == 0:  # a handshake record header, then noise
                    data = b"\x16\x03\x01" + struct.pack(">H", rng.randrange(1, 1 << 16)) + data
                s = connect(port)
                try:
                    s.sendall(data)
                    s.shutdown(socket.SHUT_WR)
                    s.settimeout(10)
                    recv_all(s)
                except (ConnectionResetError, BrokenPipeError):
                    pass
                s.close()
            st = {}
            wait_for(lambda: st.update(p.stats()) or
                     st.get("tls_inspector.tls_not_found", 0) +
                     st.get("tls_inspector.client_hello_too_large", 0) == 41,
                     what="each connection counted once")
            check(st.get("tls_inspector.tls_found", 0) == 0, "nothing random is TLS")
            p.wait_stat("listener.127.0.0.1_%d.downstream_cx_active" % port, 0)
            with connect(port) as s:
                s.sendall(b"still here")
                s.shutdown(socket.SHUT_WR)
                check(recv_all(s) == b"still here", "still serving")


def test_a_reset_mid_client_hello():
    """Clients that reset after part of a ClientHello: each connection is closed and
    forgotten (no active count left, nothing upstream), 200 times over."""
    hello = _hello()
    with EchoServer() as up:
        port = free_port()
        with Proxy(sni_config(port, {"a": up.port, "w": up.port, "r": up.port})) as p:
            for i in range(200):
                s = connect(port)
                s.sendall(hello[:20 + i % 100])
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()  # RST
            lname = "listener.127.0.0.1_%d." % port
            p.wait_stat(lname + "downstream_cx_total", 200)
            p.wait_stat(lname + "downstream_cx_active", 0)
            p.wait_stat(lname + "downstream_pre_cx_active", 0)
            st = p.stats()
            check(st.get("tls_inspector.tls_found", 0) == 0, "no hello was whole")
            check(up.accepted == 0, "nothing reached an upstream: %d" % up.accepted)
            check(st.get(lname + "downstream_listener_filter_remote_close", 0) +
                  st.get(lname + "downstream_listener_filter_error", 0) <= 200,
                  "at most one close reason each")
            check(s_client(port, "other.org", timeout=5)[0] is None, "still answering")
