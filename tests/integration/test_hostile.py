"""Hostile peers and careless operators (issue 11): what a probe broke once, kept fixed.

Every test here is bounded in time and uses loopback only."""
import os
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
