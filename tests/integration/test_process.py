"""Processes: signals, supervision, io_uring availability, idle footprint, unprivileged runs."""
import datetime
import hashlib
import os
import re
import signal
import socket
import subprocess
import threading
import time

from harness import (BUILD, TCPPROXY, EchoServer, Proxy, Server, _alive, check, connect,
                     echo_roundtrip, free_port, nobody, pipe_count, recv_all, run_path,
                     stream_bytes, thread_count, wait_for)
from test_relay import simple_config


def test_sigterm_and_sigint_exit_zero_without_orphans():
    for sig in (signal.SIGTERM, signal.SIGINT):
        with EchoServer() as up:
            port = free_port()
            with Proxy(simple_config(port, [up.port])) as p:
                check(echo_roundtrip(port) == b"ping", "serving before the signal")
                workers = p.worker_pids()
                check(len(workers) == 2, "two workers: %s" % workers)
                check(p.stop(sig) == 0, "exit status after %s" % sig.name)
                for pid in workers:
                    check(not _alive(pid), "worker %d left behind" % pid)
                check(not os.path.exists("/dev/shm" + p.stats_name), "stats segment removed")


def test_workers_die_with_the_master():
    with EchoServer() as up:
        port = free_port()
        with Proxy(simple_config(port, [up.port])) as p:
            workers = p.worker_pids()
            p.proc.kill()
            p.proc.wait()
            t0 = time.monotonic()
            for pid in workers:
                wait_for(lambda: not _alive(pid), 1.0, what="worker %d to die" % pid)
            check(time.monotonic() - t0 <= 1.0, "workers outlived the master")
            # io_uring tears a ring down asynchronously: its armed accept holds the socket for
            # a moment after the process is gone. The issue allows 2 s.
            wait_for(lambda: not _listening(port), 2.0,
                     what="the listening socket to go away with the master")
            os.unlink("/dev/shm" + p.stats_name)


def test_killed_worker_is_restarted_and_counters_survive():
    with EchoServer() as up:
        port = free_port()
        with Proxy(simple_config(port, [up.port])) as p:
            for i in range(20):
                check(echo_roundtrip(port) == b"ping", "before the kill")
            before = p.stat("tcp.test.downstream_cx_total")
            victim, other = sorted(p.worker_pids())
            # A long-lived connection on whichever worker: the survivor's must not notice.
            held = [connect(port) for _ in range(8)]
            for s in held:
                s.sendall(b"a")
                check(s.recv(1) == b"a", "held connection echo")
            os.kill(victim, signal.SIGKILL)
            t0 = time.monotonic()
            wait_for(lambda: len(p.worker_pids()) == 2 and victim not in p.worker_pids(), 1.0,
                     what="a new worker in the slot")
            check(time.monotonic() - t0 <= 1.0, "restart took over a second")
            survivors = 0
            for s in held:
                try:
                    s.sendall(b"b")
                    if s.recv(1) == b"b":
                        survivors += 1
                except OSError:
                    pass
                s.close()
            check(p.stat("tcp.test.downstream_cx_total") >= before, "counters never go back")
            for i in range(20):
                check(echo_roundtrip(port) == b"ping", "new connections after the restart")
            check(p.stat("tcp.test.downstream_cx_total") >= before + 20, "counting continues")
            check("restarting" in p.output(), "the restart is logged")
            check(other in p.worker_pids(), "the other worker was not disturbed")


def test_io_uring_unavailable_is_said_clearly():
    tool = os.path.join(BUILD, "tests", "no-uring")
    cfg = simple_config(free_port(), [free_port()])
    path = run_path("no-uring.yaml")
    with open(path, "w") as f:
        f.write(cfg)
    try:
        for err, want in (("EPERM", "io_uring is unavailable"), ("ENOSYS", "no io_uring")):
            r = subprocess.run([tool, err, TCPPROXY, "-c", path, "--base-id", "3999"],
                               capture_output=True, text=True, timeout=10)
            check(r.returncode == 1, "%s: exit %d, want 1: %s" % (err, r.returncode, r.stderr))
            check(want in r.stderr, "%s: message: %r" % (err, r.stderr))
            check(r.stderr.count("\n") <= 2, "one clear line, not a cascade: %r" % r.stderr)
    finally:
        os.unlink(path)


