"""The TLS transport socket (issue 12) with real peers: openssl s_client and curl through a
terminating listener, re-encryption to openssl s_server with verification, client certificates,
old versions and weak suites refused, session resumption across workers, hostile input, and
positioned --mode validate errors. Certificates are made fresh in the run directory by
tests/tls/mkcerts.sh."""
import os
import random
import re
import socket
import subprocess
import time

from harness import (BUILD, EchoServer, Proxy, ROOT, Server, TCPPROXY, bootstrap, check,
                     cluster_yaml, connect, free_port, recv_all, run_path, run_subdir, wait_for,
                     wait_lines)

# AddressSanitizer keeps freed memory in quarantine: RSS says nothing there, its leak check at
# each worker's exit does instead (the harness fails a test on its report).
SANITIZED = "san" in os.path.basename(BUILD)

TCP_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
DOWN_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
UP_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
FILE_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"

_certs = []


def certs():
    """The run's test certificates (made once)."""
    if not _certs:
        d = run_subdir("tls-certs.")
        subprocess.run([os.path.join(ROOT, "tests", "tls", "mkcerts.sh"), d], check=True)
        _certs.append(d)
    return _certs[0]


def cert(name):
    return os.path.join(certs(), name)


def down_tls(common="", extra="", cert_name="server"):
    """A filter chain's transport_socket: DownstreamTlsContext with cert_name's certificate."""
    return """
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": %s
          common_tls_context:
            tls_certificates:
            - certificate_chain: {filename: %s}
              private_key: {filename: %s}%s%s
""" % (DOWN_TYPE, cert(cert_name + ".pem"), cert(cert_name + ".key"), common, extra)


def tls_listener(port, cluster, transport, proxy_extra="", name="tls", prefix="tls"):
    return """
  - name: %s
    address:
      socket_address: {address: 127.0.0.1, port_value: %d}
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": %s
          stat_prefix: %s
          cluster: %s%s%s
""" % (name, port, TCP_TYPE, prefix, cluster, proxy_extra, transport)


def up_tls(body):
    """A cluster's transport_socket: UpstreamTlsContext with body (indented YAML lines)."""
    return """
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": %s%s""" % (UP_TYPE, body)


def file_log(path, fmt):
    return """
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": %s
              path: %s
              log_format:
                text_format_source:
                  inline_string: "%s\\n"
""" % (FILE_TYPE, path, fmt)


def s_client(port, *args, data=b"", timeout=10):
    """openssl s_client to the proxy; returns (returncode, stdout+stderr as text). Stdin is
    data, then EOF: without -ign_eof s_client closes the connection once it is read."""
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port] + list(args),
                       input=data, capture_output=True, timeout=timeout)
    return r.returncode, (r.stdout + r.stderr).decode("latin-1")


def ssl_stat(proxy, scope, name):
    return proxy.stat("%s.ssl.%s" % (scope, name))


def s_client_bytes(port, payload, *args):
    """Sends payload through s_client -quiet and collects what comes back until as many bytes
    have come as were sent (an echo upstream): s_client keeps the connection open (-quiet
    ignores stdin's end), so it is stopped then."""
    src = run_path("sclient-in")
    dst = run_path("sclient-out")
    with open(src, "wb") as f:
        f.write(payload)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        p = subprocess.Popen(["openssl", "s_client", "-quiet", "-connect",
                              "127.0.0.1:%d" % port] + list(args),
                             stdin=fin, stdout=fout, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: os.path.getsize(dst) >= len(payload) or p.poll() is not None, 30,
                     what="the echo of %d bytes" % len(payload))
        finally:
            p.kill()
            p.wait()
    with open(dst, "rb") as f:
        return f.read()


# ---- termination ----

