"""Stats as operators read them: tcpproxy-stat (text, json, prometheus, --filter, --watch) over
the master's stats socket, promtool and a real Prometheus server, counters across a worker's
SIGKILL, and the socket's own life (default path, mode 0600, removal, no master)."""
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
import urllib.request

import harness
from harness import (STAT, TCPPROXY, EchoServer, Proxy, Skip, bootstrap, check, cluster_yaml,
                     as_user, default_stats_socket, echo_roundtrip, free_port, listener_yaml,
                     nobody, run_path, run_subdir, user_binary, wait_for)

N = 25


def admin_config(port, upstream_ports, admin_port):
    return ("admin:\n  address:\n    socket_address: {address: 127.0.0.1, port_value: %d}\n"
            % admin_port + bootstrap([listener_yaml("l", port, "c")],
                                     [cluster_yaml("c", upstream_ports)]))


def run_traffic(port, n=N):
    """n connections through the proxy, connection i carrying 100 + i bytes each way;
    returns the bytes sent one way."""
    total = 0
    for i in range(n):
        payload = bytes([65 + i % 26]) * (100 + i)
        check(echo_roundtrip(port, payload) == payload, "echo %d" % i)
        total += len(payload)
    return total


def text_stats(p, *args):
    r = p.statcli(*args)
    check(r.returncode == 0, "tcpproxy-stat failed (%d): %s" % (r.returncode, r.stderr))
    out = {}
    for line in r.stdout.splitlines():
        name, sep, value = line.partition(": ")
        check(sep, "not a 'name: value' line: %r" % line)
        out[name] = int(value) if re.fullmatch(r"-?\d+", value) else value
    return out, r.stdout


def prom_samples(text):
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        series, _, value = line.rpartition(" ")
        out[series] = float(value)
    return out


def settle(p):
    """Waits until every connection has been closed on the proxy's side too."""
    wait_for(lambda: text_stats(p)[0].get("listener.127.0.0.1_%d.downstream_cx_active" % p.port)
             == 0, what="connections to close")


def start(up, **kw):
    port = free_port()
    p = Proxy(admin_config(port, [up.port], kw.pop("admin_port", free_port())), **kw)
    p.port = port
    return p


