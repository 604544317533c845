"""Hostile peers and careless operators (issue 11): what a probe broke once, kept fixed.

Every test here is bounded in time and uses loopback only."""
import os
import random
import shutil
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import time

from harness import (BUILD, RUN_DIR, STATDUMP, TCPPROXY, EchoServer, Proxy, Server, Skip,
                     SlowUpstream, _alive, _take_base_id, bootstrap, check, cluster_yaml,
                     echo_handler, echo_roundtrip, free_port, listener_yaml, wait_for)
from test_process import _listening
from test_relay import simple_config


def _nobody():
    import pwd

    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        raise Skip("no user nobody")


def test_workers_die_with_a_killed_master_after_dropping_privileges():
    """PR_SET_PDEATHSIG is cleared by a credential change: set before --user's drop, workers
    outlived a kill -9 of the master and kept serving the old config, uncounted."""
    if os.geteuid() != 0:
        raise Skip("needs root to drop privileges")
    _nobody()
    with EchoServer() as up:
        port = free_port()
        p = Proxy(simple_config(port, [up.port]), extra_args=("--user", "nobody"))
        workers = p.worker_pids()
        try:
            check(echo_roundtrip(port) == b"ping", "serving as nobody")
            check(len(workers) == 2, "two workers: %s" % workers)
            p.proc.kill()
            p.proc.wait()
            for pid in workers:
                wait_for(lambda: not _alive(pid), 2.0, what="worker %d to die with the master" % pid)
            wait_for(lambda: not _listening(port), 2.0,
                     what="the listening socket to go away with the master")
        finally:
            for pid in workers:
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
            p.log.close()
            try:
                os.unlink("/dev/shm" + p.stats_name)
            except OSError:
                pass


def test_out_of_descriptors_is_overflow_not_an_upstream_failure():
    """A worker out of descriptors accepted a client with its last one, failed to open the
    upstream socket, counted an upstream connect failure and warned once per client."""
    with EchoServer() as up:
        port = free_port()
        with Proxy(simple_config(port, [up.port]), concurrency=1,
                   wrap=["prlimit", "--nofile=48:48"]) as p:
            clients = [socket.create_connection(("127.0.0.1", port), timeout=5)
                       for _ in range(100)]
            overflow = "listener.127.0.0.1_%d.downstream_cx_overflow" % port
            wait_for(lambda: p.stat(overflow) > 0, what="connections refused for want of fds")
            # Every client the worker took is either served or counted as overflow.
            wait_for(lambda: p.stat("listener.127.0.0.1_%d.downstream_cx_total" % port)
                     == p.stat("tcp.test.downstream_cx_total"), what="each accepted client routed")
            check(p.stat("cluster.c.upstream_cx_connect_fail") == 0,
                  "fd exhaustion counted as upstream failures: %d"
                  % p.stat("cluster.c.upstream_cx_connect_fail"))
            out = p.output()
            check(out.count("upstream socket for") == 0, "a warning per client:\n" + out[-2000:])
            check(out.count("pausing accepts") <= 6, "warnings at most once a second")
            for s in clients:
                s.close()
            wait_for(lambda: _echo_ok(port), 10, what="serving again once the clients left")


def _echo_ok(port):
    try:
        return echo_roundtrip(port, b"again") == b"again"
    except OSError:
        return False


