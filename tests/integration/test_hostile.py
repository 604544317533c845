"""Hostile peers and careless operators (issue 11): what a probe broke once, kept fixed.

Every test here is bounded in time and uses loopback only."""
import os
import socket
import signal
import time

from harness import (EchoServer, Proxy, Skip, _alive, check, echo_roundtrip, free_port,
                     wait_for)
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