def test_2000_idle_connections_hold_no_pipe_and_no_thread():
    n = 2000
    # Past Envoy's default circuit breaker of 1024 connections a cluster refuses (UO), so the
    # cluster raises it, as an Envoy configuration for this many connections must.
    breaker = "\n    circuit_breakers: {thresholds: [{max_connections: 4096}]}"
    with EchoServer() as up:
        port = free_port()
        with Proxy(simple_config(port, [up.port], cluster_extra=breaker)) as p:
            # Warm the pools, then take the baseline.
            for _ in range(10):
                echo_roundtrip(port, b"x" * 100000)
            workers = p.worker_pids()
            threads0 = sum(thread_count(w) for w in workers)
            pipes0 = sum(pipe_count(w) for w in workers)
            socks = []
            try:
                for i in range(n):
                    s = connect(port)
                    s.sendall(b"hello")
                    socks.append(s)
                for s in socks:
                    check(s.recv(5) == b"hello", "echo on an idle-to-be connection")
                wait_for(lambda: up.open == n, what="all upstream connections")
                p.wait_stat("listener.127.0.0.1_%d.downstream_cx_active" % port, n)
                threads1 = sum(thread_count(w) for w in workers)
                pipes1 = sum(pipe_count(w) for w in workers)
                check(threads1 == threads0, "threads %d -> %d with %d idle connections" %
                      (threads0, threads1, n))
                check(pipes1 <= pipes0, "pipes %d -> %d with %d idle connections" %
                      (pipes0, pipes1, n))
            finally:
                for s in socks:
                    s.close()
            p.wait_stat("listener.127.0.0.1_%d.downstream_cx_active" % port, 0, timeout=20)


def test_unprivileged_user_beyond_the_pipe_budget():
    """As root the per-user pipe page budget does not apply; as 'nobody' 1 MiB pipes are refused
    after 64 (fs.pipe-user-pages-soft). 100 connections to a stalled upstream hold a full pipe
    each: the relay must fall back to smaller pipes or copying and lose nothing."""
    user = nobody()
    n, each = 100, 3 << 20
    release = threading.Event()
    digests = {}

    def upstream(c):
        release.wait(60)
        tag = c.recv(4)
        h = hashlib.sha256(tag)
        while True:
            b = c.recv(1 << 20)
            if not b:
                break
            h.update(b)
        digests[tag] = h.digest()

    with Server(upstream, rcvbuf=4096) as up:
        port = free_port()
        with Proxy(simple_config(port, [up.port]), expect_start=False, user=user) as p:
            wait_for(lambda: p.workers_ready(2) or p.proc.poll() is not None,
                     what="unprivileged workers")
            check(p.proc.poll() is None, "tcpproxy as nobody exited:\n" + p.output())
            want = {}
            errors = []

            def one(i):
                try:
                    s = connect(port, timeout=60)
                    payload = b"%04d" % i + b"".join(stream_bytes(100 + i, each, chunk=1 << 18))
                    want[payload[:4]] = hashlib.sha256(payload).digest()
                    s.sendall(payload)
                    s.shutdown(socket.SHUT_WR)
                    recv_all(s)
                    s.close()
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(repr(e))

            threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
            for t in threads:
                t.start()
            wait_for(lambda: "pipe page budget" in p.output(), 30,
                     what="the pipe budget to be reached and logged")
            release.set()
            for t in threads:
                t.join(120)
            wait_for(lambda: len(digests) == n, 60, what="every upstream to finish")
            check(not errors, "errors: %s" % errors[:3])
            bad = [k for k in want if digests.get(k) != want[k]]
            check(not bad, "%d of %d streams corrupted" % (len(bad), n))


def _listening(port):
    """Whether anything listens on 127.0.0.1:port, from /proc (no connection is made)."""
    want = ":%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1].endswith(want) and fields[3] == "0A":
                return True
    return False


def _kill_until_backoff(p, slots=1):
    """SIGKILLs the workers until the master puts a slot into crash backoff (5 deaths within
    10 s); returns once the log says so."""
    for _ in range(5):
        for victim in p.worker_pids()[:slots]:
            os.kill(victim, signal.SIGKILL)
            wait_for(lambda: victim not in p.worker_pids(), 2, what="worker %d to go" % victim)
        if "restarting in" in p.output():
            break
        wait_for(lambda: len(p.worker_pids()) == slots or "restarting in" in p.output(), 2,
                 what="the restart")
    check("restarting in" in p.output(), "a crash backoff:\n" + p.output()[-2000:])


