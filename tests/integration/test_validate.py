"""--mode validate: every example in etc/ loads; every broken fixture prints its expected lines;
every warning fixture loads and prints its warnings; what is not a config file, or too large to
be one, is refused at once with one clear line."""
import glob
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

from harness import (ROOT, RUN_DIR, TCPPROXY, Proxy, bootstrap, check, cluster_yaml, connect,
                     free_port, listener_yaml, wait_for)


def validate(path):
    return subprocess.run([TCPPROXY, "--mode", "validate", "-c", path], capture_output=True,
                          text=True, cwd=ROOT, timeout=10)


def test_every_example_config_validates():
    files = sorted(glob.glob(os.path.join(ROOT, "etc", "*.yaml")))
    check(files, "no example configs in etc/")
    for f in files:
        r = validate(os.path.relpath(f, ROOT))
        check(r.returncode == 0, "%s: exit %d\n%s" % (f, r.returncode, r.stderr))
        check(r.stderr == "", "%s: nothing on stderr, got %r" % (f, r.stderr))


def test_every_broken_fixture_prints_its_expected_errors():
    fixtures = sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "bad", "*.yaml")))
    check(len(fixtures) >= 10, "broken fixtures present")
    for f in fixtures:
        rel = os.path.relpath(f, ROOT)
        with open(f[:-len(".yaml")] + ".expected") as e:
            want = e.read()
        r = validate(rel)
        check(r.returncode == 1, "%s: exit %d, want 1" % (rel, r.returncode))
        check(r.stderr == want, "%s:\n got: %r\nwant: %r" % (rel, r.stderr, want))
        check(r.stdout == "", "%s: nothing started or printed on stdout" % rel)


def test_every_warning_fixture_loads_and_prints_its_warnings():
    fixtures = sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "warn", "*.yaml")))
    check(fixtures, "warning fixtures present")
    for f in fixtures:
        rel = os.path.relpath(f, ROOT)
        with open(f[:-len(".yaml")] + ".expected") as e:
            want = e.read()
        r = validate(rel)
        check(r.returncode == 0, "%s: exit %d, want 0\n%s" % (rel, r.returncode, r.stderr))
        check(want and r.stderr == want, "%s:\n got: %r\nwant: %r" % (rel, r.stderr, want))
        check(r.stdout == "configuration '%s' OK\n" % rel, "%s: %r" % (rel, r.stdout))


def test_every_ok_fixture_loads_silently():
    """tests/fixtures/ok/: what editors write and Envoy loads (a byte-order mark, CR LF line
    endings, UTF-16): each loads and prints nothing but OK."""
    fixtures = sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "ok", "*.yaml")))
    check(len(fixtures) >= 3, "ok fixtures present")
    for f in fixtures:
        rel = os.path.relpath(f, ROOT)
        r = validate(rel)
        check(r.returncode == 0, "%s: exit %d\n%s" % (rel, r.returncode, r.stderr))
        check(r.stderr == "", "%s: nothing on stderr, got %r" % (rel, r.stderr))
        check(r.stdout == "configuration '%s' OK\n" % rel, "%s: %r" % (rel, r.stdout))


def test_every_real_config_validates():
    """tests/fixtures/real/: Envoy configs from the wild, unchanged but for a header naming their
    source, that tcpproxy loads (docs/envoy-compat.md lists the ones that do not yet)."""
    files = sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "real", "*.yaml")))
    check(files, "real configs present")
    for f in files:
        rel = os.path.relpath(f, ROOT)
        with open(f) as h:
            check(h.readline().startswith("# Source: "), "%s: starts with its source" % rel)
        r = validate(rel)
        check(r.returncode == 0, "%s: exit %d\n%s" % (rel, r.returncode, r.stderr))
        check(r.stdout == "configuration '%s' OK\n" % rel, "%s: %r" % (rel, r.stdout))


