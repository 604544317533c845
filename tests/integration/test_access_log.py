"""tcp_proxy access logs (issue 3): fields of each kind of session, json_format, the default
format and old spellings, intermediate entries, stdout, and reopening on SIGUSR1."""
import json
import os
import re
import signal
import socket
import threading
import time

from harness import (EchoServer, Proxy, Server, Skip, bootstrap, check, cluster_yaml, connect,
                     echo_handler, free_port, listener_yaml, read_lines, recv_all, run_subdir,
                     wait_for, wait_lines)

FILE_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
STDOUT_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
SFS_TYPE = "type.googleapis.com/envoy.extensions.filters.network.set_filter_state.v3.Config"
TCP_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"

FIELDS = ["type", "start", "duration", "rx", "tx", "upstream_host", "cluster", "upstream_local",
          "remote", "remote_ip", "local", "flags", "details", "failure", "id", "hostname", "sni",
          "attempts"]
TEXT_FORMAT = "|".join([
    "%ACCESS_LOG_TYPE%", "%START_TIME(%s.%3f)%", "%DURATION%", "%BYTES_RECEIVED%", "%BYTES_SENT%",
    "%UPSTREAM_HOST%", "%UPSTREAM_CLUSTER%", "%UPSTREAM_LOCAL_ADDRESS%",
    "%DOWNSTREAM_REMOTE_ADDRESS%", "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
    "%DOWNSTREAM_LOCAL_ADDRESS%", "%RESPONSE_FLAGS%", "%CONNECTION_TERMINATION_DETAILS%",
    "%UPSTREAM_TRANSPORT_FAILURE_REASON%", "%CONNECTION_ID%", "%HOSTNAME%",
    "%REQUESTED_SERVER_NAME%", "%UPSTREAM_REQUEST_ATTEMPT_COUNT%"]) + "\\n"


class LogDir:
    def __init__(self):
        self.dir = run_subdir("alog.", 0o777)  # the workers may run as another user

    def path(self, name):
        return os.path.join(self.dir, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for f in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, f))
        os.rmdir(self.dir)


def file_log(path, fmt=TEXT_FORMAT, name="envoy.access_loggers.file"):
    return """
          access_log:
          - name: %s
            typed_config:
              "@type": %s
              path: %s
              log_format:
                text_format_source:
                  inline_string: "%s"
""" % (name, FILE_TYPE, path, fmt)


def parse(line):
    parts = line.split("|")
    check(len(parts) == len(FIELDS), "%d fields in %r" % (len(parts), line))
    return dict(zip(FIELDS, parts))


def config(port, upstream_ports, proxy_extra, connect_timeout="5s"):
    return bootstrap([listener_yaml("l", port, "c", proxy_extra=proxy_extra)],
                     [cluster_yaml("c", upstream_ports, connect_timeout)])


def test_normal_connection_field_by_field():
    peers = []

    def upstream(c):
        peers.append(c.getpeername())
        echo_handler(c)

    with LogDir() as d, Server(upstream) as srv:
        port = free_port()
        log = d.path("access.log")
        with Proxy(config(port, [srv.port], file_log(log))):
            t0 = time.time()
            s = connect(port)
            me = s.getsockname()
            s.sendall(b"hello")
            s.shutdown(socket.SHUT_WR)
            check(recv_all(s) == b"hello", "echo")
            s.close()
            t1 = time.time()
            e = parse(wait_lines(log, 1)[0])
    check(e["type"] == "TcpConnectionEnd", str(e))
    check(t0 - 1 <= float(e["start"]) <= t1, "start %s not in [%f, %f]" % (e["start"], t0, t1))
    check(0 <= int(e["duration"]) <= (t1 - t0) * 1000 + 50, str(e))
    check(e["rx"] == "5" and e["tx"] == "5", str(e))
    check(e["upstream_host"] == "127.0.0.1:%d" % srv.port, str(e))
    check(e["cluster"] == "c", str(e))
    check(e["upstream_local"] == "%s:%d" % peers[0], "%s vs %s" % (e, peers))
    check(e["remote"] == "%s:%d" % me and e["remote_ip"] == me[0], str(e))
    check(e["local"] == "127.0.0.1:%d" % port, str(e))
    check(e["flags"] == "-" and e["details"] == "-" and e["failure"] == "-", str(e))
    check(re.fullmatch(r"[1-9][0-9]*", e["id"]), str(e))
    check(e["hostname"] == socket.gethostname(), str(e))
    check(e["sni"] == "-", str(e))
    check(e["attempts"] == "1", str(e))