def test_sigterm_while_the_only_worker_waits_out_its_crash_backoff():
    """A generation drained while its slot has no process (crash backoff) has no worker exit
    to wait for; the master must still exit, on SIGTERM as on SIGINT."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        with EchoServer() as up:
            port = free_port()
            with Proxy(simple_config(port, [up.port]), concurrency=1,
                       extra_args=("--drain-time-s", "2")) as p:
                _kill_until_backoff(p)
                check(p.stop(sig, timeout=5) == 0, "exit status after %s" % sig.name)


def test_admin_while_stopping_after_a_reload():
    """Generation 0 drains a held connection, generation 1 serves; SIGTERM makes generation 1
    exit and be freed while 0 still drains. The admin endpoint answers from a configuration
    that is still owned (it read generation 1's freed one; AddressSanitizer caught it)."""
    from test_admin import config as admin_config, get
    with EchoServer() as up:
        port, admin = free_port(), free_port()
        with Proxy(admin_config(port, [up.port], admin), concurrency=1,
                   extra_args=("--drain-time-s", "30")) as p:
            held = connect(port)
            held.sendall(b"a")
            check(held.recv(1) == b"a", "held connection echo")
            p.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "generation 1 serving" in p.output(), 10, what="generation 1")
            p.proc.send_signal(signal.SIGTERM)
            wait_for(lambda: "generation 1: all its workers have exited" in p.output(), 10,
                     what="generation 1 to be gone")
            for target in ("/server_info", "/clusters", "/ready"):
                status, _, body = get(admin, target)
                check(status in (200, 503), "%s answered %d" % (target, status))
            check(p.proc.poll() is None, "the master still drains generation 0")
            held.close()
            check(p.stop(signal.SIGINT) == 0, "exit status")


def _fifo_log_config(port, up_port, fifo):
    from test_access_log import file_log
    return simple_config(port, [up_port], proxy_extra=file_log(fifo))


def test_boot_fails_when_the_workers_never_get_ready():
    """A worker that blocks before it is ready (here opening an access log that is a FIFO
    nobody reads) must not leave the master up with no worker: exit 1 after the start
    timeout, as when a worker dies at boot."""
    fifo = run_path("fifo")
    os.mkfifo(fifo)
    try:
        with EchoServer() as up:
            port = free_port()
            with Proxy(_fifo_log_config(port, up.port, fifo), concurrency=1,
                       expect_start=False) as p:
                try:
                    p.proc.wait(30)
                except subprocess.TimeoutExpired:
                    raise AssertionError("still running 30 s after start:\n" + p.output())
                check(p.proc.returncode == 1, "exit status %s" % p.proc.returncode)
                check("did not get ready" in p.output(), "the cause is logged:\n" + p.output())
    finally:
        os.unlink(fifo)


def test_a_reload_asked_while_a_new_worker_dies_still_runs():
    """SIGHUPs that arrive while a generation starts are coalesced into one more reload; it
    must run when that generation fails because its worker died, not only when it times out
    or serves."""
    fifo = run_path("fifo")
    os.mkfifo(fifo)
    try:
        with EchoServer() as up:
            port = free_port()
            good = simple_config(port, [up.port])
            with Proxy(good, concurrency=1) as p:
                old = p.worker_pids()
                with open(p.config_path, "w") as f:
                    f.write(_fifo_log_config(port, up.port, fifo))
                p.proc.send_signal(signal.SIGHUP)
                wait_for(lambda: len(p.worker_pids()) == 2, 5, what="the new worker")
                starting = [w for w in p.worker_pids() if w not in old][0]
                p.proc.send_signal(signal.SIGHUP)  # pending: the new generation is starting
                p.master_barrier()  # the master has seen it while the generation starts
                with open(p.config_path, "w") as f:
                    f.write(good)
                os.kill(starting, signal.SIGKILL)
                # The failed generation's epoch is taken again by the next one.
                wait_for(lambda: "generation 1 serving" in p.output(), 10,
                         what="the pending reload to run")
                check(p.output().count("reload: reading") == 2, "two reloads:\n" + p.output())
                check(echo_roundtrip(port) == b"ping", "serving after the reload")
    finally:
        os.unlink(fifo)