def test_s_client_bytes_exact_through_termination_tls13_and_tls12():
    port = free_port()
    with EchoServer() as echo, Proxy(bootstrap([tls_listener(port, "echo", down_tls())],
                                               [cluster_yaml("echo", [echo.port])])) as p:
        payload = random.Random(12).randbytes(1 << 20)
        for version in ("-tls1_3", "-tls1_2"):
            got = s_client_bytes(port, payload, version)
            check(got == payload, "%s: %d bytes back, want the %d sent" %
                  (version, len(got), len(payload)))
        scope = "listener.127.0.0.1_%d" % port
        wait_for(lambda: ssl_stat(p, scope, "handshake") == 2, what="2 handshakes")
        check(ssl_stat(p, scope, "versions.TLSv1.3") == 1, "one TLS 1.3 handshake")
        check(ssl_stat(p, scope, "versions.TLSv1.2") == 1, "one TLS 1.2 handshake")
        # The server's order: AES-GCM first where AES runs on AES-NI, ChaCha20 first where it
        # has no hardware help, as BoringSSL orders them; --version says which applies.
        version = subprocess.run([TCPPROXY, "--version"], capture_output=True, text=True,
                                 timeout=10).stdout
        if "AES-GCM preferred" in version:
            want12, want13 = "ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_AES_128_GCM_SHA256"
        else:
            want12, want13 = "ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_CHACHA20_POLY1305_SHA256"
        check(ssl_stat(p, scope, "ciphers." + want12) == 1,
              "TLS 1.2 chose %s by the server's order (%r)" % (want12, version))
        check(ssl_stat(p, scope, "ciphers." + want13) == 1, "TLS 1.3 chose %s too" % want13)
        check(ssl_stat(p, scope, "curves.X25519") == 2, "X25519 both times")
        check(ssl_stat(p, scope, "no_certificate") == 2, "no client certificate, counted")
        check(ssl_stat(p, scope, "connection_error") == 0, "no error")


def test_alpn_is_chosen_by_our_order():
    port = free_port()
    common = "\n            alpn_protocols: [h2, http/1.1]"
    with EchoServer() as echo, Proxy(bootstrap([tls_listener(port, "echo", down_tls(common))],
                                               [cluster_yaml("echo", [echo.port])])):
        _, out = s_client(port, "-alpn", "http/1.1,h2")
        check("ALPN protocol: h2" in out, "h2 (ours first), got:\n" + out[-800:])
        _, out = s_client(port, "-alpn", "http/1.1")
        check("ALPN protocol: http/1.1" in out, "http/1.1, got:\n" + out[-800:])
        _, out = s_client(port, "-alpn", "spdy/1")
        check("No ALPN negotiated" in out, "no ALPN in common: none, the handshake goes on")
        check("Cipher is TLS_" in out, "and the handshake completed")


def test_alpn_entry_with_commas_is_several_names():
    """Envoy joins alpn_protocols with ',' and splits on ',', so one entry "h2,http/1.1" is two
    names (Cloud Foundry's sidecar config writes it so). An empty name is still refused."""
    port = free_port()
    common = '\n            alpn_protocols: ["h2,http/1.1"]'
    with EchoServer() as echo, Proxy(bootstrap([tls_listener(port, "echo", down_tls(common))],
                                               [cluster_yaml("echo", [echo.port])])):
        _, out = s_client(port, "-alpn", "http/1.1,h2")
        check("ALPN protocol: h2" in out, "h2 (first of the entry), got:\n" + out[-800:])
        _, out = s_client(port, "-alpn", "http/1.1")
        check("ALPN protocol: http/1.1" in out, "http/1.1 (second), got:\n" + out[-800:])