def test_refused_upstream_is_uf():
    with LogDir() as d:
        port, dead = free_port(), free_port()
        log = d.path("access.log")
        extra = file_log(log) + "          max_connect_attempts: 2\n"
        with Proxy(config(port, [dead], extra)):
            s = connect(port)
            check(recv_all(s) == b"", "closed")
            s.close()
            e = parse(wait_lines(log, 1)[0])
    check(e["flags"] == "UF,URX", str(e))
    check(e["upstream_host"] == "127.0.0.1:%d" % dead and e["cluster"] == "c", str(e))
    check(e["details"] == "tcp_initializion_failure:0", str(e))
    check(e["failure"] == "delayed_connect_error:_Connection_refused", str(e))
    check(e["upstream_local"] == "-" and e["rx"] == "0" and e["tx"] == "0", str(e))
    check(e["attempts"] == "2", str(e))


def test_idle_timeout():
    with LogDir() as d, EchoServer() as up:
        port = free_port()
        log = d.path("access.log")
        extra = file_log(log) + "          idle_timeout: 0.300s\n"
        with Proxy(config(port, [up.port], extra)):
            s = connect(port, timeout=5)
            s.sendall(b"abc")
            check(s.recv(3) == b"abc", "echo")
            check(recv_all(s) == b"", "closed by the idle timeout")
            s.close()
            e = parse(wait_lines(log, 1)[0])
    # Envoy sets no response flag for the idle timeout; the close reason says it.
    check(e["flags"] == "-", str(e))
    check(e["details"] == "tcp_session_idle_timeout", str(e))
    check(int(e["duration"]) >= 300, str(e))
    check(e["rx"] == "3" and e["tx"] == "3" and e["cluster"] == "c", str(e))


def test_no_route_is_nc():
    with LogDir() as d:
        port = free_port()
        log = d.path("access.log")
        cfg = """static_resources:
  listeners:
  - name: l
    address: {socket_address: {address: 127.0.0.1, port_value: %d}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.set_filter_state
        typed_config:
          "@type": %s
          on_new_connection:
          - object_key: envoy.tcp_proxy.cluster
            format_string: {text_format_source: {inline_string: "nowhere"}}
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": %s
          stat_prefix: test
          cluster: c%s
  clusters:%s""" % (port, SFS_TYPE, TCP_TYPE, file_log(log), cluster_yaml("c", [free_port()]))
        with Proxy(cfg) as p:
            s = connect(port)
            check(recv_all(s) == b"", "closed")
            s.close()
            e = parse(wait_lines(log, 1)[0])
            check(p.stat("tcp.test.downstream_cx_no_route") == 1, "no_route counted")
    check(e["flags"] == "NC", str(e))
    check(e["cluster"] == "-" and e["upstream_host"] == "-", str(e))
    check(e["details"] == "tcp_initializion_failure:3", str(e))
    check(e["attempts"] == "0" and e["failure"] == "-", str(e))


def test_json_format_line_parses():
    with LogDir() as d, EchoServer() as up:
        port = free_port()
        log = d.path("access.json")
        extra = """
          access_log:
          - name: json
            typed_config:
              "@type": %s
              path: %s
              log_format:
                json_format:
                  bytes_received: "%%BYTES_RECEIVED%%"
                  duration: "%%DURATION%%"
                  upstream: "%%UPSTREAM_HOST%%"
                  flags: "%%RESPONSE_FLAGS%%"
                  cluster: "%%UPSTREAM_CLUSTER%%"
                  note: "quote \\" backslash \\\\ tab \\t"
                  nested:
                    type: "%%ACCESS_LOG_TYPE%%"
                    local_port: "%%DOWNSTREAM_LOCAL_PORT%%"
""" % (FILE_TYPE, log)
        with Proxy(config(port, [up.port], extra)):
            s = connect(port)
            s.sendall(b"12345678")
            s.shutdown(socket.SHUT_WR)
            check(recv_all(s) == b"12345678", "echo")
            s.close()
            line = wait_lines(log, 1)[0]
    e = json.loads(line)
    check(e["bytes_received"] == 8 and isinstance(e["duration"], int), line)
    check(e["upstream"] == "127.0.0.1:%d" % up.port and e["cluster"] == "c", line)
    check(e["flags"] is None, "unset is null in json_format: " + line)
    check(e["note"] == "quote \" backslash \\ tab \t", line)
    check(e["nested"] == {"type": "TcpConnectionEnd", "local_port": port}, line)
    check(list(e) == sorted(e), "keys sorted, as Envoy writes them: " + line)