BACKOFF = r"worker \d+/(\d+) .*; \d+ deaths in \d+ s, restarting in (\d+) ms"
AFTER_BACKOFF = r"worker \d+/(\d+): restarting after backoff"


def _log_events(p, pattern):
    """(time in seconds, match) for each line of the proxy's log whose message matches
    pattern, in order. Every line starts '[date time.ms][pid][level][role] '."""
    out = []
    for line in p.output().splitlines():
        m = re.match(r"\[([\d-]+ [\d:.]+)\]\[[^]]*\]\[[^]]*\]\[[^]]*\] (.*)", line)
        found = m and re.search(pattern, m.group(2))
        if found:
            t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            out.append((t, found))
    return out


def _serving_pid(p, slot):
    """The live worker of slot, from the 'serving' line each worker logs once ready."""
    for line in reversed(p.output().splitlines()):
        m = re.match(r"\[[^]]*\]\[(\d+)\]\[info\]\[worker \d+/(\d+)\] worker \d+ serving",
                     line)
        if m and int(m.group(2)) == slot:
            pid = int(m.group(1))
            return pid if _alive(pid) else None
    return None


def _kill_slot_into_backoff(p, slot):
    """SIGKILLs slot's worker, then each worker restarted in its place, until the master puts
    the slot in crash backoff (5 deaths within 10 s)."""
    backoffs = len(_log_events(p, BACKOFF))
    while len(_log_events(p, BACKOFF)) == backoffs:
        pid = wait_for(lambda: _serving_pid(p, slot), 5, what="slot %d's worker" % slot)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: len(_log_events(p, BACKOFF)) > backoffs or
                 _serving_pid(p, slot) not in (None, pid), 5, what="slot %d's restart" % slot)


def test_each_slot_waits_out_its_own_crash_backoff():
    """Two slots in crash backoff, the second some 500 ms after the first: each slot is restarted
    by its own timer, a whole backoff after its own death (the first timer used to restart every
    dead slot, and leave the other slot's timer to fire later on a generation a reload may have
    freed). Read from the master's log times, as lower bounds: a slow machine cannot fail it by
    being slow, where the ps snapshots this used to take could."""
    with EchoServer() as up:
        port = free_port()
        with Proxy(simple_config(port, [up.port]), concurrency=2) as p:
            for attempt in range(3):
                b0, r0 = len(_log_events(p, BACKOFF)), len(_log_events(p, AFTER_BACKOFF))
                _kill_slot_into_backoff(p, 0)
                time.sleep(0.5)  # not a wait: the second backoff is to start after the first
                _kill_slot_into_backoff(p, 1)
                wait_for(lambda: len(_log_events(p, AFTER_BACKOFF)) >= r0 + 2, 5,
                         what="both slots restarted after their backoff")
                bo = _log_events(p, BACKOFF)[b0:]
                ra = _log_events(p, AFTER_BACKOFF)[r0:]
                check([m.group(1) for _, m in bo] == ["0", "1"], "backoffs: %s" % bo)
                if bo[1][0] < ra[0][0]:
                    break  # both slots were waiting at once: the case under test
                # Slot 1 took over a backoff to get there; each slot now backs off at its next
                # death, so the next try is quicker.
            else:
                raise AssertionError("slot 1 never entered backoff while slot 0 waited:\n" +
                                     p.output()[-3000:])
            check([m.group(1) for _, m in ra[:2]] == ["0", "1"], "restarts: %s" % ra)
            for (t_bo, m_bo), (t_ra, _) in zip(bo, ra):
                waited = t_ra - t_bo
                check(waited >= int(m_bo.group(2)) / 1000 - 0.01,
                      "slot %s restarted %.3fs after its backoff began, before its own %s ms"
                      % (m_bo.group(1), waited, m_bo.group(2)))
            # Each slot's own timer restarted it, so none is left over to fire on a generation
            # the reload frees (instead of sleeping past where one would fire).
            p.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "generation 1 serving" in p.output(), 10, what="the reload")
            wait_for(lambda: "generation 0: all its workers have exited" in p.output(), 10,
                     what="generation 0 to be freed")
            check(p.proc.poll() is None, "the master is alive")
            check(echo_roundtrip(port) == b"ping", "serving")