def _rst(s):
    """Closes s with a reset (SO_LINGER 0)."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def _settled(p, port, cluster="c", prefix="test"):
    """Every gauge back to zero once the sessions are gone."""
    return (p.stat("listener.127.0.0.1_%d.downstream_cx_active" % port) == 0
            and p.stat("cluster.%s.upstream_cx_active" % cluster) == 0
            and p.stat("tcp.%s.downstream_cx_rx_bytes_buffered" % prefix) == 0
            and p.stat("tcp.%s.downstream_cx_tx_bytes_buffered" % prefix) == 0)


def test_reset_storms_while_connecting_relaying_and_buffering_early_data():
    """Clients that reset at every stage: the proxy serves on, and every gauge returns to 0."""
    workers_before = None
    with EchoServer() as up:
        slow = SlowUpstream(echo_handler)
        port, early_port = free_port(), free_port()
        cfg = bootstrap(
            [listener_yaml("l", port, "c"),
             listener_yaml("e", early_port, "slow", stat_prefix="early",
                           proxy_extra="\n          max_early_data_bytes: 65536")],
            [cluster_yaml("c", [up.port]),
             cluster_yaml("slow", [slow.port], connect_timeout="1s")])
        with Proxy(cfg) as p:
            workers_before = sorted(p.worker_pids())
            for _ in range(300):
                # While connecting (early data on, the upstream accepts late): bytes, then RST.
                s = socket.create_connection(("127.0.0.1", early_port), timeout=5)
                s.sendall(os.urandom(random.randint(1, 100000)) if random.random() < 0.7 else b"")
                _rst(s)
                # While relaying: through the echo, a reset mid-stream.
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(os.urandom(random.randint(1, 200000)))
                if random.random() < 0.5:
                    s.recv(1)
                _rst(s)
            check(echo_roundtrip(port) == b"ping", "serving after the storm")
            wait_for(lambda: _settled(p, port) and _settled(p, early_port, "slow", "early"),
                     15, what="every gauge back to zero")
            check(sorted(p.worker_pids()) == workers_before, "no worker died")
            check(p.stat("server.worker_restarts") == 0, "no worker restarted")


def test_slowloris_clients_do_not_stop_a_fresh_one():
    """Hundreds of clients trickling a byte now and then hold connections; a new client is
    served at once."""
    with EchoServer() as up:
        port = free_port()
        with Proxy(simple_config(port, [up.port])) as p:
            slow = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(500)]
            for _ in range(3):
                for s in slow:
                    s.send(b"x")
                t0 = time.monotonic()
                check(echo_roundtrip(port, b"fresh") == b"fresh", "a fresh client served")
                check(time.monotonic() - t0 < 2.0, "a fresh client waited %.1fs"
                      % (time.monotonic() - t0))
            for s in slow:
                s.close()
            wait_for(lambda: _settled(p, port), 15, what="every gauge back to zero")


def _rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_a_client_that_never_reads_holds_bounded_memory():
    """The upstream sends a GiB to a client that never reads: the proxy pauses reading at the
    limit, its memory stays flat, and the session ends cleanly when the client goes."""
    sent = [0]

    def flood(c):
        chunk = b"z" * (1 << 20)
        try:
            while sent[0] < (1 << 30):
                c.sendall(chunk)
                sent[0] += len(chunk)
        except OSError:
            pass

    with Server(flood) as up:
        port = free_port()
        with Proxy(simple_config(port, [up.port], listener_extra=
                                 "\n    per_connection_buffer_limit_bytes: 65536"),
                   concurrency=1) as p:
            worker = p.worker_pids()[0]
            rss0 = _rss_kb(worker)
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            wait_for(lambda: p.stat("cluster.c.upstream_flow_control_paused_reading_total") > 0,
                     what="reading from the upstream paused")
            # The pause holds: once the kernel's buffers on the way are full (their size is the
            # kernel's, up to tcp_rmem's maximum), the upstream can send nothing more.
            last = [-1, 0]

            def stalled():
                if sent[0] == last[0]:
                    last[1] += 1
                else:
                    last[0], last[1] = sent[0], 0
                return last[1] >= 5

            wait_for(stalled, 30, interval=0.2, what="the upstream to stop getting through")
            check(sent[0] < 1 << 30, "a GiB went somewhere")
            check(p.stat("tcp.test.downstream_cx_tx_bytes_buffered") <= 65536 + (1 << 20),
                  "buffered beyond the limit")
            check(_rss_kb(worker) - rss0 < 32 * 1024, "worker RSS grew by %d KiB"
                  % (_rss_kb(worker) - rss0))
            s.close()
            wait_for(lambda: _settled(p, port), 15, what="every gauge back to zero")


def test_garbage_at_every_port():
    """Random bytes at the listener (proxied as they are), the admin port and the stats
    socket: answered or closed, the master and workers stay up."""
    with EchoServer() as up:
        port, admin = free_port(), free_port()
        cfg = simple_config(port, [up.port]) + (
            "admin:\n  address:\n    socket_address: {address: 127.0.0.1, port_value: %d}\n"
            % admin)
        with Proxy(cfg) as p:
            workers = sorted(p.worker_pids())
            for _ in range(50):
                junk = os.urandom(random.randint(1, 20000))
                for addr in (("127.0.0.1", port), ("127.0.0.1", admin)):
                    s = socket.create_connection(addr, timeout=5)
                    try:
                        s.sendall(junk)
                        s.shutdown(socket.SHUT_WR)
                        s.settimeout(5)
                        while s.recv(65536):
                            pass
                    except OSError:
                        pass
                    s.close()
                u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                u.settimeout(5)
                try:
                    u.connect(p.stats_socket)
                    u.sendall(junk)
                    u.shutdown(socket.SHUT_WR)
                    while u.recv(65536):
                        pass
                except OSError:
                    pass
                u.close()
            check(echo_roundtrip(port) == b"ping", "still proxying")
            r = p.statcli()
            check(r.returncode == 0, "tcpproxy-stat after the garbage: %s" % r.stderr)
            check(sorted(p.worker_pids()) == workers, "no worker died")


def test_bad_configs_on_reload_leave_the_serving_generation_alone():
    bad = [
        b"",
        b"static_resources: [",
        b"\x00\x01\x02\x03" * 100,
        b"static_resources:\n  listeners: 7\n",
        b"admin: {address: {socket_address: {address: 127.0.0.1, port_value: 99999}}}\n",
        os.urandom(4096),
        b"a: &a [*a]\n",
        b"- " * 100000,
    ]
    with EchoServer() as up:
        port = free_port()
        with Proxy(simple_config(port, [up.port])) as p:
            good = open(p.config_path, "rb").read()
            for i, text in enumerate(bad):
                with open(p.config_path, "wb") as f:
                    f.write(text)
                p.proc.send_signal(signal.SIGHUP)
                wait_for(lambda: p.stat("server.reload_failed") == i + 1, 10,
                         what="reload %d to fail" % i)
                check(echo_roundtrip(port) == b"ping", "serving after bad config %d" % i)
            with open(p.config_path, "wb") as f:
                f.write(good)
            p.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: p.stat("server.hot_restart_epoch") == 1, 10,
                     what="a good config reloads after the bad ones")
            check(echo_roundtrip(port) == b"ping", "serving the good one")


def test_signal_storm():
    """SIGHUP, SIGUSR1 and SIGCHLD by the hundred while serving: the master coalesces them,
    ends with a bounded number of generations, and stops cleanly."""
    with EchoServer() as up:
        port = free_port()
        with Proxy(simple_config(port, [up.port])) as p:
            for i in range(300):
                p.proc.send_signal((signal.SIGHUP, signal.SIGUSR1, signal.SIGCHLD)[i % 3])
            check(echo_roundtrip(port) == b"ping", "serving during the storm")
            wait_for(lambda: len(p.worker_pids()) == 2, 30, what="the storm's generations drained")
            check(p.stat("server.hot_restart_epoch") >= 1, "at least one reload ran")
            check(echo_roundtrip(port) == b"ping", "serving after the storm")
            check(p.stop() == 0, "a clean stop after the storm")


# ---- the stats segment as untrusted input (issue 11, items 2 and 10) ----

CORRUPT = os.path.join(BUILD, "tests", "tp-shmcorrupt")


def _as(user):
    def drop():
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
    return drop


def _http(port, target):
    """(status, body) of one admin request; the connection is closed by the server."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target).encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