def test_json_line_stays_valid_for_any_bytes_in_filter_state():
    """Issue 11 item 9: a filter-state value that is not UTF-8, or is cut inside a character
    (by :N, or by set_filter_state's 1024-byte limit), still makes a line that a strict JSON
    parser reads. The values come from the environment, the one way a config reaches bytes that
    are not UTF-8."""
    bad = b"caf\xc3\xa9 \xff \xe2\x82x \xed\xa0\x80 \xf0\x9f\x98 \x01\x7f \"q\" end"
    long = b"a" * 1023 + "\u20ac".encode()  # the euro sign's 3 bytes cross byte 1024
    states = "".join("""
          - object_key: %s
            factory_key: envoy.string
            format_string:
              text_format_source:
                inline_string: "%%ENVIRONMENT(%s)%%"
""" % (key, var) for key, var in (("bad", "TP_TEST_BAD_BYTES"), ("long", "TP_TEST_LONG")))
    with LogDir() as d, EchoServer() as up:
        port = free_port()
        log = d.path("access.json")
        cfg = """static_resources:
  listeners:
  - name: l
    address:
      socket_address: {address: 127.0.0.1, port_value: %d}
    filter_chains:
    - filters:
      - name: envoy.filters.network.set_filter_state
        typed_config:
          "@type": %s
          on_new_connection:%s
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": %s
          stat_prefix: test
          cluster: c
          access_log:
          - name: json
            typed_config:
              "@type": %s
              path: %s
              log_format:
                json_format:
                  plain: "%%FILTER_STATE(bad:PLAIN)%%"
                  typed: "%%FILTER_STATE(bad)%%"
                  cut: "%%FILTER_STATE(bad:PLAIN):4%%"
                  text: "<%%FILTER_STATE(bad):5%%>"
                  long: "%%FILTER_STATE(long:PLAIN)%%"
                  long_typed: "%%FILTER_STATE(long)%%"
  clusters:%s""" % (port, SFS_TYPE, states, TCP_TYPE, FILE_TYPE, log,
                    cluster_yaml("c", [up.port]))
        os.environb[b"TP_TEST_BAD_BYTES"] = bad
        os.environb[b"TP_TEST_LONG"] = long
        try:
            proxy = Proxy(cfg)
        finally:
            del os.environb[b"TP_TEST_BAD_BYTES"]
            del os.environb[b"TP_TEST_LONG"]
        with proxy:
            s = connect(port)
            s.sendall(b"x")
            s.shutdown(socket.SHUT_WR)
            check(recv_all(s) == b"x", "echo")
            s.close()
            wait_lines(log, 1)
        with open(log, "rb") as f:
            raw = f.read().split(b"\n")[0]
    # Strict: the bytes must be UTF-8 (no "replace", no "surrogatepass") and the text JSON.
    e = json.loads(raw.decode("utf-8"))
    # Each ill-formed sequence is one U+FFFD, as Python's "replace" decoding has it.
    check(e["plain"] == bad.decode("utf-8", "replace"), repr(raw))
    check(e["typed"] == bad.decode("utf-8", "replace"), repr(raw))
    check(e["cut"] == "caf", "a cut keeps the character it would split out whole: %r" % raw)
    check(e["text"] == '<"caf>', "the typed form's text is cut the same way: %r" % raw)
    check(e["long"] == "a" * 1023, "set_filter_state cuts at 1024 bytes, whole characters")
    check(e["long_typed"] == "a" * 1023, "a typed field holds a string of any length")