def test_unknown_cluster_loads_and_answers_no_route_at_start_and_reload():
    """Envoy loads a tcp_proxy whose cluster is not there: tcpproxy logs the warning at start
    and at each reload, serves, and closes each connection to it as no_route."""
    port = free_port()
    config = bootstrap([listener_yaml("l", port, "later")], [cluster_yaml("c", [free_port()])])
    warning = ": warning: unknown cluster \"later\""
    with Proxy(config) as p:
        check(p.output().count(warning) == 1, "the warning is logged at start:\n" + p.output())
        s = connect(port)
        check(s.recv(1) == b"", "the connection is closed")
        s.close()
        p.wait_stat("tcp.test.downstream_cx_no_route", 1)
        p.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: p.stat("server.hot_restart_epoch") == 1, 30, what="the reload")
        check(p.output().count(warning) == 2, "the reload logs it again:\n" + p.output())
        check(p.stat("server.reload_failed") == 0, "a warning does not fail the reload")


def test_usage_errors_exit_2_and_help_exits_0():
    for args in (["--concurrency", "0", "-c", "x"], ["--mode", "bogus", "-c", "x"],
                 ["--log-level", "loud", "-c", "x"], [], ["--nope"]):
        r = subprocess.run([TCPPROXY] + args, capture_output=True, text=True, timeout=10)
        check(r.returncode == 2, "%s: exit %d, want 2" % (args, r.returncode))
        check("tcpproxy --help" in r.stderr, "%s: points to --help: %r" % (args, r.stderr))
    r = subprocess.run([TCPPROXY, "--help"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0 and "--mode" in r.stdout and "--base-id" in r.stdout, r.stdout)
    r = subprocess.run([TCPPROXY, "--version"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0 and r.stdout.startswith("tcpproxy "), r.stdout)


def test_help_lists_every_flag_the_parser_accepts():
    """Every long option in cmd/tcpproxy.c's getopt table, and every short one, starts a line of
    --help (a mention in another flag's text does not count)."""
    with open(os.path.join(ROOT, "cmd", "tcpproxy.c")) as f:
        src = f.read()
    longs = re.findall(r'\{"([a-z-]+)",\s*(?:no|required|optional)_argument', src)
    shorts = re.search(r'getopt_long\(argc, argv, "([^"]*)"', src).group(1).replace(":", "")
    check(len(longs) >= 11 and shorts, "found the option table: %s %r" % (longs, shorts))
    r = subprocess.run([TCPPROXY, "--help"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0, "--help exits 0")
    for name in longs:
        check(re.search(r"^ +(-[a-z], )?--%s\b" % re.escape(name), r.stdout, re.M),
              "--%s is missing from --help:\n%s" % (name, r.stdout))
    for c in shorts:
        check(re.search(r"^\s+-%s," % c, r.stdout, re.M),
              "-%s is missing from --help:\n%s" % (c, r.stdout))


def test_missing_file_is_a_clear_error():
    r = validate("/nonexistent/tcpproxy.yaml")
    check(r.returncode == 1, "exit %d" % r.returncode)
    check(r.stderr.startswith("/nonexistent/tcpproxy.yaml:") and "No such file" in r.stderr,
          r.stderr)


def test_what_is_not_a_regular_file_is_refused_at_once():
    """Issue 11: a FIFO nobody writes to made the loader wait for a writer (the master too, on
    SIGHUP); a directory said "Input/output error". Each is one line, at once."""
    with tempfile.TemporaryDirectory(prefix="tp-validate-") as d:
        fifo = os.path.join(d, "fifo.yaml")
        os.mkfifo(fifo)
        sock_path = os.path.join(d, "sock.yaml")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(sock_path)
        try:
            for path, kind in ((d, "a directory"), (fifo, "a FIFO"), (sock_path, "a socket"),
                               ("/dev/null", "a character device")):
                r = validate(path)  # a 10 s timeout: blocking on the FIFO fails the test
                check(r.returncode == 1, "%s: exit %d" % (path, r.returncode))
                check(r.stderr == "%s: not a regular file (%s)\n" % (path, kind),
                      "%s: %r" % (path, r.stderr))
        finally:
            sock.close()


def test_size_and_node_limits_are_clear_errors():
    """A file over 16 MiB is refused from its size, before it is read (a sparse file here); a
    file over 2^20 nodes says how many it has, and does not blame aliases it does not have."""
    with tempfile.TemporaryDirectory(prefix="tp-validate-") as d:
        big = os.path.join(d, "big.yaml")
        with open(big, "wb") as f:
            f.truncate(16 * 1024 * 1024 + 1)
        r = validate(big)
        check(r.returncode == 1 and
              r.stderr == "%s: too large (16777217 bytes; the limit is 16 MiB)\n" % big,
              r.stderr)
        many = os.path.join(d, "many.yaml")
        with open(many, "w") as f:
            f.write("static_resources:\n  clusters: [" + ",".join(["x"] * 1100000) + "]\n")
        r = validate(many)
        check(r.returncode == 1, "exit %d" % r.returncode)
        check(r.stderr.startswith(many + ":2:") and
              r.stderr.endswith(": static_resources.clusters[1048571]: too many nodes "
                                "(1100005 > 1048576)\n") and "alias" not in r.stderr,
              r.stderr)


def test_a_small_config_with_aliases_does_not_make_the_master_render_gigabytes():
    """YAML aliases are kept as shared nodes (core/config/ynode.c), and the node limit counts
    each alias once, whatever it stands for. The /config_dump text (core/config/dump.c) is
    rendered at every load -- start, --mode validate, and each SIGHUP, on the master's loop --
    by walking the tree, so an alias is written out in full each time it is used: a 64 KiB
    scalar used 2,000 times in a 72 KB file renders 128 MiB of JSON (2.8 s, 130 MB here); a
    1 MiB scalar used 4,000 times (a 1 MB file) took 100 s and 4 GB, and the node limit allows
    a million uses. The reload blocks the master meanwhile (no supervision, no stats, signals
    unread), the result is kept for /config_dump and inherited by every worker forked after.
    The dump is bounded now (TP_CONFIG_DUMP_MIN plus twice the file's size), and the load says
    so with a warning."""
    from test_relay import simple_config

    big = "A" * (64 << 10)
    cfg = ("node:\n  id: n1\n  metadata:\n    big: &b %s\n    many: [%s]\n"
           % (big, ",".join(["*b"] * 2000))) + simple_config(free_port(), [free_port()])
    path = os.path.join(tempfile.mkdtemp(prefix="alias.", dir=RUN_DIR), "alias.yaml")
    with open(path, "w") as f:
        f.write(cfg)
    # ru_maxrss of a child counts the memory of whatever exec'd into it: subprocess vforks
    # from this runner, whose own peak (hundreds of MB after test_relay) would be tcpproxy's.
    # A small Python forks (a real fork, a fresh ru_maxrss) and execs tcpproxy, and reports.
    measure = ("import os, sys\n"
               "pid = os.fork()\n"
               "if pid == 0:\n"
               "    os.execv(sys.argv[1], sys.argv[1:])\n"
               "_, status, usage = os.wait4(pid, 0)\n"
               "print('MAXRSS_KB %d' % usage.ru_maxrss, flush=True)\n"
               "sys.exit(os.waitstatus_to_exitcode(status))\n")
    t0 = time.monotonic()
    proc = subprocess.run(["python3", "-c", measure, TCPPROXY, "--mode", "validate", "-c", path],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    took = time.monotonic() - t0
    out = proc.stdout.decode()
    m = re.search(r"^MAXRSS_KB (\d+)$", out, re.M)
    check(m, out[-500:])
    maxrss = int(m.group(1))
    check(maxrss < 64 * 1024 and took < 1.5,
          "validating a %d KB configuration took %.1f s and %d MB (exit %d)"
          % (len(cfg) >> 10, took, maxrss >> 10, proc.returncode))
    check(proc.returncode == 0 and re.search(r":1:1: \(root\): warning: /config_dump shows the "
                                             r"first \d+ bytes of this configuration only", out),
          out)