def _mapped_bytes(pid, shm_name):
    """How much of the stats segment pid has mapped."""
    n = 0
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            if "/dev/shm" + shm_name in line:
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                n += hi - lo
    return n


def _corrupt(p, seed, *what):
    """Scribbles over p's segment as nobody, through a mapping of all of it: more than a worker
    can reach (its own block), as if it had kept everything it inherited."""
    r = subprocess.run([CORRUPT, "--user", "nobody", "--seed", str(seed), p.stats_name]
                       + list(what), capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, "tp-shmcorrupt %s: %s" % (" ".join(what), r.stderr))


def test_a_worker_scribbling_over_the_stats_segment_cannot_hurt_the_master():
    """Workers held the whole stats segment read-write. The master (root) used counts, kinds and
    bases read from it: an index of 268435456 read out of bounds (UBSan), crashed the release
    build, and could write out of bounds in a root process. Workers now keep only their own
    block, and the master trusts nothing in the segment anyway: scribbled on as nobody (header,
    scope table, slot table, blocks), it serves on through every path that touches the
    segment (reload, a worker's death, a generation's end, /stats by admin and tcpproxy-stat)
    and says once that it found the segment corrupt; readers refuse or read, never crash."""
    if os.geteuid() != 0:
        raise Skip("needs root to run workers as nobody")
    nobody = _nobody()
    with EchoServer() as up:
        port, admin = free_port(), free_port()
        cfg = simple_config(port, [up.port]) + (
            "admin:\n  address:\n    socket_address: {address: 127.0.0.1, port_value: %d}\n"
            % admin)
        with Proxy(cfg, extra_args=("--user", "nobody")) as p:
            check(echo_roundtrip(port) == b"ping", "serving as nobody")
            shm = os.stat("/dev/shm" + p.stats_name)
            check(shm.st_uid == 0 and (shm.st_mode & 0o777) == 0o600,
                  "the segment stays root's, 0600: %o uid %d" % (shm.st_mode, shm.st_uid))
            # Another process of the workers' user cannot even open it, and a worker keeps
            # only its own block of the mapping it inherited...
            r = subprocess.run([CORRUPT, p.stats_name, "header"], capture_output=True,
                               text=True, timeout=30, preexec_fn=_as(nobody))
            check(r.returncode == 2 and "Permission denied" in r.stderr,
                  "nobody opened the segment: %d %s" % (r.returncode, r.stderr))
            whole = _mapped_bytes(p.proc.pid, p.stats_name)
            for w in p.worker_pids():
                check(0 < _mapped_bytes(w, p.stats_name) * 10 < whole,
                      "worker %d maps %d of %d bytes" % (w, _mapped_bytes(w, p.stats_name),
                                                         whole))
            # ...so what follows can do more than a worker: all of the mapping, as nobody.
            damage = [("header", "scopes", "slots", "blocks"),
                      ("header-random", "scopes"),
                      ("header-random", "restore-magic", "slots", "blocks"),
                      ("scopes", "blocks"),
                      ("header",)]
            epoch = 0
            for i, what in enumerate(damage):
                # A reload (scopes registered, the old generation's slots folded and freed).
                _corrupt(p, i * 10 + 1, *what)
                epoch += 1
                p.proc.send_signal(signal.SIGHUP)
                wait_for(lambda: "generation %d: all its workers have exited" % (epoch - 1)
                         in p.output() or p.proc.poll() is not None, 15,
                         what="reload %d and the old generation's end" % epoch)
                check(p.proc.poll() is None, "master died on reload:\n" + p.output()[-3000:])
                # A worker's death (its gauges zeroed) and restart.
                _corrupt(p, i * 10 + 2, *what)
                restarts = p.output().count("restarting it")
                os.kill(p.worker_pids()[0], signal.SIGKILL)
                wait_for(lambda: p.output().count("restarting it") > restarts
                         or p.proc.poll() is not None, 15, what="the worker restarted")
                check(p.proc.poll() is None, "master died on a worker's death")
                # Every admin route, then tcpproxy-stat, then a reader of the segment itself.
                _corrupt(p, i * 10 + 3, *what)
                for target in ("/stats", "/stats?format=json", "/stats/prometheus",
                               "/clusters", "/ready", "/server_info"):
                    status, body = _http(admin, target)
                    check(status in (200, 503), "%s: %d" % (target, status))
                check("cluster.c.upstream_cx_total" in _http(admin, "/stats")[1],
                      "the master names its stats from its own layout")
                _corrupt(p, i * 10 + 4, *what)
                for fmt in ("text", "json", "prometheus"):
                    r = p.statcli("--format", fmt)
                    check(r.returncode == 0, "tcpproxy-stat %s: %s" % (fmt, r.stderr))
                _corrupt(p, i * 10 + 5, *what)
                r = subprocess.run([STATDUMP, p.stats_name], capture_output=True, text=True,
                                   timeout=30)
                check(r.returncode in (0, 2), "tp-statdump on a corrupt segment: %d %s"
                      % (r.returncode, r.stderr))
                check(echo_roundtrip(port) == b"ping", "serving after round %d" % i)
                # Once the master has looked (here for tcpproxy-stat), it has written its copy
                # back, and readers of the segment trust it again.
                check(p.statcli().returncode == 0, "tcpproxy-stat after round %d" % i)
                r = subprocess.run([STATDUMP, p.stats_name], capture_output=True, text=True,
                                   timeout=30)
                check(r.returncode == 0 and "cluster.c.upstream_cx_total" in r.stdout,
                      "tp-statdump once the master rewrote its layout: %s" % r.stderr)
            out = p.output()
            found = out.count("found corrupt")
            check(found >= 1, "the master did not say it found the segment corrupt")
            # Rate-limited: one line per 10 s at most (the test takes well under a minute).
            check(found <= 6, "%d lines about the corrupt segment" % found)
            check(p.stop() == 0, "a clean stop after the scribbling")