def test_default_format_and_old_spellings():
    with LogDir() as d, EchoServer() as up:
        port = free_port()
        default_log, old_log, old_json = d.path("d.log"), d.path("o.log"), d.path("o.json")
        extra = """
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": %s
              path: %s
          - name: envoy.file_access_log
            typed_config:
              "@type": %s
              path: %s
              format: "%%BYTES_RECEIVED%% %%UPSTREAM_CLUSTER%%\\n"
          - name: envoy.file_access_log
            typed_config:
              "@type": %s
              path: %s
              json_format: {rx: "%%BYTES_RECEIVED%%", flags: "%%RESPONSE_FLAGS%%"}
""" % (FILE_TYPE, default_log, FILE_TYPE, old_log, FILE_TYPE, old_json)
        with Proxy(config(port, [up.port], extra)):
            s = connect(port)
            s.sendall(b"hello")
            s.shutdown(socket.SHUT_WR)
            check(recv_all(s) == b"hello", "echo")
            s.close()
            line = wait_lines(default_log, 1)[0]
            check(wait_lines(old_log, 1) == ["5 c"], str(read_lines(old_log)))
            check(json.loads(wait_lines(old_json, 1)[0]) == {"rx": "5", "flags": "-"},
                  "FileAccessLog.json_format renders strings: %s" % read_lines(old_json))
    want = (r'\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "- - -" 0 - 5 5 \d+ - "-" "-" "-" "-" '
            r'"127\.0\.0\.1:%d"' % up.port)
    check(re.fullmatch(want, line), "Envoy's default format: %r" % line)


def test_start_connected_periodic_and_end_entries():
    with LogDir() as d, EchoServer() as up:
        port = free_port()
        log = d.path("access.log")
        extra = file_log(log, "%ACCESS_LOG_TYPE% %CONNECTION_ID% %BYTES_RECEIVED%\\n") + """
          access_log_options:
            access_log_flush_interval: 0.200s
            flush_access_log_on_connected: true
            flush_access_log_on_start: true
"""
        with Proxy(config(port, [up.port], extra)):
            t0 = time.monotonic()
            s = connect(port)
            s.sendall(b"abc")
            check(s.recv(3) == b"abc", "echo")
            # Two periodic entries, however long the machine takes to write them; then the end.
            wait_for(lambda: sum(l.startswith("TcpPeriodic") for l in read_lines(log)) >= 2,
                     what="two periodic entries")
            s.shutdown(socket.SHUT_WR)
            check(recv_all(s) == b"", "end")
            s.close()
            lived = time.monotonic() - t0  # at least as long as the proxy's connection
            wait_for(lambda: read_lines(log) and
                     read_lines(log)[-1].startswith("TcpConnectionEnd"),
                     what="the end entry")
            lines = read_lines(log)
    types = [l.split()[0] for l in lines]
    ids = {l.split()[1] for l in lines}
    check(types[0] == "TcpConnectionStart" and types[1] == "TcpUpstreamConnected", str(lines))
    check(types[-1] == "TcpConnectionEnd", str(lines))
    periodic = types[2:-1]
    check(set(periodic) == {"TcpPeriodic"}, str(lines))
    # Every 0.2 s, not more often: at most one entry per interval the connection lived.
    check(2 <= len(periodic) <= int(lived / 0.2) + 1,
          "%d periodic entries in %.2fs: %s" % (len(periodic), lived, lines))
    check(len(ids) == 1, "one connection id: %s" % lines)
    check(lines[-1].split()[2] == "3", str(lines))


def test_deprecated_options_are_refused_beside_access_log_options():
    import subprocess
    from harness import TCPPROXY
    with LogDir() as d:
        extra = file_log(d.path("x.log")) + """
          access_log_flush_interval: 1s
          access_log_options:
            flush_access_log_on_start: true
"""
        path = d.path("bad.yaml")
        with open(path, "w") as f:
            f.write(config(free_port(), [free_port()], extra))
        r = subprocess.run([TCPPROXY, "--mode", "validate", "-c", path], capture_output=True,
                           text=True, timeout=10)
        check(r.returncode == 1, r.stderr)
        check("access_log_flush_interval: cannot be set with access_log_options" in r.stderr,
              r.stderr)


def test_stdout_logger():
    with EchoServer() as up:
        port = free_port()
        extra = """
          access_log:
          - name: envoy.access_loggers.stdout
            typed_config:
              "@type": %s
              log_format:
                text_format_source:
                  inline_string: "stdout-entry rx=%%BYTES_RECEIVED%%\\n"
""" % STDOUT_TYPE
        with Proxy(config(port, [up.port], extra)) as p:
            for msg in (b"a", b"bb"):
                s = connect(port)
                s.sendall(msg)
                s.shutdown(socket.SHUT_WR)
                check(recv_all(s) == msg, "echo")
                s.close()
            # The two connections may be logged by two workers, in either order.
            wait_for(lambda: "stdout-entry rx=1\n" in p.output() and
                     "stdout-entry rx=2\n" in p.output(), what="both stdout entries")
            out = p.output()
    check(out.count("stdout-entry") == 2, out[-2000:])