def test_a_worker_stuck_before_its_loop_is_killed_after_sigterm():
    """A reload whose worker blocks before its loop runs (opening an access log that is a FIFO
    nobody reads) times out and gets SIGTERM, which that worker cannot act on; 5 s later it
    gets SIGKILL, and the master can still stop."""
    fifo = run_path("fifo")
    os.mkfifo(fifo)
    try:
        with EchoServer() as up:
            port = free_port()
            with Proxy(simple_config(port, [up.port]), concurrency=1) as p:
                with open(p.config_path, "w") as f:
                    f.write(_fifo_log_config(port, up.port, fifo))
                p.proc.send_signal(signal.SIGHUP)
                wait_for(lambda: "killing them" in p.output(), 25,
                         what="the stuck worker to be killed")
                wait_for(lambda: "generation 1: all its workers have exited" in p.output(), 5,
                         what="the abandoned generation to be gone")
                check(echo_roundtrip(port) == b"ping", "generation 0 still serves")
                check(p.stop(signal.SIGTERM, timeout=10) == 0, "exit status")
    finally:
        os.unlink(fifo)


class _Fifo:
    """A FIFO an access log points at: a worker opening it for writing blocks before its loop
    runs (so its generation stays starting) until open_reader() lets it through."""

    def __init__(self):
        self.path = "/tmp/tp-test-fifo.%d" % os.getpid()
        self.reader = None
        os.mkfifo(self.path)

    def open_reader(self):
        # Non-blocking, so this returns at once; a writer blocked in open(2) then goes on. The
        # reader stays open until the end, so later workers open it without blocking.
        self.reader = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.reader is not None:
            os.close(self.reader)
        os.unlink(self.path)


def _new_worker(p, old):
    wait_for(lambda: set(p.worker_pids()) - set(old), 5, what="a new worker")
    return (set(p.worker_pids()) - set(old)).pop()


def test_a_reload_asked_while_a_generation_starts_runs_once_it_serves():
    """SIGHUPs that arrive while a generation starts are coalesced into one more reload, which
    runs as soon as that generation serves."""
    with _Fifo() as fifo, EchoServer() as up:
        port = free_port()
        with Proxy(simple_config(port, [up.port]), concurrency=1) as p:
            old = p.worker_pids()
            with open(p.config_path, "w") as f:
                f.write(_fifo_log_config(port, up.port, fifo.path))
            p.proc.send_signal(signal.SIGHUP)
            _new_worker(p, old)  # generation 1, blocked opening the FIFO
            for _ in range(3):
                p.proc.send_signal(signal.SIGHUP)
            time.sleep(0.3)
            check(p.output().count("reload: reading") == 1, "the later SIGHUPs wait:\n" +
                  p.output())
            fifo.open_reader()
            wait_for(lambda: "generation 2 serving" in p.output(), 10,
                     what="the coalesced reload to run once generation 1 serves")
            check("generation 1 serving" in p.output(), "generation 1 served first")
            check(p.output().count("reload: reading") == 2, "three SIGHUPs made one reload:\n"
                  + p.output())
            check(p.stat("server.hot_restart_epoch") == 2, "epoch 2")
            check(p.stat("server.reload_failed") == 0, "no reload failed")
            check(echo_roundtrip(port) == b"ping", "serving")
            wait_for(lambda: len(p.worker_pids()) == 1, 10, what="the old generations to exit")
            check(p.stop(signal.SIGTERM) == 0, "exit status")


def test_sigterm_while_the_first_generation_starts():
    """SIGTERM at boot, before the workers are ready: they are told to close, the master exits
    0 once they are gone (not 1, as when a worker dies while starting), nothing is left."""
    with _Fifo() as fifo, EchoServer() as up:
        port = free_port()
        with Proxy(_fifo_log_config(port, up.port, fifo.path), concurrency=2,
                   expect_start=False) as p:
            wait_for(lambda: len(p.worker_pids()) == 2, 5, what="the workers")
            workers = p.worker_pids()
            p.proc.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            fifo.open_reader()  # the workers reach their loop and read the SIGTERM
            try:
                p.proc.wait(4)  # well before the 5 s kill deadline
            except subprocess.TimeoutExpired:
                raise AssertionError("still running 4 s after SIGTERM:\n" + p.output())
            check(p.proc.returncode == 0, "exit status %s:\n%s" % (p.proc.returncode,
                                                                    p.output()))
            for pid in workers:
                wait_for(lambda: not _alive(pid), 2, what="worker %d to exit" % pid)
            check("killing them" not in p.output(), "no SIGKILL was needed")