def test_client_certificates_accepted_missing_untrusted_and_san():
    port, port2 = free_port(), free_port()
    logdir = run_subdir("tls-log.", 0o777)
    log = os.path.join(logdir, "access.log")
    validation = """
            validation_context:
              trusted_ca: {filename: %s}
              match_typed_subject_alt_names:
              - san_type: URI
                matcher: {prefix: "spiffe://test/"}""" % cert("ca.pem")
    strict = validation.replace('{prefix: "spiffe://test/"}', '{exact: "spiffe://test/other"}')
    fmt = ("%DOWNSTREAM_PEER_SUBJECT%|%DOWNSTREAM_PEER_URI_SAN%|%DOWNSTREAM_PEER_FINGERPRINT_256%"
           "|%DOWNSTREAM_TLS_VERSION%|%DOWNSTREAM_TLS_CIPHER%|%REQUESTED_SERVER_NAME%"
           "|%DOWNSTREAM_TLS_SESSION_ID%")
    listeners = [
        tls_listener(port, "echo", down_tls(validation, "\n          require_client_certificate: "
                                            "true"), proxy_extra=file_log(log, fmt)),
        tls_listener(port2, "echo", down_tls(strict, "\n          require_client_certificate: "
                                             "true"), name="strict", prefix="strict"),
    ]
    with EchoServer() as echo, Proxy(bootstrap(listeners, [cluster_yaml("echo", [echo.port])])) \
            as p:
        scope = "listener.127.0.0.1_%d" % port
        # Accepted: the bytes go through, the peer's details are logged.
        got = s_client_bytes(port, b"mtls\n", "-cert", cert("client.pem"), "-key",
                             cert("client.key"), "-servername", "server.test")
        check(got == b"mtls\n", "echo through mTLS, got %r" % got)
        # Missing and untrusted.
        s_client(port, "-tls1_2")
        s_client(port, "-tls1_2", "-cert", cert("stranger.pem"), "-key", cert("stranger.key"))
        wait_for(lambda: ssl_stat(p, scope, "fail_verify_no_cert") == 1,
                 what="fail_verify_no_cert == 1")
        wait_for(lambda: ssl_stat(p, scope, "fail_verify_error") == 1,
                 what="fail_verify_error == 1")
        check(ssl_stat(p, scope, "handshake") == 1, "only the good client got through")
        check(ssl_stat(p, scope, "connection_error") == 0,
              "certificate failures are counted as such, not as connection errors")
        # A trusted certificate whose SAN the other listener does not accept.
        s_client(port2, "-tls1_2", "-cert", cert("client.pem"), "-key", cert("client.key"))
        wait_for(lambda: ssl_stat(p, "listener.127.0.0.1_%d" % port2, "fail_verify_san") == 1,
                 what="fail_verify_san == 1")
        lines = wait_lines(log, 3)
    fp = subprocess.run(["openssl", "x509", "-in", cert("client.pem"), "-noout", "-fingerprint",
                         "-sha256"], capture_output=True, text=True).stdout
    fp = fp.strip().split("=")[1].replace(":", "").lower()
    ok = [l for l in lines if "spiffe" in l]
    check(len(ok) == 1, "one entry for the accepted client: %r" % lines)
    subject, uri, fingerprint, version, cipher, sni, sid = ok[0].split("|")
    check(subject == "O=tcpproxy tests,CN=client", "RFC 2253 subject, got %r" % subject)
    check(uri == "spiffe://test/client", "URI SAN, got %r" % uri)
    check(fingerprint == fp, "SHA-256 fingerprint %r, want %r" % (fingerprint, fp))
    check(version == "TLSv1.3" and cipher.startswith("TLS_"), "%r %r" % (version, cipher))
    check(sni == "server.test", "the SNI from the handshake, got %r" % sni)
    check(re.fullmatch(r"[0-9a-f]{2,64}", sid) is not None, "hex session id, got %r" % sid)


def test_several_certificates_are_chosen_by_sni():
    port = free_port()
    transport = """
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": %s
          common_tls_context:
            tls_certificates:
            - certificate_chain: {filename: %s}
              private_key: {filename: %s}
            - certificate_chain: {filename: %s}
              private_key: {filename: %s}
""" % (DOWN_TYPE, cert("server.pem"), cert("server.key"), cert("second.pem"),
       cert("second.key"))
    with EchoServer() as echo, Proxy(bootstrap([tls_listener(port, "echo", transport)],
                                               [cluster_yaml("echo", [echo.port])])):
        for sni, want in (("second.test", "CN = second.test"), ("SECOND.test", "CN = second.test"),
                          ("server.test", "CN = server.test"),
                          ("api.example.com", "CN = server.test"),  # its wildcard SAN
                          ("other.test", "CN = server.test"), (None, "CN = server.test")):
            args = ["-servername", sni] if sni else ["-noservername"]
            _, out = s_client(port, *args)
            m = re.search(r"subject=(.*)", out)
            check(m and want in m.group(1), "SNI %s: want %s, got %s" %
                  (sni, want, m.group(1) if m else out[-500:]))