def test_sigusr1_reopens_without_losing_or_splitting_a_line():
    with LogDir() as d, EchoServer() as up:
        port = free_port()
        log = d.path("access.log")
        # Long lines make a split easy to see; entries keep coming while the file is rotated.
        extra = file_log(log, "%CONNECTION_ID% %BYTES_RECEIVED% " + "x" * 200 + "\\n")
        with Proxy(config(port, [up.port], extra), concurrency=2) as p:
            done = []
            stop = threading.Event()

            def client():
                while not stop.is_set():
                    s = connect(port)
                    s.sendall(b"%08x" % len(done))
                    s.shutdown(socket.SHUT_WR)
                    recv_all(s)
                    s.close()
                    done.append(1)

            threads = [threading.Thread(target=client) for _ in range(4)]
            for t in threads:
                t.start()
            try:
                wait_for(lambda: len(done) >= 100, 60, what="100 connections")
                os.rename(log, log + ".1")
                p.proc.send_signal(signal.SIGUSR1)
                wait_for(lambda: len(read_lines(log)) >= 50, 60,
                         what="entries in the reopened file")
            finally:
                stop.set()
                for t in threads:
                    t.join(60)
            total = len(done)
            wait_for(lambda: len(read_lines(log)) + len(read_lines(log + ".1")) >= total, 20,
                     what="%d entries" % total)
            # Stopped, it has written all it ever will: an extra (duplicated) entry shows now.
            check(p.stop() == 0, "exit status")
            old, new = read_lines(log + ".1"), read_lines(log)
    for line in old + new:
        check(re.fullmatch(r"\d+ 8 x{200}", line), "malformed (split?) line %r" % line)
    ids = [l.split()[0] for l in old + new]
    check(len(ids) == total and len(set(ids)) == total,
          "%d entries, %d distinct, want %d" % (len(ids), len(set(ids)), total))
    check(len(old) >= 100 and len(new) >= 50, "old %d, new %d" % (len(old), len(new)))


def test_full_disk_keeps_lines_whole_and_counts_every_dropped_entry():
    """A write cut short by a full disk and then refused (ENOSPC) used to leave the file ending
    mid-line, the next entry glued onto it, and its lost entries counted as one."""
    import subprocess
    d = run_subdir("full-disk.")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", d],
                       capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(d)
        raise Skip("cannot mount a small tmpfs: %s" % r.stderr.strip())
    try:
        path = os.path.join(d, "access.log")
        with open(os.path.join(d, "filler"), "wb") as f:
            f.write(b"x" * (100 * 1024))
        fmt = "BEGIN-%DOWNSTREAM_REMOTE_ADDRESS%-" + "a" * 60 + "-END\\n"
        with EchoServer() as up:
            port = free_port()
            with Proxy(config(port, [up.port], file_log(path, fmt)), concurrency=1) as p:
                for i in range(600):
                    s = connect(port)
                    s.sendall(b"x")
                    s.recv(1)
                    s.close()
                # The disk filled up (entries dropped), and all 600 connections have ended and
                # had their entries tried, before room is made.
                wait_for(lambda: "dropped so far" in p.output(), what="a dropped entry")
                p.wait_stat("listener.127.0.0.1_%d.downstream_cx_active" % port, 0)
                p.wait_stat("tcp.test.downstream_cx_total", 600)
                os.unlink(os.path.join(d, "filler"))
                for i in range(50):
                    s = connect(port)
                    s.sendall(b"x")
                    s.recv(1)
                    s.close()
                wait_for(lambda: open(path).read().endswith("-END\n") and
                         open(path).read().count("\n") >= 40, what="entries after the space")
                out = p.output()
                p.stop()
        text = open(path).read()
        lines = text.split("\n")
        entry = r"BEGIN-127\.0\.0\.1:\d+-" + "a" * 60 + "-END"
        bad = [l for l in lines if l and not re.fullmatch(entry, l)]
        whole = sum(1 for l in lines if re.fullmatch(entry, l))
        check(len(bad) <= 1 and all(not l.endswith("-END") for l in bad),
              "only the one torn line, on a line of its own: %r" % bad[:3])
        m = re.findall(r"(\d+) entr(?:y|ies) dropped so far", out)
        check(m, "a warning counts the dropped entries:\n" + out[-1000:])
        # Warnings come at most once a second, so the last one may not count every drop yet.
        check(whole + int(m[-1]) <= 650, "%d written + %s dropped for 650 connections"
              % (whole, m[-1]))
    finally:
        subprocess.run(["umount", d])
        os.rmdir(d)