def test_text_json_prometheus_report_exactly_n_and_m():
    with EchoServer() as up, start(up) as p:
        m = run_traffic(p.port)
        settle(p)
        s, text = text_stats(p)
        for name, want in (("tcp.test.downstream_cx_total", N),
                           ("tcp.test.downstream_cx_rx_bytes_total", m),
                           ("tcp.test.downstream_cx_tx_bytes_total", m),
                           ("cluster.c.upstream_cx_total", N),
                           ("cluster.c.upstream_cx_tx_bytes_total", m),
                           ("cluster.c.upstream_cx_rx_bytes_total", m),
                           ("listener.127.0.0.1_%d.downstream_cx_total" % p.port, N),
                           ("server.concurrency", 2), ("server.live", 1)):
            check(s.get(name) == want, "text %s = %r, want %r" % (name, s.get(name), want))
        # Counters and gauges sorted by name, then the histograms as Envoy prints them.
        plain = [l.split(": ")[0] for l in text.splitlines() if " P0(" not in l and
                 "No recorded values" not in l]
        check(plain == sorted(plain), "text not sorted by name")
        for h in ("cluster.c.upstream_cx_connect_ms", "cluster.c.upstream_cx_length_ms",
                  "tcp.test.downstream_cx_length_ms"):
            check(re.fullmatch(r"P0\(nan,[\d.]+\) P25\(nan,[\d.]+\) P50\(nan,[\d.]+\) "
                               r"P75\(nan,[\d.]+\) P90\(nan,[\d.]+\) P95\(nan,[\d.]+\) "
                               r"P99\(nan,[\d.]+\) P99\.5\(nan,[\d.]+\) P99\.9\(nan,[\d.]+\) "
                               r"P100\(nan,[\d.]+\)", str(s.get(h))), "histogram %s: %r"
                  % (h, s.get(h)))
        check(s.get("server.uptime", -1) >= 0 and s.get("server.memory_allocated", 0) > 0,
              "server gauges computed by the master")
        version = subprocess.run([TCPPROXY, "--version"], capture_output=True,
                                 text=True).stdout.splitlines()[0].split()[-1]
        if re.match(r"[0-9a-f]{6}", version):  # Envoy's: the revision's first 6 hex digits
            check(s.get("server.version") == int(version[:6], 16), "server.version")

        r = p.statcli("--format", "json")
        check(r.returncode == 0, r.stderr)
        doc = json.loads(r.stdout)
        stats = {e["name"]: e["value"] for e in doc["stats"] if "name" in e}
        for name in ("tcp.test.downstream_cx_total", "cluster.c.upstream_cx_total"):
            check(stats[name] == N, "json %s = %r" % (name, stats[name]))
        for name in ("tcp.test.downstream_cx_rx_bytes_total",
                     "tcp.test.downstream_cx_tx_bytes_total"):
            check(stats[name] == m, "json %s = %r" % (name, stats[name]))
        hists = [e["histograms"] for e in doc["stats"] if "histograms" in e]
        check(len(hists) == 1, "one histograms element, as Envoy: %r" % hists)
        check(hists[0]["supported_quantiles"] == [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100],
              "supported_quantiles")
        by_name = {q["name"]: q["values"] for q in hists[0]["computed_quantiles"]}
        check(len(by_name["tcp.test.downstream_cx_length_ms"]) == 10, "10 quantiles")
        check(all(v["interval"] is None and v["cumulative"] is not None
                  for v in by_name["cluster.c.upstream_cx_connect_ms"]), "cumulative values")

        r = p.statcli("--format", "prometheus")
        check(r.returncode == 0, r.stderr)
        prom = prom_samples(r.stdout)
        for series, want in (
                ('envoy_tcp_downstream_cx_total{envoy_tcp_prefix="test"}', N),
                ('envoy_tcp_downstream_cx_rx_bytes_total{envoy_tcp_prefix="test"}', m),
                ('envoy_tcp_downstream_cx_tx_bytes_total{envoy_tcp_prefix="test"}', m),
                ('envoy_cluster_upstream_cx_total{envoy_cluster_name="c"}', N),
                ('envoy_cluster_upstream_cx_connect_ms_count{envoy_cluster_name="c"}', N),
                ('envoy_cluster_upstream_cx_connect_ms_bucket{envoy_cluster_name="c",le="+Inf"}',
                 N),
                ('envoy_cluster_upstream_cx_length_ms_count{envoy_cluster_name="c"}', N),
                ('envoy_tcp_downstream_cx_length_ms_count{envoy_tcp_prefix="test"}', N),
                ('envoy_listener_downstream_cx_total{envoy_listener_address="127.0.0.1_%d"}'
                 % p.port, N),
                ("envoy_server_live", 1)):
            check(prom.get(series) == want, "prometheus %s = %r, want %r"
                  % (series, prom.get(series), want))
        check("# TYPE envoy_cluster_upstream_cx_connect_ms histogram" in r.stdout,
              "histogram TYPE line")


# promtool's lint rules that Envoy's own names break: its counters do not all end in _total, its
# histograms are in _ms, and its gauge cluster.membership_total ends in _total. Any other
# finding, or a parse error, fails.
ENVOY_NAMING = ('counter metrics should have "_total" suffix',
                "metric names should not contain abbreviated units",
                'envoy_cluster_membership_total non-counter metrics should not have "_total" suffix')


def test_promtool_accepts_the_prometheus_output():
    if not shutil.which("promtool"):
        raise Skip("promtool not installed (Debian package prometheus, in .ci/deps)")
    with EchoServer() as up, start(up) as p:
        run_traffic(p.port, 5)
        settle(p)
        r = p.statcli("--format", "prometheus")
        check(r.returncode == 0, r.stderr)
        pt = subprocess.run(["promtool", "check", "metrics"], input=r.stdout,
                            capture_output=True, text=True, timeout=60)
        findings = [l for l in (pt.stdout + pt.stderr).splitlines() if l.strip()]
        check(pt.returncode in (0, 3), "promtool refused the output (%d):\n%s"
              % (pt.returncode, "\n".join(findings[:20])))
        other = [l for l in findings if not any(k in l for k in ENVOY_NAMING)]
        check(not other, "promtool findings beyond Envoy's naming:\n" + "\n".join(other[:20]))
        check("no help text" not in pt.stdout + pt.stderr, "every family has HELP")


