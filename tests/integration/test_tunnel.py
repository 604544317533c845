"""HTTP tunnels (issue 15): tcp_proxy's tunneling_config through real proxies. tinyproxy and squid
terminate HTTP/1.1 CONNECT, a Node terminator (tunnel_terminator.js) POST over HTTP/1.1 chunked
and CONNECT/POST over HTTP/2, nghttpx -s HTTP/2 CONNECT in front of tinyproxy. Bulk both ways
byte-exact, refusals (403/407/503) counted and retried on the next host, a hostile proxy, and
envoy.tcp_proxy.disable_tunneling per connection."""
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from harness import (EchoServer, Proxy, RUN_DIR, Server, Skip, bootstrap, check, cluster_yaml,
                     connect, digest_of, free_port, run_path, stream_bytes, wait_for, wait_lines)

MIB = 1 << 20
HERE = os.path.dirname(os.path.abspath(__file__))
TCP_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
SFS_TYPE = "type.googleapis.com/envoy.extensions.filters.network.set_filter_state.v3.Config"
FILE_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
H2_OPTIONS = """
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http2_protocol_options: {%s}"""


def need(binary):
    path = shutil.which(binary) or (os.path.exists("/usr/sbin/" + binary) and "/usr/sbin/" + binary)
    if not path:
        raise Skip("%s is not installed (.ci/deps --test installs it)" % binary)
    return path


def wait_port(port, proc=None, what="server"):
    def up():
        if proc is not None and proc.poll() is not None:
            raise AssertionError("%s exited at start" % what)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False
    wait_for(up, timeout=20, what=what + " to listen")


class Daemon:
    """A peer process run in the foreground, stopped at the end of the test."""

    def __init__(self, args, port, what, cwd=None):
        self.log = open(run_path("%s.%d.log" % (what, port)), "w+")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=cwd or RUN_DIR)
        self.port = port
        try:
            wait_port(port, self.proc, what)
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def tinyproxy():
    binary = need("tinyproxy")
    port = _unbound_port()
    conf = run_path("tinyproxy.%d.conf" % port)
    with open(conf, "w") as f:
        f.write("Port %d\nListen 127.0.0.1\nTimeout 600\nMaxClients 1000\nLogLevel Warning\n"
                % port)
    return Daemon([binary, "-d", "-c", conf], port, "tinyproxy")


def squid():
    binary = need("squid")
    port = _unbound_port()
    d = run_path("squid.%d" % port)
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o777)
    conf = os.path.join(d, "squid.conf")
    with open(conf, "w") as f:
        f.write("http_port 127.0.0.1:%d\nhttp_access allow all\ncache deny all\n"
                "pid_filename %s/squid.pid\naccess_log none\ncache_log %s/cache.log\n"
                "coredump_dir %s\nshutdown_lifetime 0 seconds\npinger_enable off\n"
                % (port, d, d, d))
    return Daemon([binary, "-N", "-f", conf], port, "squid", cwd=d)


def terminator(mode):
    node = need("node")
    portfile = run_path("terminator.%s.%d.port" % (mode, time.monotonic_ns()))
    log = open(portfile + ".log", "w+")
    proc = subprocess.Popen([node, os.path.join(HERE, "tunnel_terminator.js"), mode, portfile],
                            stdout=log, stderr=subprocess.STDOUT, cwd=RUN_DIR)
    wait_for(lambda: os.path.exists(portfile) or proc.poll() is not None, timeout=20,
             what="the node terminator")
    check(proc.poll() is None, "node terminator exited:\n" + open(portfile + ".log").read())
    port = int(open(portfile).read())
    t = Daemon.__new__(Daemon)
    t.proc, t.port, t.log = proc, port, log
    return t


def _unbound_port():
    """A port for a daemon that binds it itself: free now (free_port keeps its port bound)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


LOG_FORMAT = ("%RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_REQUEST_ATTEMPT_COUNT% "
              "%FILTER_STATE(envoy.tcp_proxy.propagate_response_headers:PLAIN)%")


def tunnel_config(port, proxy_ports, hostname, tunnel_extra="", proxy_extra="",
                  cluster_extra="", log_path=None, filters="", log_format=LOG_FORMAT):
    alog = ""
    if log_path:
        alog = """
          access_log:
          - name: log
            typed_config:
              "@type": %s
              path: %s
              log_format:
                text_format_source:
                  inline_string: "%s\\n"
""" % (FILE_TYPE, log_path, log_format)
    listener = """
  - name: l
    address:
      socket_address: {address: 127.0.0.1, port_value: %d}
    filter_chains:
    - filters:%s
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": %s
          stat_prefix: tun
          cluster: c%s
          tunneling_config:
            hostname: "%s"%s%s