def test_sni_routed_chains_terminate_with_their_own_certificates():
    """tls_inspector picks the chain by SNI (the listener side), and each chain's own
    DownstreamTlsContext terminates with its own certificate, to its own cluster."""
    port = free_port()

    def chain(name, sni, cert_name, cluster):
        return """
    - name: %s
      filter_chain_match: {server_names: [%s]}
      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": %s
          stat_prefix: %s
          cluster: %s%s""" % (name, sni, TCP_TYPE, name, cluster,
                              down_tls(cert_name=cert_name).rstrip("\n"))

    listener = """
  - name: sni
    address:
      socket_address: {address: 127.0.0.1, port_value: %d}
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector
    filter_chains:%s%s
""" % (port, chain("one", "server.test", "server", "a"), chain("two", "second.test", "second",
                                                                 "b"))
    with EchoServer() as a, EchoServer() as b, \
            Proxy(bootstrap([listener], [cluster_yaml("a", [a.port]),
                                         cluster_yaml("b", [b.port])])) as p:
        for sni, cn, echo in (("second.test", "CN = second.test", b),
                              ("server.test", "CN = server.test", a)):
            before = echo.accepted
            _, out = s_client(port, "-servername", sni, data=b"x")
            m = re.search(r"subject=(.*)", out)
            check(m and cn in m.group(1), "%s: want %s, got %s" % (sni, cn, out[-400:]))
            wait_for(lambda: echo.accepted == before + 1, what="%s to its cluster" % sni)
        check(p.stat("tcp.one.downstream_cx_total") == 1 and
              p.stat("tcp.two.downstream_cx_total") == 1, "one connection each")
        check(ssl_stat(p, "listener.127.0.0.1_%d" % port, "handshake") == 2,
              "both chains count into the listener's ssl scope")


def test_old_versions_and_weak_suites_are_refused():
    port = free_port()
    with EchoServer() as echo, Proxy(bootstrap([tls_listener(port, "echo", down_tls())],
                                               [cluster_yaml("echo", [echo.port])])) as p:
        scope = "listener.127.0.0.1_%d" % port
        tries = [
            # The client's own security level would refuse these before we could.
            ("-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"),
            ("-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"),
            ("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256"),  # CBC
            ("-tls1_2", "-cipher", "AES128-GCM-SHA256"),  # RSA key exchange
            ("-tls1_2", "-cipher", "ECDHE-ECDSA-NULL-SHA:@SECLEVEL=0"),  # no encryption
        ]
        for args in tries:
            _, out = s_client(port, *args)
            check("Cipher is (NONE)" in out or "Cipher    : 0000" in out,
                  "%s: refused, got:\n%s" % (" ".join(args), out[-600:]))
        wait_for(lambda: ssl_stat(p, scope, "connection_error") == len(tries),
                 what="a connection error each (%d)" % len(tries))
        check(ssl_stat(p, scope, "handshake") == 0, "no handshake completed")


def _tls_echo(port, version, session=None):
    """One TLS connection (Python's ssl): sends a byte, reads its echo (so a TLS 1.3 ticket,
    which comes after the handshake, has arrived); returns (session, reused)."""
    import ssl
    ctx = _client_ctx(version)
    with socket.create_connection(("127.0.0.1", port), 10) as raw:
        with ctx.wrap_socket(raw, server_hostname="server.test", session=session) as s:
            s.sendall(b"x")
            check(s.recv(1) == b"x", "echo")
            return s.session, s.session_reused