def test_prometheus_server_scrapes_the_admin_endpoint():
    if not shutil.which("prometheus"):
        raise Skip("prometheus not installed (Debian package prometheus, in .ci/deps)")
    admin_port, web_port = free_port(), free_port()
    with EchoServer() as up, start(up, admin_port=admin_port) as p:
        run_traffic(p.port, 7)
        settle(p)
        tmp = run_subdir("prometheus.")
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n- job_name: tcpproxy\n  metrics_path: /stats/prometheus\n"
                    "  static_configs:\n  - targets: ['127.0.0.1:%d']\n" % admin_port)
        log = open(os.path.join(tmp, "log"), "w+")
        prom = subprocess.Popen(["prometheus", "--config.file=" + cfg,
                                 "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                                 "--web.listen-address=127.0.0.1:%d" % web_port],
                                stdout=log, stderr=subprocess.STDOUT)

        def query(q):
            url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (
                web_port, urllib.request.quote(q))
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    return json.loads(r.read())["data"]["result"]
            except (OSError, ValueError, KeyError):
                return None

        try:
            res = wait_for(lambda: query('envoy_tcp_downstream_cx_total{envoy_tcp_prefix="test"}'),
                           60, 0.5, "prometheus to record envoy_tcp_downstream_cx_total")
            check(res[0]["value"][1] == "7", "scraped value: %r" % res)
            check(res[0]["metric"].get("job") == "tcpproxy", "scraped by our job: %r" % res)
            res = wait_for(lambda: query('envoy_cluster_upstream_cx_connect_ms_count'), 30, 0.5,
                           "the histogram series")
            check(res[0]["value"][1] == "7", "histogram count: %r" % res)
            res = query('up{job="tcpproxy"}')
            check(res and res[0]["value"][1] == "1", "target up: %r" % res)
        finally:
            prom.terminate()
            try:
                prom.wait(10)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
            log.close()
            shutil.rmtree(tmp, ignore_errors=True)


def test_counters_survive_sigkill_of_a_worker():
    with EchoServer() as up, start(up) as p:
        m = run_traffic(p.port, 20)
        settle(p)
        before, _ = text_stats(p)
        check(before["tcp.test.downstream_cx_total"] == 20, "before: %r" % before)
        victim = sorted(p.worker_pids())[0]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(p.worker_pids()) == 2 and victim not in p.worker_pids(), 10,
                 what="the worker to be replaced")
        after, _ = text_stats(p)
        for name in ("tcp.test.downstream_cx_total", "tcp.test.downstream_cx_rx_bytes_total",
                     "cluster.c.upstream_cx_total", "cluster.c.upstream_cx_connect_ms"):
            check(after[name] == before[name], "%s went from %r to %r" % (
                name, before[name], after[name]))
        m2 = run_traffic(p.port, 5)
        settle(p)
        later, _ = text_stats(p)
        check(later["tcp.test.downstream_cx_total"] == 25, "counting goes on: %r"
              % later["tcp.test.downstream_cx_total"])
        check(later["tcp.test.downstream_cx_rx_bytes_total"] == m + m2, "bytes go on")


def test_filter_keeps_matching_names_and_refuses_a_bad_regex():
    with EchoServer() as up, start(up) as p:
        run_traffic(p.port, 3)
        s, _ = text_stats(p, "--filter", r"^tcp\.test\.downstream_cx_(total|rx_bytes_total)$")
        check(sorted(s) == ["tcp.test.downstream_cx_rx_bytes_total",
                            "tcp.test.downstream_cx_total"], "filtered: %r" % s)
        r = p.statcli("--format", "prometheus", "--filter", "cx_connect_ms")
        check(r.returncode == 0 and "envoy_cluster_upstream_cx_connect_ms_count" in r.stdout
              and "envoy_tcp_downstream_cx_total" not in r.stdout, "prometheus filter")
        r = p.statcli("--filter", "(unclosed")
        check(r.returncode == 2 and "--filter" in r.stderr, "bad regex: %d %r"
              % (r.returncode, r.stderr))
        r = p.statcli("--format", "xml")
        check(r.returncode == 2, "bad format exit 2")