""" % (port, filters, TCP_TYPE, proxy_extra, hostname, tunnel_extra, alog)
    return bootstrap([listener], [cluster_yaml("c", proxy_ports, extra=cluster_extra)])


def exchange(sock, seed, total, half_close):
    """Sends total bytes of stream seed on sock (from a thread, then its FIN if half_close)
    while reading what comes back, to EOF (half_close) or total bytes: (count, sha256)."""
    def send():
        for b in stream_bytes(seed, total):
            sock.sendall(b)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=send)
    t.start()
    h, n = hashlib.sha256(), 0
    while half_close or n < total:
        b = sock.recv(MIB)
        if not b:
            break
        h.update(b)
        n += len(b)
    t.join()
    return n, h.hexdigest()


def bulk(port, total=64 * MIB, seed=1, half_close=True):
    """total bytes each way through the proxy on port to a fresh upstream that sends its own and
    hashes what it gets; both sides byte-exact. half_close: each side's FIN follows its last
    byte at once (passed on by the tunnel); otherwise each side waits for all it should get
    first (an HTTP/1.1 CONNECT proxy like tinyproxy or squid ends the whole tunnel on one
    side's FIN)."""
    result = {}

    def upstream(c):
        result["up"] = exchange(c, seed + 1, total, half_close)

    return Server(upstream), result, total, seed


def run_bulk(proxy_port, srv, result, total, seed, half_close=True):
    s = connect(proxy_port, timeout=120)
    n, digest = exchange(s, seed, total, half_close)
    s.close()
    check(n == total, "client received %d bytes, want %d" % (n, total))
    check(digest == digest_of(seed + 1, total), "upstream->client bytes differ")
    wait_for(lambda: "up" in result, timeout=60, what="the upstream to finish")
    check(result["up"] == (total, digest_of(seed, total)), "client->upstream bytes differ")


def bulk_through(proxy_ports, tunnel_extra="", cluster_extra="", total=64 * MIB,
                 half_close=True):
    up, result, total, seed = bulk(None, total, half_close=half_close)
    with up:
        port = free_port()
        log = run_path("tunnel.%d.log" % port)
        cfg = tunnel_config(port, proxy_ports, "127.0.0.1:%d" % up.port, tunnel_extra,
                            cluster_extra=cluster_extra, log_path=log)
        with Proxy(cfg) as p:
            run_bulk(port, up, result, total, seed, half_close)
            p.wait_stat("tcp.tun.downstream_cx_rx_bytes_total", total)
            wait_lines(log, 1)
            st = p.stats()
            check(st["cluster.c.upstream_rq_total"] == 1, str(st))
            check(st["cluster.c.upstream_rq_200"] == 1, str(st))
            check(st["cluster.c.upstream_rq_2xx"] == 1, str(st))
            check(st["tcp.tun.downstream_cx_tx_bytes_total"] == total, str(st))
            line = open(log).read()
            check(line.startswith("200 - 1 "), line)
            check(p.stop() == 0, "tcpproxy exit status")
            return st, line


def test_tunnel_connect_tinyproxy_64mib_each_way():
    with tinyproxy() as tp:
        st, line = bulk_through([tp.port], "\n            propagate_response_headers: true",
                                half_close=False)
        check(st["cluster.c.upstream_cx_http1_total"] == 1, str(st))
        check('"proxy-agent":"tinyproxy' in line, line)


def test_tunnel_connect_squid_64mib_each_way():
    with squid() as sq:
        st, _ = bulk_through([sq.port], half_close=False)
        check(st["cluster.c.upstream_cx_http1_total"] == 1, str(st))


def test_tunnel_post_http1_chunked_64mib_each_way():
    with terminator("h1") as t:
        st, line = bulk_through([t.port], "\n            use_post: true\n"
                                "            post_path: /tunnel\n"
                                "            propagate_response_headers: true")
        check('"x-terminator":"node-h1"' in line, line)
        check('"transfer-encoding":"chunked"' in line, line)


def refusing(status):
    """A proxy that answers every request with status."""
    def handler(c):
        c.recv(65536)
        c.sendall(b"HTTP/1.1 %d Refused\r\nContent-Length: 0\r\n\r\n" % status)
        time.sleep(0.2)
    return Server(handler)


def test_tunnel_403_407_503_counted_and_retried_on_the_next_host():
    echo = EchoServer()
    try:
        with tinyproxy() as tp, refusing(403) as r403, refusing(407) as r407, \
                refusing(503) as r503:
            port = free_port()
            log = run_path("tunnel.%d.log" % port)
            cfg = tunnel_config(port, [r403.port, r407.port, r503.port, tp.port],
                                "127.0.0.1:%d" % echo.port,
                                proxy_extra="\n          max_connect_attempts: 4",
                                log_path=log)
            with Proxy(cfg, concurrency=1) as p:
                for i in range(8):
                    s = connect(port)
                    s.sendall(b"ping %d" % i)
                    check(s.recv(100) == b"ping %d" % i, "echo through the tunnel")
                    s.close()
                wait_lines(log, 8)
                st = p.stats()
                fails = st["cluster.c.upstream_cx_connect_fail"]
                check(fails >= 3, str(st))
                for code in (403, 407, 503):
                    check(st["cluster.c.upstream_rq_%d" % code] >= 1, "no %d: %s" % (code, st))
                check(st["cluster.c.upstream_rq_4xx"] + st["cluster.c.upstream_rq_5xx"] == fails,
                      str(st))
                check(st["cluster.c.upstream_rq_200"] == 8, str(st))
                check(st["cluster.c.upstream_rq_total"] == 8 + fails, str(st))
                check(st["cluster.c.upstream_rq_active"] == 0, str(st))
                check(st["cluster.c.upstream_cx_connect_attempts_exceeded"] == 0, str(st))
                lines = open(log).read().splitlines()
                check(all(l.startswith("200 ") for l in lines), "\n".join(lines))
                check(any(" UF " in l for l in lines), "\n".join(lines))
    finally:
        echo.close()


def test_tunnel_refused_everywhere_ends_with_urx_and_the_status():
    with refusing(407) as r:
        port = free_port()
        log = run_path("tunnel.%d.log" % port)
        cfg = tunnel_config(port, [r.port], "example.com:443",
                            proxy_extra="\n          max_connect_attempts: 2", log_path=log)
        with Proxy(cfg) as p:
            s = connect(port)
            check(s.recv(100) == b"", "closed without a byte")
            s.close()
            wait_lines(log, 1)
            line = open(log).read()
            check(line.startswith("407 UF,URX 2 "), line)
            st = p.stats()
            check(st["cluster.c.upstream_rq_407"] == 2, str(st))
            check(st["cluster.c.upstream_cx_connect_fail"] == 2, str(st))
            check(st["cluster.c.upstream_rq_active"] == 0, str(st))


def worker_fds(p):
    return sum(len(os.listdir("/proc/%d/fd" % pid)) for pid in p.worker_pids())


def test_tunnel_hostile_proxy_is_a_connect_failure_and_leaks_nothing():
    def endless(c):
        c.recv(65536)
        c.sendall(b"HTTP/1.1 200 OK\r\nX-Endless: ")
        try:
            for _ in range(64):
                c.sendall(b"a" * 4096)
        except OSError:
            pass

    def many(c):
        c.recv(65536)
        try:
            c.sendall(b"HTTP/1.1 200 OK\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(5000)))
        except OSError:
            pass

    def garbage(c):
        c.recv(65536)
        c.sendall(os.urandom(3000))

    def silent_close(c):
        c.recv(65536)

    def half_head(c):
        c.recv(65536)
        c.sendall(b"HTTP/1.1 200 OK\r\nX: y\r\n")

    echo = EchoServer()
    try:
        servers = [Server(h) for h in (endless, many, garbage, silent_close, half_head)]
        try:
            port = free_port()
            cfg = tunnel_config(port, [s.port for s in servers], "127.0.0.1:%d" % echo.port)
            with Proxy(cfg, concurrency=1) as p:
                before = worker_fds(p)
                for i in range(50):
                    s = connect(port)
                    check(s.recv(100) == b"", "a hostile answer must close the client")
                    s.close()
                p.wait_stat("cluster.c.upstream_cx_connect_fail", 50)
                st = p.stats()
                check(st["cluster.c.upstream_rq_total"] == 50, str(st))
                check(st["cluster.c.upstream_rq_active"] == 0, str(st))
                check(st["cluster.c.upstream_cx_active"] == 0, str(st))
                check(st["cluster.c.upstream_rq_2xx"] == 0, str(st))
                wait_for(lambda: worker_fds(p) <= before, what="the worker's fds to settle")
                check(p.stop() == 0, "tcpproxy exit status")
        finally:
            for s in servers:
                s.close()
    finally:
        echo.close()


def test_tunnel_disabled_per_connection_by_filter_state():
    echo = EchoServer()
    try:
        with tinyproxy() as tp:
            tunneled, direct = free_port(), free_port()
            sfs = """
      - name: envoy.filters.network.set_filter_state
        typed_config:
          "@type": %s
          on_new_connection:
          - object_key: envoy.tcp_proxy.disable_tunneling
            format_string:
              text_format_source:
                inline_string: "%%DOWNSTREAM_LOCAL_PORT%%"
""" % SFS_TYPE
            # The filter state is "true" only where the value renders so: a second listener
            # with the same chain sets it from a constant.
            cfg = tunnel_config(tunneled, [tp.port], "127.0.0.1:%d" % echo.port)
            cfg2 = tunnel_config(direct, [echo.port], "127.0.0.1:1",
                                 filters=sfs.replace("%DOWNSTREAM_LOCAL_PORT%", "true"))
            listeners = cfg.split("  clusters:")[0] + cfg2.split("  listeners:")[1].split(
                "  clusters:")[0].replace("name: l\n", "name: l2\n").replace(
                "cluster: c", "cluster: d")
            full = listeners + "  clusters:" + cluster_yaml("c", [tp.port]) + \
                cluster_yaml("d", [echo.port])
            with Proxy(full) as p:
                for prt in (tunneled, direct):
                    s = connect(prt)
                    s.sendall(b"hello")
                    check(s.recv(100) == b"hello", "echo on port %d" % prt)
                    s.close()
                p.master_barrier()
                st = p.stats()
                check(st["cluster.c.upstream_rq_total"] == 1, str(st))
                check(st["cluster.d.upstream_rq_total"] == 0, str(st))
                check(st["cluster.d.upstream_cx_total"] == 1, str(st))
    finally:
        echo.close()


def test_tunnel_http1_no_client_byte_before_the_answer_and_bytes_with_it_are_the_tunnels():
    """A proxy that takes its time: the client's early bytes wait in tcpproxy until the answer
    (Envoy PR #14317), in IMMEDIATE and ON_DOWNSTREAM_DATA modes; the answer comes in two
    pieces with the tunnel's first bytes behind the head in the same segment."""
    got = []

    def proxy(c):
        head = b""
        while b"\r\n\r\n" not in head:
            b = c.recv(65536)
            if not b:
                return
            head += b
        req, rest = head.split(b"\r\n\r\n", 1)
        c.settimeout(0.3)
        try:
            rest += c.recv(65536)
        except socket.timeout:
            pass
        c.settimeout(10)
        got.append((req, rest))
        c.sendall(b"HTTP/1.1 200 Connection est")
        time.sleep(0.05)
        c.sendall(b"ablished\r\nX-Proxy: slow\r\n\r\nserver-first")
        data = b""
        while len(data) < len(b"client-early"):
            b = c.recv(65536)
            if not b:
                return
            data += b
        c.sendall(b"echo:" + data)
        c.recv(100)

    with Server(proxy) as srv:
        for mode in ("IMMEDIATE", "ON_DOWNSTREAM_DATA"):
            port = free_port()
            cfg = tunnel_config(port, [srv.port], "%DOWNSTREAM_LOCAL_ADDRESS%",
                                "\n            headers_to_add:"
                                "\n            - header: {key: X-Port, value: \"%DOWNSTREAM_LOCAL_PORT%\"}",
                                proxy_extra="\n          upstream_connect_mode: " + mode +
                                "\n          max_early_data_bytes: 65536")
            del got[:]
            with Proxy(cfg) as p:
                s = connect(port)
                s.sendall(b"client-early")
                want = b"server-firstecho:client-early"
                data = b""
                while len(data) < len(want):
                    b = s.recv(100)
                    if not b:
                        break
                    data += b
                check(data == want, "%s: %r" % (mode, data))
                s.close()
                check(len(got) == 1, "%s: one request: %r" % (mode, got))
                req, early = got[0]
                check(early == b"", "%s: a client byte before the answer: %r" % (mode, early))
                lines = req.decode().split("\r\n")
                check(lines[0] == "CONNECT 127.0.0.1:%d HTTP/1.1" % port, repr(lines))
                check("Host: 127.0.0.1:%d" % port in lines, repr(lines))
                check("x-port: %d" % port in [l.lower() for l in lines], repr(lines))
                p.wait_stat("tcp.tun.downstream_cx_tx_bytes_total", len(want))
                check(p.stat("cluster.c.upstream_rq_200") == 1, str(p.stats()))


def test_tunnel_http1_post_body_end_read_with_its_last_data_ends_the_tunnel():
    """A POST proxy sends its last data chunk and the body's last chunk in one segment, then
    keeps the socket open (as a proxy does between requests): the client still gets the data
    and then its FIN. The end of the body came with a short read, after which the socket has
    nothing more to report: tcpproxy must read again for what it holds."""
    def proxy(c):
        head = b""
        while b"\r\n\r\n" not in head:
            b = c.recv(65536)
            if not b:
                return
            head += b
        c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        time.sleep(0.1)
        c.sendall(b"9\r\nbye early\r\n0\r\n\r\n")
        c.settimeout(10)
        try:
            c.recv(100)  # open until tcpproxy closes it
        except OSError:
            pass

    with Server(proxy) as srv:
        port = free_port()
        cfg = tunnel_config(port, [srv.port], "example.test:443", "\n            use_post: true")
        with Proxy(cfg) as p:
            s = connect(port)
            s.settimeout(5)
            got = b""
            while len(got) < 9:
                b = s.recv(100)
                if not b:
                    break
                got += b
            check(got == b"bye early", repr(got))
            try:
                check(s.recv(100) == b"", "the body's end passed on as a FIN")
            except socket.timeout:
                check(False, "no FIN within 5 s after the body's last chunk")
            s.close()


def test_tunnel_request_id_per_attempt_in_the_header_and_the_dynamic_metadata():
    """request_id_extension (Envoy's UUID extension): each attempt's CONNECT carries a fresh UUID
    v4 under request_id_header, and the access log reads the last one from the dynamic metadata
    envoy.filters.network.tcp_proxy:<request_id_metadata_key>. The proxy refuses the first
    request (503), so there is a second attempt, whose ID must differ."""
    uuid = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    seen = []

    def proxy(c):
        # The first request of each case is refused, the next accepted: the retry is certain.
        head = b""
        while b"\r\n\r\n" not in head:
            b = c.recv(65536)
            if not b:
                return
            head += b
        seen.append(head.decode().split("\r\n"))
        status = 503 if len(seen) == 1 else 200
        c.sendall(b"HTTP/1.1 %d X\r\n\r\n" % status)
        if status == 200:
            c.sendall(b"hello")
            c.recv(100)

    for extra, header, key in (
            ("", "x-request-id", "tunnel_request_id"),
            ("\n            request_id_header: X-Trace-Id"
             "\n            request_id_metadata_key: my_id", "x-trace-id", "my_id")):
        del seen[:]
        with Server(proxy) as srv:
            port = free_port()
            log = run_path("tunnel-rid.%d.log" % port)
            cfg = tunnel_config(
                port, [srv.port], "example.test:443",
                "\n            request_id_extension:"
                "\n              typed_config:"
                "\n                \"@type\": type.googleapis.com/"
                "envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig"
                "\n                pack_trace_reason: false" + extra,
                proxy_extra="\n          max_connect_attempts: 2",
                log_path=log,
                log_format="%%DYNAMIC_METADATA(envoy.filters.network.tcp_proxy:%s)%%" % key)
            with Proxy(cfg, concurrency=1) as p:
                s = connect(port)
                got = b""
                while len(got) < 5:
                    b = s.recv(100)
                    if not b:
                        break
                    got += b
                s.close()
                check(got == b"hello", "%r: the second attempt's tunnel: %r" % (header, got))
                lines = wait_lines(log, 1)
            check(len(seen) == 2, "two attempts: %r" % seen)
            ids = []
            for req in seen:
                v = [l.split(":", 1)[1].strip() for l in req if l.lower().startswith(header + ":")]
                check(len(v) == 1 and uuid.match(v[0]), "%s in %r" % (header, req))
                ids.append(v[0])
            check(ids[0] != ids[1], "a new ID per attempt: %r" % ids)
            check(lines[0] == ids[1], "the log has the last attempt's ID: %r vs %r" % (lines, ids))


def test_tunnel_idle_timeout_and_duration_as_on_plain_tcp():
    """idle_timeout and max_downstream_connection_duration close a tunnel as they close a
    plain upstream; over HTTP/2 the stream goes and its shared connection stays."""
    def busy_until_closed(s, limit=10):
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            try:
                s.sendall(b"tick")
                if s.recv(10) == b"":
                    return time.monotonic() - t0
            except (ConnectionResetError, BrokenPipeError):
                return time.monotonic() - t0
            time.sleep(0.05)
        return None

    echo = EchoServer()
    try:
        with tinyproxy() as tp, terminator("h2") as t:
            for name, proxy_port, extra in (("http1", tp.port, ""), ("http2", t.port, h2(""))):
                port = free_port()
                cfg = tunnel_config(port, [proxy_port], "127.0.0.1:%d" % echo.port,
                                    proxy_extra="\n          idle_timeout: 0.5s",
                                    cluster_extra=extra)
                with Proxy(cfg, concurrency=1) as p:
                    s = connect(port)
                    s.sendall(b"hi")
                    check(s.recv(10) == b"hi", name + ": echo before going idle")
                    t0 = time.monotonic()
                    s.settimeout(5)
                    check(s.recv(10) == b"", name + ": closed when idle")
                    took = time.monotonic() - t0
                    check(took >= 0.3, "%s: idle close after %.2fs" % (name, took))
                    s.close()
                    p.wait_stat("tcp.tun.idle_timeout", 1)
                    p.wait_stat("cluster.c.upstream_rq_active", 0)
                    if name == "http2":
                        check(p.stat("cluster.c.upstream_cx_active") == 1,
                              "the shared connection stays")
                cfg = tunnel_config(port, [proxy_port], "127.0.0.1:%d" % echo.port,
                                    proxy_extra="\n          max_downstream_connection_duration: 1s",
                                    cluster_extra=extra)
                with Proxy(cfg, concurrency=1) as p:
                    s = connect(port)
                    took = busy_until_closed(s)
                    check(took is not None and took >= 0.9, "%s: closed after %s s" % (name, took))
                    s.close()
                    p.wait_stat("tcp.tun.max_downstream_connection_duration", 1)
                    check(p.stat("tcp.tun.idle_timeout") == 0, name + ": not an idle close")
                    p.wait_stat("cluster.c.upstream_rq_active", 0)
    finally:
        echo.close()


def nghttpx(backend_port, *extra, tls=None):
    """nghttpx -s: HTTP/2 CONNECT forwarded to an HTTP/1.1 proxy; in cleartext, or over TLS
    with tls = (key, certificate) (ALPN h2). Each CONNECT takes a backend connection of its
    own, so the per-host cap (8 by default) is lifted."""
    binary = need("nghttpx")
    port = _unbound_port()
    front = "--frontend=127.0.0.1,%d%s" % (port, "" if tls else ";no-tls")
    return Daemon([binary, "-s", "--conf=/dev/null", front,
                   "--backend=127.0.0.1,%d" % backend_port, "--workers=1",
                   "--backend-connections-per-host=1000", "--log-level=WARN",
                   "--pid-file=" + run_path("nghttpx.%d.pid" % port)] + list(extra) +
                  list(tls or ()), port, "nghttpx")


def h2(opts=""):
    return H2_OPTIONS % opts


def test_tunnel_http2_connect_nghttpx_to_tinyproxy_64mib_each_way():
    with tinyproxy() as tp, nghttpx(tp.port) as ngx:
        st, line = bulk_through([ngx.port], cluster_extra=h2(""), half_close=False)
        check(st["cluster.c.upstream_cx_http2_total"] == 1, str(st))
        check(st["cluster.c.upstream_cx_http1_total"] == 0, str(st))


def test_tunnel_http2_connect_node_64mib_each_way_half_closed():
    with terminator("h2") as t:
        st, line = bulk_through([t.port], "\n            propagate_response_headers: true",
                                cluster_extra=h2(""))
        check(st["cluster.c.upstream_cx_http2_total"] == 1, str(st))
        check('"x-terminator":"node-h2"' in line, line)


def test_tunnel_http2_post_node_64mib_each_way():
    with terminator("h2") as t:
        st, _ = bulk_through([t.port], "\n            use_post: true",
                             cluster_extra=h2(""))
        check(st["cluster.c.upstream_cx_http2_total"] == 1, str(st))


def half_close_both_ways(mode, tunnel_extra="", cluster_extra=""):
    """Through the node terminator in mode: the client's FIN first (the upstream reads to the
    end, then answers and ends), then the upstream's FIN first (the client still sends after
    it). Each FIN passes as the tunnel's end of stream (FIN, last chunk, END_STREAM)."""
    got = {}

    def upstream(c):
        # The client's FIN first: read to the end, then answer, then our FIN.
        data = b""
        while True:
            b = c.recv(65536)
            if not b:
                break
            data += b
        got["up"] = data
        c.sendall(b"after your FIN: " + data)
        c.shutdown(socket.SHUT_WR)

    def upstream_first(c):
        # Our FIN first: send and end, then read what the client still sends.
        c.sendall(b"bye early")
        c.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            b = c.recv(65536)
            if not b:
                break
            data += b
        got["late"] = data

    with terminator(mode) as t, Server(upstream) as u1, Server(upstream_first) as u2:
        port1, port2 = free_port(), free_port()
        cfg1 = tunnel_config(port1, [t.port], "127.0.0.1:%d" % u1.port, tunnel_extra,
                             cluster_extra=cluster_extra)
        with Proxy(cfg1) as p:
            s = connect(port1)
            s.sendall(b"question")
            s.shutdown(socket.SHUT_WR)
            reply = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                reply += b
            check(reply == b"after your FIN: question", repr(reply))
            s.close()
        cfg2 = tunnel_config(port2, [t.port], "127.0.0.1:%d" % u2.port, tunnel_extra,
                             cluster_extra=cluster_extra)
        with Proxy(cfg2) as p:
            s = connect(port2)
            check(s.recv(100) == b"bye early", "upstream's bytes before its FIN")
            check(s.recv(100) == b"", "upstream's FIN passed on")
            s.sendall(b"still talking")
            s.shutdown(socket.SHUT_WR)
            wait_for(lambda: "late" in got, what="the upstream to read the client's last bytes")
            check(got["late"] == b"still talking", repr(got["late"]))
            s.close()


def test_tunnel_http2_half_close_both_ways():
    half_close_both_ways("h2", cluster_extra=h2(""))


def test_tunnel_http2_post_half_close_both_ways():
    half_close_both_ways("h2", "\n            use_post: true", cluster_extra=h2(""))


def test_tunnel_http1_connect_half_close_both_ways():
    half_close_both_ways("h1")


def test_tunnel_http1_post_half_close_both_ways():
    half_close_both_ways("h1", "\n            use_post: true")


def hundred_with_a_stalled_reader(proxy_port, total, what):
    """100 tunnels on one HTTP/2 connection, each getting total bytes from the upstream; one
    client never reads until the other 99 have every byte. Its stream fills its own window and
    waits; the connection and the others do not."""
    def upstream(c):
        try:
            for b in stream_bytes(7, total, chunk=256 * 1024):
                c.sendall(b)
            c.shutdown(socket.SHUT_WR)
            while c.recv(65536):
                pass
        except OSError:
            pass

    with Server(upstream) as up:
        port = free_port()
        # A window far smaller than the data: the stalled stream fills its own and stops.
        cfg = tunnel_config(port, [proxy_port], "127.0.0.1:%d" % up.port,
                            cluster_extra=h2("initial_stream_window_size: 262144") +
                            "\n    per_connection_buffer_limit_bytes: 262144")
        with Proxy(cfg, concurrency=1) as p:
            stalled = connect(port)
            stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            socks = [connect(port, timeout=60) for _ in range(99)]
            want = digest_of(7, total)
            results = {}

            def reader(i, s):
                h, n = hashlib.sha256(), 0
                while True:
                    b = s.recv(MIB)
                    if not b:
                        break
                    h.update(b)
                    n += len(b)
                results[i] = (n, h.hexdigest())
                s.close()
            start = time.monotonic()
            threads = [threading.Thread(target=reader, args=(i, s)) for i, s in enumerate(socks)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(120)
            took = time.monotonic() - start
            check(len(results) == 99, "only %d of 99 tunnels finished" % len(results))
            check(all(r == (total, want) for r in results.values()), "a tunnel's bytes differ")
            st = p.stats()
            check(st["cluster.c.upstream_cx_http2_total"] == 1, str(st))
            check(st["cluster.c.upstream_rq_total"] == 100, str(st))
            # The stalled tunnel is behind: its stream waits, the connection did not.
            check(st["tcp.tun.downstream_cx_tx_bytes_total"] < 100 * total, str(st))
            # The stalled one still gets every byte once it reads.
            reader(100, stalled)
            check(results[100] == (total, want), "the stalled tunnel's bytes differ")
            p.wait_stat("cluster.c.upstream_rq_active", 0)
            print("%s: 99 tunnels of %d MiB beside a stalled one: %.2f s"
                  % (what, total // MIB, took))


def test_tunnel_http2_100_streams_one_connection_one_stalled_reader():
    with terminator("h2") as t:
        hundred_with_a_stalled_reader(t.port, 16 * MIB, "node")


def test_tunnel_http2_nghttpx_squid_100_streams_one_connection_one_stalled_reader():
    # More than the kernel can hold for the stalled client (its receive buffer and ours to
    # send, up to tcp_wmem's maximum), so that it cannot have everything before it reads.
    wmem = int(open("/proc/sys/net/ipv4/tcp_wmem").read().split()[2])
    total = max(6 * MIB, (wmem + 2 * MIB) // MIB * MIB)
    with squid() as sq, nghttpx(sq.port) as ngx:
        hundred_with_a_stalled_reader(ngx.port, total, "nghttpx -> squid")


def test_tunnel_http2_peer_max_concurrent_streams_opens_another_connection():
    """nghttpx says SETTINGS_MAX_CONCURRENT_STREAMS 4: ten tunnels take three connections.
    (nghttpx does not pass a client's END_STREAM on to its HTTP/1.1 backend as a FIN, so the
    upstream ends each tunnel: it echoes once, and closes when the test says.)"""
    done = threading.Event()

    def echo_once(c):
        c.sendall(c.recv(100))
        done.wait(30)

    echo = Server(echo_once)
    try:
        with tinyproxy() as tp, nghttpx(tp.port, "--frontend-http2-max-concurrent-streams=4") \
                as ngx:
            port = free_port()
            cfg = tunnel_config(port, [ngx.port], "127.0.0.1:%d" % echo.port,
                                cluster_extra=h2(""))
            with Proxy(cfg, concurrency=1) as p:
                socks = []
                for i in range(10):
                    s = connect(port)
                    s.sendall(b"x%d" % i)
                    check(s.recv(100) == b"x%d" % i, "echo %d" % i)
                    socks.append(s)
                st = p.stats()
                check(st["cluster.c.upstream_cx_http2_total"] == 3, str(st))
                check(st["cluster.c.upstream_rq_active"] == 10, str(st))
                done.set()
                for s in socks:
                    check(s.recv(100) == b"", "the upstream's close ends the tunnel")
                    s.close()
                p.wait_stat("cluster.c.upstream_rq_active", 0)
    finally:
        echo.close()


def test_tunnel_http2_over_tls_alpn_h2_to_nghttpx():
    """Upstream TLS: nghttpx's TLS front end speaks HTTP/2 only when ALPN says h2. An HTTP/2
    cluster offers h2 by itself, as Envoy's HTTP/2 pool does; alpn_protocols given wins."""
    import test_tls
    ca, key, crt = test_tls.cert("ca.pem"), test_tls.cert("up.key"), test_tls.cert("up.pem")
    body = """
        sni: up.test
        common_tls_context:%s
          validation_context:
            trusted_ca: {filename: %s}"""
    for alpn in ("", "\n          alpn_protocols: [h2]"):
        with tinyproxy() as tp, nghttpx(tp.port, tls=(key, crt)) as ngx:
            tls = test_tls.up_tls(body % (alpn, ca))
            st, _ = bulk_through([ngx.port], cluster_extra=h2("") + tls, total=8 * MIB,
                                 half_close=False)
            check(st["cluster.c.upstream_cx_http2_total"] == 1, "%r: %s" % (alpn, st))


def test_tunnel_http2_goaway_keeps_covered_streams_and_fails_the_rest():
    """A GOAWAY covering every stream: they go on, the next tunnel opens a new connection, and
    the old one closes after its last stream. One covering stream 1 only: the others fail
    (closed clients, nothing held), stream 1 goes on."""
    echo = EchoServer()
    try:
        with terminator("h2") as t:
            port = free_port()
            # A tunnel opened while the GOAWAY is on its way is refused (above its last
            # stream): a connect failure, which the second attempt takes to a new connection.
            cfg = tunnel_config(port, [t.port], "127.0.0.1:%d" % echo.port,
                                proxy_extra="\n          max_connect_attempts: 2",
                                cluster_extra=h2(""))
            with Proxy(cfg, concurrency=1) as p:
                def open_tunnel(tag):
                    s = connect(port)
                    s.sendall(tag)
                    check(s.recv(100) == tag, "echo " + repr(tag))
                    return s
                old = [open_tunnel(b"a%d" % i) for i in range(3)]
                t.proc.send_signal(signal.SIGUSR2)
                # The GOAWAY may trail the signal: a tunnel opened before it arrives still
                # lands on the old connection, so wait until a new one is made.
                extra = []
                wait_for(lambda: extra.append(open_tunnel(b"n")) or
                         p.stat("cluster.c.upstream_cx_http2_total") == 2,
                         what="a tunnel on a new connection")
                for i, s in enumerate(old):
                    s.sendall(b"still %d" % i)
                    check(s.recv(100) == b"still %d" % i, "a covered stream goes on")
                for s in old + extra[:-1]:
                    s.close()
                p.wait_stat("cluster.c.upstream_cx_active", 1)
                new = extra[-1]
                more = [open_tunnel(b"b%d" % i) for i in range(2)]
                t.proc.send_signal(signal.SIGHUP)
                for s in more:
                    s.settimeout(10)
                    try:
                        check(s.recv(100) == b"", "a refused stream closes its client")
                    except ConnectionResetError:
                        pass
                    s.close()
                new.sendall(b"first stream")
                check(new.recv(100) == b"first stream", "stream 1 goes on")
                new.close()
                p.wait_stat("cluster.c.upstream_rq_active", 0)
                p.wait_stat("cluster.c.upstream_cx_active", 0)
                check(p.stat("cluster.c.upstream_cx_http2_total") == 2, str(p.stats()))
    finally:
        echo.close()


def test_tunnel_http2_response_trailers_propagated():
    with terminator("h2-trailers") as t:
        fmt = ("%RESPONSE_CODE%|%FILTER_STATE(envoy.tcp_proxy.propagate_response_headers:PLAIN)%|"
               "%FILTER_STATE(envoy.tcp_proxy.propagate_response_trailers:PLAIN)%|"
               "%UPSTREAM_HOST%|%UPSTREAM_LOCAL_ADDRESS%")
        up, result, total, seed = bulk(None, MIB)
        with up:
            port = free_port()
            log = run_path("tunnel.%d.log" % port)
            cfg = tunnel_config(port, [t.port], "127.0.0.1:%d" % up.port,
                                "\n            propagate_response_headers: true"
                                "\n            propagate_response_trailers: true",
                                cluster_extra=h2(""), log_path=log, log_format=fmt)
            with Proxy(cfg) as p:
                run_bulk(port, up, result, total, seed)
                wait_lines(log, 1)
                line = open(log).read().strip().split("|")
                check(line[0] == "200", repr(line))
                check('"x-terminator":"node-h2"' in line[1], repr(line))
                check(line[2] == '{"x-trailer":"done"}', repr(line))
                check(line[3] == "127.0.0.1:%d" % t.port, repr(line))
                check(line[4].startswith("127.0.0.1:"), "the shared connection's address: %r"
                      % line)


def test_tunnel_http2_max_concurrent_streams_opens_another_connection():
    echo = EchoServer()
    try:
        with terminator("h2") as t:
            port = free_port()
            cfg = tunnel_config(port, [t.port], "127.0.0.1:%d" % echo.port,
                                cluster_extra=h2("max_concurrent_streams: 10"))
            with Proxy(cfg, concurrency=1) as p:
                socks = []
                for i in range(25):
                    s = connect(port)
                    s.sendall(b"x%d" % i)
                    check(s.recv(100) == b"x%d" % i, "echo %d" % i)
                    socks.append(s)
                st = p.stats()
                check(st["cluster.c.upstream_cx_http2_total"] == 3, str(st))
                check(st["cluster.c.upstream_rq_active"] == 25, str(st))
                for s in socks:
                    s.close()
                p.wait_stat("cluster.c.upstream_rq_active", 0)
    finally:
        echo.close()


def test_tunnel_http2_403_retried_and_connection_loss_fails_streams():
    echo = EchoServer()
    try:
        tp_port = _unbound_port()
        conf = run_path("tinyproxy-refusing.%d.conf" % tp_port)
        with open(conf, "w") as f:
            # CONNECT only to port 1: tinyproxy answers any other with 403.
            f.write("Port %d\nListen 127.0.0.1\nConnectPort 1\nLogLevel Warning\n" % tp_port)
        with Daemon([need("tinyproxy"), "-d", "-c", conf], tp_port, "tinyproxy") as tp, \
                nghttpx(tp.port) as ngx, terminator("h2") as t:
            port = free_port()
            log = run_path("tunnel.%d.log" % port)
            cfg = tunnel_config(port, [ngx.port, t.port], "127.0.0.1:%d" % echo.port,
                                proxy_extra="\n          max_connect_attempts: 2",
                                cluster_extra=h2(""), log_path=log)
            with Proxy(cfg, concurrency=1) as p:
                socks = []
                for i in range(4):
                    s = connect(port)
                    s.sendall(b"hi")
                    check(s.recv(100) == b"hi", "echo through the second host")
                    socks.append(s)
                st = p.stats()
                check(st["cluster.c.upstream_rq_403"] >= 1, str(st))
                check(st["cluster.c.upstream_rq_200"] == 4, str(st))
                # The terminator dies: every stream on it fails, cleanly.
                t.close()
                for s in socks:
                    s.settimeout(10)
                    try:
                        check(s.recv(100) == b"", "a lost connection closes the client")
                    except ConnectionResetError:
                        pass
                    s.close()
                p.wait_stat("cluster.c.upstream_rq_active", 0)
                wait_lines(log, 4)
                check(p.stop() == 0, "tcpproxy exit status")
    finally:
        echo.close()