_ctxs = {}


def _client_ctx(version):
    """One client context per version: a session resumes only with the context it came from."""
    import ssl
    if version not in _ctxs:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cert("ca.pem"))
        ctx.minimum_version = ctx.maximum_version = version
        _ctxs[version] = ctx
    return _ctxs[version]


def test_renegotiation_is_refused():
    port = free_port()
    with EchoServer() as echo, Proxy(bootstrap([tls_listener(port, "echo", down_tls())],
                                               [cluster_yaml("echo", [echo.port])])) as p:
        scope = "listener.127.0.0.1_%d" % port
        c = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                              "-tls1_2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        try:
            c.stdin.write(b"hello\n")
            c.stdin.flush()
            wait_for(lambda: p.stat(scope + ".ssl.handshake") == 1, what="the handshake")
            time.sleep(0.2)  # the echo comes back
            c.stdin.write(b"R\n")  # s_client's command: renegotiate
            c.stdin.flush()
            wait_for(lambda: ssl_stat(p, scope, "connection_error") == 1,
                     what="the renegotiation refused, as a connection error")
            out = c.communicate(b"after\n", timeout=10)[0].decode("latin-1")
        finally:
            if c.poll() is None:
                c.kill()
                c.wait()
        check("RENEGOTIATING" in out and "hello" in out, "renegotiation tried:\n" + out[-800:])
        check("\nafter" not in out, "nothing passes after it:\n" + out[-800:])
        wait_for(lambda: p.stat(scope + ".downstream_cx_active") == 0, what="closed")


def test_session_resumption_is_reused_and_counted_across_workers():
    import ssl
    port = free_port()
    sess12 = run_path("sess12")
    with EchoServer() as echo, Proxy(bootstrap([tls_listener(port, "echo", down_tls())],
                                               [cluster_yaml("echo", [echo.port])]),
                                     concurrency=2) as p:
        scope = "listener.127.0.0.1_%d" % port
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            sess, reused = _tls_echo(port, version)
            check(not reused, "a full handshake first")
            n = 0
            for _ in range(8):  # two workers: connections land on both
                n += _tls_echo(port, version, sess)[1]
            check(n == 8, "%s: %d of 8 resumed" % (version.name, n))
        # s_client too (TLS 1.2: the session is known at the end of the handshake).
        _, out = s_client(port, "-tls1_2", "-sess_out", sess12)
        _, out = s_client(port, "-tls1_2", "-sess_in", sess12)
        check("Reused," in out, "s_client -sess_in resumed:\n" + out[-600:])
        wait_for(lambda: ssl_stat(p, scope, "session_reused") == 17,
                 what="session_reused == 17 (is %d)" % ssl_stat(p, scope, "session_reused"))
        check(ssl_stat(p, scope, "handshake") == 20, "every handshake counted")


def http_handler(c):
    c.recv(4096)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n")


def test_curl_through_termination():
    port = free_port()
    logdir = run_subdir("tls-log.", 0o777)
    log = os.path.join(logdir, "access.log")
    with Server(http_handler) as web, \
            Proxy(bootstrap([tls_listener(port, "web", down_tls(), proxy_extra=file_log(
                log, "%REQUESTED_SERVER_NAME% %DOWNSTREAM_TLS_VERSION%"))],
                [cluster_yaml("web", [web.port])])):
        r = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", cert("ca.pem"),
                            "--resolve", "server.test:%d:127.0.0.1" % port,
                            "https://server.test:%d/" % port], capture_output=True, text=True)
        check(r.returncode == 0 and r.stdout == "hello\n",
              "curl: %d %r %r" % (r.returncode, r.stdout, r.stderr))
        # A wildcard name of the same certificate.
        r = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", cert("ca.pem"),
                            "--resolve", "api.example.com:%d:127.0.0.1" % port,
                            "https://api.example.com:%d/" % port], capture_output=True,
                           text=True)
        check(r.stdout == "hello\n", "curl by the wildcard name: %r" % r.stderr)
        lines = wait_lines(log, 2)
    check(lines[0] == "server.test TLSv1.3", "logged %r" % lines[0])
    check(lines[1] == "api.example.com TLSv1.3", "logged %r" % lines[1])