def _start(cfg_path, base_id, preexec=None):
    """tcpproxy on base_id, expected to refuse to start: (exit status, output)."""
    r = subprocess.run([TCPPROXY, "-c", cfg_path, "--concurrency", "1", "--base-id",
                        str(base_id)], capture_output=True, text=True, timeout=20,
                       preexec_fn=preexec)
    return r.returncode, r.stdout + r.stderr


def test_a_stats_segment_name_taken_first_is_replaced_as_root_and_refused_otherwise():
    """Any local user can create /dev/shm/tcpproxy.N.stats before tcpproxy does. The segment is
    created with O_EXCL and mode 0600; a 0600 regular file of this user whose master is gone is
    replaced. Anything else is not a segment, and nothing in it is believed (not even a header
    naming a live pid): a master run as root removes it (a directory is renamed aside) and
    makes the segment, with a warning naming its owner, so that no local user can keep it from
    starting; an unprivileged master cannot remove another user's file from the sticky
    /dev/shm, and refuses with a message naming it, leaving it alone."""
    if os.geteuid() != 0:
        raise Skip("needs root to make files of two users")
    nobody = _nobody()
    port = free_port()
    fd, cfg = tempfile.mkstemp(suffix=".yaml", prefix="tp-test-")
    with os.fdopen(fd, "w") as f:
        f.write(simple_config(port, [free_port()]))
    os.chmod(cfg, 0o644)
    base = _take_base_id()
    path = "/dev/shm/tcpproxy.%d.stats" % base
    passwd = os.stat("/etc/passwd")

    def make(kind, uid=0, mode=0o600):
        if kind == "file":
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
            # A header that names a live master (pid 1): believed only in a file of ours.
            hdr = bytearray(512)
            struct.pack_into("<QI", hdr, 0, 0x0053544154535054, 2)
            struct.pack_into("<i", hdr, 96, 1)
            os.write(fd, bytes(hdr))
            os.fchown(fd, uid, uid)
            os.fchmod(fd, mode)
            os.close(fd)
        elif kind == "fifo":
            os.mkfifo(path, mode)
            os.chown(path, uid, uid)
        elif kind == "dir":
            os.mkdir(path, 0o755)
            open(os.path.join(path, "x"), "w").close()
            for f in (path, os.path.join(path, "x")):
                os.chown(f, uid, uid)
        else:
            os.symlink("/etc/passwd", path)
            os.lchown(path, uid, uid)

    def cleanup():
        for f in os.listdir("/dev/shm"):
            if f.startswith("tcpproxy.%d.stats" % base):
                full = os.path.join("/dev/shm", f)
                if os.path.isdir(full) and not os.path.islink(full):
                    shutil.rmtree(full)
                else:
                    os.unlink(full)

    try:
        # As root: replaced, whatever it is and whoever made it.
        for what, kind, uid, mode in (("nobody's file naming a live master", "file",
                                       nobody.pw_uid, 0o600),
                                      ("root's file, 0644", "file", 0, 0o644),
                                      ("nobody's FIFO", "fifo", nobody.pw_uid, 0o600),
                                      ("nobody's symlink", "symlink", nobody.pw_uid, 0o600),
                                      ("nobody's directory, not empty", "dir", nobody.pw_uid,
                                       0o755)):
            make(kind, uid, mode)
            p = _serve(cfg, base, port, None)
            try:
                st = os.lstat(path)
                check(stat.S_ISREG(st.st_mode) and st.st_uid == 0 and
                      (st.st_mode & 0o7777) == 0o600, "%s: made anew: %r" % (what, st))
            finally:
                p.send_signal(signal.SIGTERM)
                out = p.communicate(timeout=20)[0]
            owner = "uid %d (%s)" % (uid, "nobody" if uid else "root")
            check(p.returncode == 0 and "%s was taken by %s" % (path, owner) in out,
                  "%s: no warning naming its owner:\n%s" % (what, out))
            aside = [f for f in os.listdir("/dev/shm")
                     if f.startswith("tcpproxy.%d.stats.taken-by-uid-" % base)]
            check((kind == "dir") == bool(aside), "%s: set aside as %s" % (what, aside))
            cleanup()
        now = os.stat("/etc/passwd")
        check((now.st_ino, now.st_size, now.st_mtime) ==
              (passwd.st_ino, passwd.st_size, passwd.st_mtime), "the symlink's target touched")
        # A squatter that makes the name again as fast as it can, a file or a directory: the
        # segment is swapped in (RENAME_EXCHANGE), so the name is never free for it to retake.
        for kind in ("open(p, 'w').close()", "os.mkdir(p)"):
            squat = subprocess.Popen(
                ["python3", "-c", "import os, time\np = %r\nend = time.time() + 30\n"
                 "while time.time() < end:\n    try:\n        %s\n    except OSError:\n"
                 "        pass" % (path, kind)], preexec_fn=_as(nobody), cwd="/")
            try:
                wait_for(lambda: os.path.lexists(path), 10, what="the squatter")
                p = _serve(cfg, base, port, None)
                try:
                    st = os.lstat(path)
                    check(stat.S_ISREG(st.st_mode) and st.st_uid == 0,
                          "racing %s: made anew: %r" % (kind, st))
                finally:
                    p.send_signal(signal.SIGTERM)
                    out = p.communicate(timeout=20)[0]
                check(p.returncode == 0 and "%s was taken by uid %d" % (path, nobody.pw_uid)
                      in out, "racing %s:\n%s" % (kind, out))
            finally:
                squat.kill()
                squat.wait(timeout=10)
                cleanup()
        # As nobody: another user's file, or one of its own that is not a segment, is refused
        # and left alone (an unprivileged master cannot unlink another user's file there).
        for what, kind, uid, mode in (("root's file", "file", 0, 0o600),
                                      ("its own FIFO", "fifo", nobody.pw_uid, 0o600)):
            make(kind, uid, mode)
            before = os.lstat(path)
            status, out = _start(cfg, base, _as(nobody))
            check(status == 1, "%s: exit %d:\n%s" % (what, status, out))
            check("is not a stats segment tcpproxy may replace" in out and path in out
                  and "another --base-id" in out, "%s: no clear message:\n%s" % (what, out))
            after = os.lstat(path)
            check((after.st_ino, after.st_uid, after.st_mode) ==
                  (before.st_ino, before.st_uid, before.st_mode), "%s: touched" % what)
            cleanup()
        # A segment of this user whose master was killed is replaced, as nobody too.
        for preexec, uid in ((None, 0), (_as(nobody), nobody.pw_uid)):
            dead = _serve(cfg, base, port, preexec)
            dead.kill()
            dead.communicate(timeout=20)
            wait_for(lambda: not _listening(port), 5, what="the killed master's workers to go")
            check(os.stat(path).st_uid == uid, "a segment left behind")
            p = _serve(cfg, base, port, preexec)
            try:
                st = os.stat(path)
                check(st.st_uid == uid and (st.st_mode & 0o7777) == 0o600,
                      "made anew: uid %d mode %o" % (st.st_uid, st.st_mode))
            finally:
                p.send_signal(signal.SIGTERM)
                out = p.communicate(timeout=20)[0]
            check(p.returncode == 0 and "replacing %s" % path in out, out)
            check(not os.path.exists(path), "removed at exit")
    finally:
        cleanup()
        for f in (cfg, "/dev/shm/tcpproxy.%d.sock" % base):
            try:
                os.unlink(f)
            except OSError:
                pass