def test_no_master_exits_2_with_one_line():
    base = 900000 + os.getpid() % 1000
    r = subprocess.run([STAT, "--base-id", str(base)], capture_output=True, text=True,
                       timeout=30)
    check(r.returncode == 2, "exit %d" % r.returncode)
    lines = r.stderr.strip().splitlines()
    check(len(lines) == 1, "one line: %r" % r.stderr)
    check(default_stats_socket(base) in lines[0] and "No such file" in lines[0],
          "says which socket and why: %r" % lines[0])
    check(r.stdout == "", "nothing on stdout")
    # A socket file nobody listens on (a master killed with SIGKILL leaves one).
    path = run_path("stale.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.close()
    try:
        r = subprocess.run([STAT, "-s", path], capture_output=True, text=True, timeout=30)
        check(r.returncode == 2 and "Connection refused" in r.stderr and path in r.stderr,
              "stale socket: %d %r" % (r.returncode, r.stderr))
    finally:
        os.unlink(path)


def test_stats_socket_default_path_mode_and_removal():
    with EchoServer() as up:
        port = free_port()
        with Proxy(bootstrap([listener_yaml("l", port, "c")], [cluster_yaml("c", [up.port])])) as p:
            st = os.stat(p.stats_socket)
            check(stat.S_ISSOCK(st.st_mode), "a socket at %s" % p.stats_socket)
            check(stat.S_IMODE(st.st_mode) == 0o600, "mode %o" % stat.S_IMODE(st.st_mode))
            check(p.statcli().returncode == 0, "served at the default path")
            check(p.stop() == 0, "clean stop")
            check(not os.path.exists(p.stats_socket), "removed on exit")
        # --stats-socket elsewhere; a stale file there (SIGKILLed master) is replaced.
        path = os.path.join(run_subdir("sock."), "stats.sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.close()
        with Proxy(bootstrap([listener_yaml("l", port, "c")], [cluster_yaml("c", [up.port])]),
                   extra_args=["--stats-socket", path]) as p:
            check(stat.S_IMODE(os.stat(path).st_mode) == 0o600, "mode 0600")
            check(not os.path.exists(p.stats_socket), "not at the default path")
            r = subprocess.run([STAT, "-s", path, "--filter", "^server.live$"],
                               capture_output=True, text=True, timeout=30)
            check(r.stdout == "server.live: 1\n", "served at --stats-socket: %r" % r.stdout)
            r = subprocess.run([STAT, "-s", path, "--base-id", "3"], capture_output=True,
                               text=True, timeout=30)
            check(r.returncode == 2, "-s and --base-id together is a usage error")
            check(p.stop() == 0, "clean stop")
            check(not os.path.exists(path), "removed on exit")
        os.rmdir(os.path.dirname(path))


def test_unprivileged_master_and_reader():
    user = nobody()
    with EchoServer() as up:
        port = free_port()
        with Proxy(bootstrap([listener_yaml("l", port, "c")], [cluster_yaml("c", [up.port])]),
                   user=user) as p:
            check(p.stats_socket == default_stats_socket(p.base_id, user.pw_uid),
                  "the socket is where a master run as nobody puts it")
            st = os.stat(os.path.dirname(p.stats_socket))
            check(st.st_uid == user.pw_uid and stat.S_IMODE(st.st_mode) == 0o700,
                  "its own directory: uid %d mode %o" % (st.st_uid, stat.S_IMODE(st.st_mode)))
            check(os.stat(p.stats_socket).st_uid == user.pw_uid, "owned by nobody")
            echo_roundtrip(port)
            wait_for(lambda: "tcp.test.downstream_cx_total: 1\n" in
                     p.statcli(user=user).stdout, what="nobody reads its stats")


def _tmux(sock, *args):
    return subprocess.run(["tmux", "-L", sock] + list(args), capture_output=True, text=True,
                          timeout=30)


def test_watch_under_tmux_shows_rates_and_exits_cleanly_on_q():
    if not shutil.which("tmux"):
        raise Skip("tmux not installed (in .ci/deps)")
    sock = "tp-test-%d" % os.getpid()
    with EchoServer() as up, start(up) as p:
        for key in ("q", "C-c"):
            done = os.path.join(run_subdir("watch."), "after")
            # After tcpproxy-stat exits, the shell records its status and the terminal mode.
            # The shell ignores Ctrl-C so that only tcpproxy-stat answers it.
            # 80 rows: the cluster.* lines (26 stats) come before tcp.test.*.
            cmd = "trap '' INT; %s --base-id %d --watch 1; echo rc=$? > %s; stty -a >> %s" % (
                STAT, p.base_id, done, done)
            # Tall enough for every line (a cluster has 52 stats since the tunnel and DNS ones): the
            # screen is cut at its height, and tcp.test.* comes after cluster.c.*.
            r = _tmux(sock, "new-session", "-d", "-s", "w", "-x", "160", "-y", "140", cmd)
            check(r.returncode == 0, "tmux: " + r.stderr)
            try:
                stop = threading.Event()

                def load():
                    while not stop.is_set():
                        echo_roundtrip(p.port, b"x" * 1000)
                        time.sleep(0.01)

                t = threading.Thread(target=load, daemon=True)
                t.start()
                rate = re.compile(r"tcp\.test\.downstream_cx_total\s+\d+\s+(\d+\.\d)/s")

                def busy_rate():
                    screen = _tmux(sock, "capture-pane", "-p", "-t", "w").stdout
                    m = rate.search(screen)
                    return m and float(m.group(1)) > 0 and screen

                screen = wait_for(busy_rate, 20, 0.2, "a nonzero rate on the watch screen")
                stop.set()
                t.join(10)
                check("tcpproxy-stat" in screen and "(q to quit)" in screen, "header")
                check(re.search(r"tcp\.test\.downstream_cx_rx_bytes_total\s+\d+\s+\d+\.\d/s",
                                screen), "byte rate shown:\n" + screen)
                check(re.search(r"server\.concurrency\s+2\s*$", screen, re.M),
                      "gauges without a rate:\n" + screen)
                _tmux(sock, "send-keys", "-t", "w", key)
                wait_for(lambda: os.path.exists(done) and "rc=" in open(done).read() and
                         "icanon" in open(done).read(), 10, what="exit after %s" % key)
                after = open(done).read()
                check("rc=0" in after, "exit status after %s: %r" % (key, after[:20]))
                check(" icanon" in after and " echo" in after and "-icanon" not in after,
                      "terminal restored after %s" % key)
            finally:
                _tmux(sock, "kill-server")
                shutil.rmtree(os.path.dirname(done), ignore_errors=True)


def test_no_local_user_can_take_the_default_socket():
    # Any local user could create /dev/shm/tcpproxy.N.sock first and stop tcpproxy from
    # starting (issue 11 item 10). Root's default is now in /run/tcpproxy, which only root
    # may write; another user's in /dev/shm/tcpproxy-UID, which must be theirs.
    user = nobody()
    as_nobody = as_user(user)
    with EchoServer() as up:
        port = free_port()
        cfg = bootstrap([listener_yaml("l", port, "c")], [cluster_yaml("c", [up.port])])
        # What an attacker could do before: squat the old name of the next instance's socket.
        # It no longer matters.
        old = "/dev/shm/tcpproxy.%d.sock" % harness._next_base_id[0]
        pid = os.fork()
        if pid == 0:
            try:
                as_nobody()
                s = socket.socket(socket.AF_UNIX)
                s.bind(old)
                os._exit(0)
            except BaseException:
                os._exit(1)
        check(os.waitpid(pid, 0)[1] == 0, "nobody squats %s" % old)
        try:
            with Proxy(cfg) as p:
                check(old == "/dev/shm/tcpproxy.%d.sock" % p.base_id, "the squatted id")
                st = os.stat("/run/tcpproxy")
                check(st.st_uid == 0 and not st.st_mode & 0o022, "/run/tcpproxy is root's")
                check(os.path.exists(p.stats_socket), "served from %s" % p.stats_socket)
                check(p.statcli("--filter", "^server.live$").stdout == "server.live: 1\n",
                      "tcpproxy-stat finds it")
                # The workers' user finds a root master's socket (ours first, then root's).
                with Proxy(cfg.replace("port_value: %d" % port, "port_value: %d" % free_port()),
                           extra_args=["--user", "nobody"]) as q:
                    check(os.stat(q.stats_socket).st_uid == user.pw_uid, "chowned")
                    r = q.statcli("--filter", "^server.live$", user=user)
                    check(r.stdout == "server.live: 1\n", "nobody reads root's: %r" % (r,))
        finally:
            os.unlink(old)

        # For another user, a directory at its name that is not its own is refused.
        theirs = os.path.dirname(default_stats_socket(0, user.pw_uid))
        shutil.rmtree(theirs, ignore_errors=True)
        os.mkdir(theirs, 0o700)
        os.chown(theirs, 12345, 12345)  # as if another user had made it first
        try:
            p = Proxy(cfg, user=user, expect_start=False)
            check(p.proc.wait(10) == 1, "refused to start")
            out = p.output()
            p.cleanup()
            check("stats socket directory %s is not safe to use: owned by uid 12345" % theirs
                  in out and "--stats-socket" in out, "says why: %r" % out[-500:])
            os.chown(theirs, user.pw_uid, user.pw_gid)
            os.chmod(theirs, 0o777)  # its own but writable by all: refused too
            p = Proxy(cfg, user=user, expect_start=False)
            check(p.proc.wait(10) == 1 and "writable by others" in p.output(),
                  "a world-writable directory: %r" % p.output()[-500:])
            p.cleanup()
            r = subprocess.run([user_binary(STAT), "--base-id", str(p.base_id)], capture_output=True,
                               text=True, timeout=30, preexec_fn=as_nobody)
            check(r.returncode == 2 and "not safe" in r.stderr,
                  "tcpproxy-stat will not trust it either: %r" % (r,))
        finally:
            shutil.rmtree(theirs, ignore_errors=True)

        # --stats-socket: a stale socket of another user's is not ours to replace.
        d = run_subdir("tp-sock-")
        path = os.path.join(d, "stats.sock")
        pid = os.fork()
        if pid == 0:
            try:
                os.chown(d, user.pw_uid, user.pw_gid)
                as_nobody()
                socket.socket(socket.AF_UNIX).bind(path)
                os._exit(0)
            except BaseException:
                os._exit(1)
        check(os.waitpid(pid, 0)[1] == 0, "nobody's socket at %s" % path)
        try:
            p = Proxy(cfg, extra_args=["--stats-socket", path], expect_start=False)
            check(p.proc.wait(10) == 1 and "a socket of another user is there" in p.output(),
                  "another user's socket: %r" % p.output()[-500:])
            p.cleanup()
        finally:
            shutil.rmtree(d, ignore_errors=True)


def test_tcpproxy_stat_prints_no_control_characters_a_socket_sent():
    """tcpproxy-stat prints what a socket answers, and the socket may be anyone's (-s PATH, or
    a non-root master's default place) while the terminal is root's: an escape sequence in
    the answer could retitle it, rewrite what it shows or, on some terminals, type into the
    shell. Every control character but tab and newline is printed as \\xNN, in an answer and
    in an error alike."""
    d = run_subdir("tp-fake-")
    path = os.path.join(d, "fake.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(4)
    evil = b"server.live: 1\x1b]0;owned\x07\r\x00\x7f\xc2\x9b31m\tok\n"

    def serve(status):
        c, _ = srv.accept()
        with c:
            c.recv(4096)
            c.sendall(b"HTTP/1.0 %d X\r\nContent-Length: %d\r\n\r\n" % (status, len(evil)) +
                      evil)

    try:
        for status in (200, 503):
            t = threading.Thread(target=serve, args=(status,))
            t.start()
            r = subprocess.run([STAT, "-s", path], capture_output=True, timeout=30)
            t.join()
            out = r.stdout + r.stderr
            check(not re.search(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]", out),
                  "control characters reached the terminal: %r" % out)
            check(b"server.live: 1\\x1b]0;owned\\x07\\x0d\\x00\\x7f\\xc2\\x9b31m\tok\n" in out,
                  "escaped, the rest kept: %r" % out)
    finally:
        srv.close()
        shutil.rmtree(d, ignore_errors=True)