# ---- upstream TLS ----

class SServer:
    """openssl s_server on a free port with a certificate, reversing each line (-rev)."""

    def __init__(self, name, *extra):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", "127.0.0.1:%d" % self.port, "-cert",
             cert(name + ".pem"), "-key", cert(name + ".key"), "-rev", "-quiet"] + list(extra),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._ready, what="openssl s_server to listen")

    def _ready(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True
        except OSError:
            return self.proc.poll() is not None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def test_reencryption_to_openssl_server_with_verification_and_mtls():
    port = free_port()
    body = """
        sni: up.test
        common_tls_context:
          tls_params: {tls_maximum_protocol_version: TLSv1_3}
          tls_certificates:
          - certificate_chain: {filename: %s}
            private_key: {filename: %s}
          validation_context:
            trusted_ca: {filename: %s}
            match_typed_subject_alt_names:
            - san_type: DNS
              matcher: {exact: up.test}""" % (cert("client.pem"), cert("client.key"),
                                               cert("ca.pem"))
    logdir = run_subdir("tls-log.", 0o777)
    log = os.path.join(logdir, "access.log")
    # The server asks for (and verifies) our client certificate: mTLS to the backend.
    with SServer("up", "-Verify", "1", "-CAfile", cert("ca.pem")) as up, \
            Proxy(bootstrap([tls_listener(port, "up", "", proxy_extra=file_log(
                log, "%UPSTREAM_TLS_VERSION% %UPSTREAM_TLS_CIPHER%"))],
                [cluster_yaml("up", [up.port], extra=up_tls(body))]), concurrency=1) as p:
        for i in range(2):
            s = connect(port)
            s.sendall(b"hello\n")
            got = b""
            while not got.endswith(b"\n"):
                b = s.recv(100)
                check(b, "the upstream answered, got %r so far" % got)
                got += b
            s.close()
            check(got == b"olleh\n", "s_server reversed the line, got %r" % got)
            wait_for(lambda: p.stat("cluster.up.upstream_cx_active") == 0,
                     what="the upstream connection closed")
        check(ssl_stat(p, "cluster.up", "handshake") == 2, "two upstream handshakes")
        check(ssl_stat(p, "cluster.up", "versions.TLSv1.3") == 2, "TLS 1.3 upstream")
        # The first connection's session (its ticket) resumed the second (max_session_keys).
        check(ssl_stat(p, "cluster.up", "session_reused") == 1, "the second one resumed")
        lines = wait_lines(log, 2)
    check(re.fullmatch(r"TLSv1\.3 TLS_\w+", lines[0]) is not None, "logged %r" % lines[0])


def test_wrong_upstream_san_fails_counted_and_retried():
    port = free_port()
    body = """
        common_tls_context:
          validation_context:
            trusted_ca: {filename: %s}
            match_typed_subject_alt_names:
            - san_type: DNS
              matcher: {exact: up.test}""" % cert("ca.pem")
    logdir = run_subdir("tls-log.", 0o777)
    log = os.path.join(logdir, "access.log")
    extra = "\n          max_connect_attempts: 2" + file_log(
        log, "%RESPONSE_FLAGS% %UPSTREAM_TRANSPORT_FAILURE_REASON%")
    with SServer("wrong") as up, \
            Proxy(bootstrap([tls_listener(port, "up", "", proxy_extra=extra)],
                            [cluster_yaml("up", [up.port], extra=up_tls(body))])) as p:
        s = connect(port)
        s.sendall(b"hello\n")
        try:
            got = recv_all(s)
        except ConnectionResetError:  # closed with "hello" unread, as Envoy would
            got = b""
        check(got == b"", "closed without an answer, got %r" % got)
        s.close()
        wait_for(lambda: p.stat("cluster.up.upstream_cx_connect_fail") == 2,
                 what="two failed attempts")
        check(ssl_stat(p, "cluster.up", "fail_verify_san") == 2, "both counted as SAN failures")
        check(ssl_stat(p, "cluster.up", "handshake") == 0, "no handshake completed")
        check(p.stat("cluster.up.upstream_cx_connect_attempts_exceeded") == 1, "URX")
        lines = wait_lines(log, 1)
    check(lines[0] == "UF,URX TLS_error:|268435581:SSL_routines:OPENSSL_internal:"
          "CERTIFICATE_VERIFY_FAILED:TLS_error_end", "logged %r" % lines[0])


# ---- hostile input ----

def test_random_bytes_are_a_connection_error_and_closed():
    port = free_port()
    with EchoServer() as echo, Proxy(bootstrap([tls_listener(port, "echo", down_tls())],
                                               [cluster_yaml("echo", [echo.port])])) as p:
        s = connect(port)
        junk = bytearray(os.urandom(1 << 20))
        junk[0] = 0x47  # not a TLS record type, whatever urandom gave
        try:
            s.sendall(bytes(junk))
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while we were still sending: what we want
        try:
            while s.recv(1 << 16):
                pass
        except ConnectionResetError:
            pass
        s.close()
        scope = "listener.127.0.0.1_%d" % port
        wait_for(lambda: ssl_stat(p, scope, "connection_error") == 1,
                 what="a connection error")
        wait_for(lambda: p.stat(scope.replace("_%d" % port, "_%d" % port) +
                                ".downstream_cx_active") == 0, what="the connection closed")


def client_hello_prefix():
    """The first bytes of a real ClientHello (Python's ssl over memory BIOs)."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="server.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def _fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def _rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _reset_storm(port, n, hello):
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.connect(("127.0.0.1", port))
        # Half a ClientHello, or all of it (the server answers before the reset).
        s.sendall(hello[: len(hello) // 2] if i % 2 else hello)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()


def test_thousands_of_mid_handshake_resets_leave_fds_and_rss_at_baseline():
    port = free_port()
    hello = client_hello_prefix()
    with EchoServer() as echo, Proxy(bootstrap([tls_listener(
            port, "echo", down_tls(), proxy_extra="\n          upstream_connect_mode: "
            "ON_DOWNSTREAM_TLS_HANDSHAKE\n          max_early_data_bytes: 1024")],
            [cluster_yaml("echo", [echo.port])]),
            concurrency=1) as p:
        scope = "listener.127.0.0.1_%d" % port
        worker = p.worker_pids()[0]
        fds = _fds(worker)  # at rest: the ring, the listening socket, the signalfd, ...
        # Warm up as hard as the test itself: connection slots come in chunks that are kept,
        # and the heap grows to the peak number of connections open at once.
        _reset_storm(port, 3000, hello)
        wait_for(lambda: p.stat(scope + ".downstream_cx_active") == 0, 30,
                 what="the warm-up connections closed")
        # A socket is closed by the ring just after the connection is counted closed.
        wait_for(lambda: _fds(worker) == fds, 10, what="the warm-up's sockets closed")
        rss = _rss_kb(worker)
        for total in (6000, 9000):
            _reset_storm(port, 3000, hello)
            wait_for(lambda: p.stat(scope + ".downstream_cx_total") == total, 30,
                     what="%d connections accepted" % total)
            wait_for(lambda: p.stat(scope + ".downstream_cx_active") == 0, 30,
                     what="every connection closed")
        wait_for(lambda: _fds(worker) == fds, 10,
                 what="worker fds back to %d (are %d)" % (fds, _fds(worker)))
        grown = _rss_kb(worker) - rss
        # Less than 200 bytes a connection: nothing each one left behind.
        check(grown < 1024 or SANITIZED, "worker RSS grew %d KiB over 6000 resets" % grown)
        check(ssl_stat(p, scope, "connection_error") == 0,
              "a peer gone mid-handshake is no TLS error (Envoy: a system error)")
        check(echo.accepted == 0, "no upstream connection before a handshake ended")
        ss = subprocess.run(["ss", "-tan", "state", "established", "( sport = :%d )" % port],
                            capture_output=True, text=True).stdout
        check(len(ss.strip().splitlines()) <= 1, "no connection left:\n" + ss)


# ---- configuration ----

def _validate(config):
    path = run_path("tls-validate") + ".yaml"
    with open(path, "w") as f:
        f.write(config)
    r = subprocess.run([TCPPROXY, "--mode", "validate", "-c", path], capture_output=True,
                       text=True)
    return r.returncode, r.stdout + r.stderr, path


def test_bad_certificates_and_keys_are_positioned_validate_errors():
    bad_pem = run_path("bad") + ".pem"
    with open(bad_pem, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    cases = [
        # (what, certificate, key, the key whose line the error is on, reason)
        ("missing key file", cert("server.pem"), "/nonexistent/server.key", "private_key",
         "private_key.filename: cannot open /nonexistent/server.key"),
        ("mismatched key", cert("server.pem"), cert("unrelated.key"), "private_key",
         "private_key: the private key does not match"),
        ("another certificate's key", cert("server.pem"), cert("up.key"), "private_key",
         "private_key: the private key does not match"),
        ("not a certificate", bad_pem, cert("server.key"), "certificate_chain",
         "certificate_chain: bad certificate chain"),
    ]
    for what, chain, key, at, reason in cases:
        transport = """
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": %s
          common_tls_context:
            tls_certificates:
            - certificate_chain: {filename: %s}
              private_key: {filename: %s}
""" % (DOWN_TYPE, chain, key)
        config = bootstrap([tls_listener(1234, "echo", transport)],
                           [cluster_yaml("echo", [1235])])
        line = next(i + 1 for i, l in enumerate(config.splitlines()) if at + ":" in l)
        rc, out, path = _validate(config)
        check(rc == 1, "%s: exit 1, got %d: %s" % (what, rc, out))
        want = "%s:%d:" % (path, line)
        check(out.startswith(want) and reason in out,
              "%s: want %s...%s, got:\n%s" % (what, want, reason, out))
    rc, out, _ = _validate(bootstrap([tls_listener(1234, "echo", down_tls())],
                                     [cluster_yaml("echo", [1235])]))
    check(rc == 0, "the good one validates: " + out)


def test_static_secrets_by_name():
    port = free_port()
    secrets = """
  secrets:
  - name: server_cert
    tls_certificate:
      certificate_chain: {filename: %s}
      private_key: {filename: %s}
  - name: client_ca
    validation_context:
      trusted_ca: {filename: %s}
  - name: ticket_keys
    session_ticket_keys:
      keys:
      - inline_bytes: %s
""" % (cert("server.pem"), cert("server.key"), cert("ca.pem"),
       __import__("base64").b64encode(bytes(range(80))).decode())
    transport = """
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": %s
          session_ticket_keys_sds_secret_config: {name: ticket_keys}
          common_tls_context:
            tls_certificate_sds_secret_configs: [{name: server_cert}]
            validation_context_sds_secret_config: {name: client_ca}
""" % DOWN_TYPE
    sess = run_path("sess")
    with EchoServer() as echo, Proxy(bootstrap([tls_listener(port, "echo", transport)],
                                               [cluster_yaml("echo", [echo.port])]) + secrets) \
            as p:
        got = s_client_bytes(port, b"via sds\n", "-cert", cert("client.pem"), "-key",
                             cert("client.key"))
        check(got == b"via sds\n", "echo through a context made of secrets, got %r" % got)
        _, out = s_client(port, "-tls1_2", "-sess_out", sess, data=b"x")
        _, out = s_client(port, "-tls1_2", "-sess_in", sess, data=b"x")
        check("Reused," in out, "resumed with the configured ticket keys")
        check(ssl_stat(p, "listener.127.0.0.1_%d" % port, "no_certificate") >= 2,
              "a client certificate is asked for, not required")