def _serve(cfg, base_id, port, preexec):
    p = subprocess.Popen([TCPPROXY, "-c", cfg, "--concurrency", "1", "--base-id", str(base_id)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         preexec_fn=preexec)
    wait_for(lambda: p.poll() is not None or _listening(port), 10, what="tcpproxy to listen")
    if p.poll() is not None:
        check(False, "tcpproxy did not start:\n" + p.communicate(timeout=20)[0])
    return p


def _unit_service():
    """The [Service] settings of the unit as shipped (etc/systemd/tcpproxy.service.in)."""
    from harness import ROOT

    out, section = {}, None
    with open(os.path.join(ROOT, "etc", "systemd", "tcpproxy.service.in")) as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[Service]" and "=" in line and not line.startswith("#"):
                k, _, v = line.partition("=")
                out.setdefault(k, []).append(v)
    return out


def test_as_packaged_a_process_of_the_service_user_cannot_crash_the_master():
    """docs/architecture.md: "The master runs as root; its workers run as --user" and "no
    worker can shrink [the segment] under the master's mapping (which would be SIGBUS)". The
    unit once ran the master itself as User=tcpproxy, without --user: master and workers were
    one account, and any process of it (a worker taken over through a peer) opened
    /dev/shm/tcpproxy.0.stats (0600, its own) and truncated it, and the master died of SIGBUS
    at its next look (or could simply be signalled, or ptraced). The unit now starts the master
    as root with --user: checked here, then run the same way (the service user played by
    nobody), with the segment attacked as that user."""
    import shlex

    svc = _unit_service()
    start = shlex.split(svc["ExecStart"][0])
    check("User" not in svc and "AmbientCapabilities" not in svc,
          "the unit runs the master as root: %s" % {k: svc.get(k) for k in ("User", "Group")})
    check(start[start.index("--user") + 1] == "tcpproxy"
          and start[start.index("--group") + 1] == "tcpproxy",
          "the workers run as tcpproxy: %s" % start)
    user = _nobody()
    up = EchoServer()
    port, admin = free_port(), free_port()
    cfg = ("admin:\n  address:\n    socket_address: {address: 127.0.0.1, port_value: %d}\n"
           % admin + bootstrap([listener_yaml("l", port, "c", stat_prefix="pk")],
                               [cluster_yaml("c", [up.port])]))
    try:
        with Proxy(cfg, extra_args=("--user", user.pw_name)) as p:
            check(echo_roundtrip(port) == b"ping", "serving")
            seg = "/dev/shm" + p.stats_name
            r = subprocess.run(["python3", "-c",
                                "import os; fd = os.open(%r, os.O_RDWR); os.ftruncate(fd, 0)"
                                % seg], capture_output=True, text=True, timeout=30,
                               preexec_fn=_as(user), cwd="/")
            opened = r.returncode == 0
            try:
                answer = _http(admin, "/stats")[0]
            except (OSError, IndexError, ValueError) as e:
                answer = repr(e)
            try:
                p.proc.wait(2)
            except subprocess.TimeoutExpired:
                pass
            check(not opened and "PermissionError" in r.stderr and p.proc.returncode is None
                  and answer == 200,
                  "a process of the service user %s the segment; the master %s (/stats: %s)"
                  % ("truncated" if opened else "could not open",
                     "is alive" if p.proc.returncode is None
                     else "died with status %d" % p.proc.returncode, answer))
            # Nor can it signal the master: another uid, and no capability.
            r = subprocess.run(["kill", "-TERM", str(p.proc.pid)], capture_output=True,
                               text=True, timeout=30, preexec_fn=_as(user))
            check(r.returncode != 0 and p.proc.poll() is None, "signalled the master: %r" % (r,))
    finally:
        up.close()


def test_any_local_user_cannot_keep_the_service_from_starting():
    """Issue 11, item 10: "Any local user can pre-create /dev/shm/tcpproxy.N.sock and stop
    tcpproxy from starting: put the default socket and segment where only the owner can create
    them, or check ownership and replace what is not ours." The socket moved to a private
    directory, but the segment stays at /dev/shm/tcpproxy.<base-id>.stats, which any user can
    create first (/dev/shm is world-writable), and a name taken by another user is refused,
    not replaced (test_hostile.py asserts the refusal): tcpproxy exits 1. So any local user
    still keeps the packaged service (base-id 0, Restart=on-failure) from ever starting, and
    its master, run as User=tcpproxy, cannot even remove the file from the sticky /dev/shm.
    The master runs as root now (the unit's too), and as root it removes what another user
    put there and makes the segment, with a warning naming the owner."""
    user = _nobody()
    up = EchoServer()
    port = free_port()
    try:
        # The squatter runs first, as any local user could.
        base = _take_base_id()
        path = "/dev/shm/tcpproxy.%d.stats" % base
        subprocess.run(["python3", "-c", "open(%r, 'w').close()" % path], check=True,
                       preexec_fn=_as(user), cwd="/", timeout=30)
        cfg_path = os.path.join(tempfile.mkdtemp(prefix="squat.", dir=RUN_DIR), "c.yaml")
        with open(cfg_path, "w") as f:
            f.write(bootstrap([listener_yaml("l", port, "c")], [cluster_yaml("c", [up.port])]))
        proc = subprocess.Popen([TCPPROXY, "-c", cfg_path, "--concurrency", "1",
                                 "--base-id", str(base)], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        try:
            try:
                out = proc.communicate(timeout=3)[0]
            except subprocess.TimeoutExpired:
                out = None  # still running: it started
            check(out is None,
                  "a file made first by user nobody kept tcpproxy from starting (exit %s): %s"
                  % (proc.returncode, (out or "").strip().splitlines()[-1:]))
            check(echo_roundtrip(port) == b"ping", "serving")
            proc.terminate()
            out = proc.communicate(timeout=20)[0]
            check(proc.returncode == 0 and "%s was taken by uid %d (%s)"
                  % (path, user.pw_uid, user.pw_name) in out, "the warning names it: %s" % out)
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.communicate(timeout=20)
            try:
                os.unlink(path)
            except OSError:
                pass
    finally:
        up.close()