def test_sigterm_while_a_reload_starts():
    """SIGTERM while a new generation starts: the serving one drains, the starting one is told
    to close; the master exits 0 with no worker of either left behind."""
    with _Fifo() as fifo, EchoServer() as up:
        port = free_port()
        with Proxy(simple_config(port, [up.port]), concurrency=1,
                   extra_args=("--drain-time-s", "30")) as p:
            old = p.worker_pids()
            held = connect(port)
            held.sendall(b"a")
            check(held.recv(1) == b"a", "held connection echo")
            with open(p.config_path, "w") as f:
                f.write(_fifo_log_config(port, up.port, fifo.path))
            p.proc.send_signal(signal.SIGHUP)
            new = _new_worker(p, old)
            p.proc.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            fifo.open_reader()
            wait_for(lambda: not _alive(new), 4, what="the starting worker to close")
            check(p.proc.poll() is None, "the serving generation still drains its connection")
            held.sendall(b"b")
            check(held.recv(1) == b"b", "the draining connection is still served")
            held.close()
            try:
                p.proc.wait(5)
            except subprocess.TimeoutExpired:
                raise AssertionError("still running once drained:\n" + p.output())
            check(p.proc.returncode == 0, "exit status %s" % p.proc.returncode)
            for pid in old:
                wait_for(lambda: not _alive(pid), 2, what="worker %d to exit" % pid)


def test_repeated_sigint_does_not_postpone_the_kill_deadline():
    """A worker that cannot act on SIGTERM is killed 5 s after the first one. Each later SIGINT
    (or second SIGTERM) used to re-arm that deadline, so an operator pressing Ctrl-C every
    second kept a stuck worker, and the master, alive for as long as they pressed."""
    with _Fifo() as fifo, EchoServer() as up:
        port = free_port()
        with Proxy(_fifo_log_config(port, up.port, fifo.path), concurrency=1,
                   expect_start=False) as p:
            wait_for(lambda: len(p.worker_pids()) == 1, 5, what="the worker")
            t0 = time.monotonic()
            while p.proc.poll() is None and time.monotonic() - t0 < 9:
                p.proc.send_signal(signal.SIGINT)
                time.sleep(1)
            took = time.monotonic() - t0
            check(p.proc.poll() is not None, "still running %.1f s after the first SIGINT:\n%s"
                  % (took, p.output()))
            check(took < 7.5, "exited %.1f s after the first SIGINT, want about 5" % took)
            check(p.proc.returncode == 0, "exit status %s" % p.proc.returncode)
            check("killing them" in p.output(), "the stuck worker was killed")


def _lowest_free_fd(pid):
    used = {int(fd) for fd in os.listdir("/proc/%d/fd" % pid)}
    n = 0
    while n in used:
        n += 1
    return n


def test_a_restart_that_cannot_fork_is_tried_again():
    """A worker restart that fails (the master out of descriptors for the ready pipe here; a
    failed fork is the same path) is tried again after the backoff; it used to leave the slot
    empty for good, the listener served by nobody."""
    with EchoServer() as up:
        port = free_port()
        with Proxy(simple_config(port, [up.port]), concurrency=1) as p:
            (victim,) = p.worker_pids()
            master = str(p.proc.pid)
            soft = subprocess.run(["prlimit", "--pid", master, "--nofile", "--noheadings",
                                   "--output=SOFT"], capture_output=True, text=True).stdout
            # No descriptor below the limit is free: the next pipe2() fails with EMFILE.
            subprocess.run(["prlimit", "--pid", master,
                            "--nofile=%d:" % _lowest_free_fd(p.proc.pid)], check=True)
            os.kill(victim, signal.SIGKILL)
            wait_for(lambda: "Too many open files" in p.output(), 5,
                     what="the restart to fail:\n" + p.output())
            time.sleep(1.5)
            check(p.worker_pids() == [], "no worker while the master has no descriptor")
            subprocess.run(["prlimit", "--pid", master, "--nofile=%s:" % soft.strip()],
                           check=True)
            wait_for(lambda: len(p.worker_pids()) == 1 and p.workers_ready(2), 5,
                     what="the slot to be restarted once descriptors are back:\n"
                     + p.output()[-1500:])
            check(echo_roundtrip(port) == b"ping", "serving again")
            check(p.stop(signal.SIGTERM) == 0, "exit status")
