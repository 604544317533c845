"""The test tools themselves: free_port's reservation, and tp-load's echo server against clients
that reset (it used to die of SIGPIPE, and every later test saw a dead upstream)."""
import errno
import os
import signal
import socket
import struct

from harness import (LoadEcho, Proxy, check, connect, echo_roundtrip, free_port, load_client,
                     load_result, recv_all)
from test_relay import simple_config

LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a RST


def test_free_port_stays_reserved_and_the_proxy_still_binds_it():
    port = free_port()
    other = socket.socket()
    try:
        other.bind(("127.0.0.1", port))
        raise AssertionError("another socket could bind reserved port %d" % port)
    except OSError as e:
        check(e.errno == errno.EADDRINUSE, "bind: %s" % e)
    finally:
        other.close()
    try:
        connect(port, timeout=2).close()
        raise AssertionError("a reserved port accepted a connection")
    except ConnectionRefusedError:
        pass
    with LoadEcho() as up, Proxy(simple_config(port, [up.port])):
        check(echo_roundtrip(port) == b"ping", "the proxy listens on the reserved port")


def _send_then_reset(port, most=1 << 20):
    """Connects, queues as much as the socket takes without blocking (up to most bytes), then
    closes with a RST. Returns the bytes queued (less if the peer closed first)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setblocking(False)
    chunk = b"r" * 65536
    sent = 0
    try:
        while sent < most:
            sent += s.send(chunk)
    except (BlockingIOError, BrokenPipeError, ConnectionResetError):
        pass  # full; or closed by a proxy whose upstream died: the caller finds out
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
    s.close()
    return sent


def test_tp_load_echo_survives_clients_that_reset():
    """The echo server is stopped while clients queue more than one read's worth each and reset:
    when it resumes, it reads their bytes, and its writes back meet the resets (ECONNRESET, then
    EPIPE, which raised SIGPIPE and killed it). Each reset must end only its own connection."""
    with LoadEcho() as up:
        os.kill(up.proc.pid, signal.SIGSTOP)
        try:
            queued = [_send_then_reset(up.port) for _ in range(8)]
        finally:
            os.kill(up.proc.pid, signal.SIGCONT)
        check(min(queued) > 65536, "each client queued more than one read: %s" % queued)
        # Served after the resets: a connection opened now is answered only once the echo
        # server has been through the reset ones, which it accepted first.
        s = connect(up.port)
        s.sendall(b"after the resets")
        s.shutdown(socket.SHUT_WR)
        check(recv_all(s) == b"after the resets", "echo after the resets")
        s.close()
        check(up.alive(), "tp-load echo exited with %s" % up.proc.returncode)
        ok, failed, _, err = load_result(load_client(up.port, 1, threads=2))
        check(failed == 0 and ok > 0, "tp-load client afterwards: %d ok, %d failed: %s"
              % (ok, failed, err))


def test_tp_load_echo_behind_the_proxy_survives_a_reset_storm():
    """Clients that reset mid-stream through the proxy: the proxy closes the upstream sides while
    the echo server still writes to them. Afterwards the echo server and the proxy serve a full
    load run without a failure."""
    with LoadEcho() as up:
        port = free_port()
        with Proxy(simple_config(port, [up.port])) as p:
            for _ in range(50):
                _send_then_reset(port, 256 * 1024)
            p.wait_stat("listener.127.0.0.1_%d.downstream_cx_active" % port, 0)
            check(up.alive(), "tp-load echo exited with %s" % up.proc.returncode)
            ok, failed, _, err = load_result(load_client(port, 1, threads=2))
            check(failed == 0 and ok > 0, "load through the proxy afterwards: %d ok, %d failed:"
                  " %s" % (ok, failed, err))
            check(up.alive(), "tp-load echo still running")
