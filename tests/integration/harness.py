"""Integration test harness: starts the real build/tcpproxy against real servers on loopback.

Every test gets its own --base-id (so its own stats segment) and its own ports, and everything it
starts is stopped when it ends, pass or fail.

Nothing depends on where the checkout is or on the current directory: paths are taken from this
file's place, and every file a test writes (configs, logs, FIFOs, scratch) goes into one
directory made for the run (RUN_DIR) that any user can enter, since some tests run the proxy as
'nobody'. Those tests exec copies of the binaries kept there (user_binary()): the checkout itself
may sit where 'nobody' cannot enter, such as root's home or a 0700 mktemp -d folder.
"""
import atexit
import hashlib
import os
import re
import random
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("TP_BUILD", "build"))
TCPPROXY = os.path.join(BUILD, "tcpproxy")
STATDUMP = os.path.join(BUILD, "tests", "tp-statdump")
STAT = os.path.join(BUILD, "tcpproxy-stat")
LOAD = os.path.join(BUILD, "tests", "tp-load")


class Skip(Exception):
    """Raised by a test that cannot run here; run.py prints SKIP with the reason."""


def _enterable_by_all(path):
    """Whether every directory from / down to path lets any user through (o+x)."""
    path = os.path.realpath(path)
    while True:
        try:
            if not os.stat(path).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
        if path == "/":
            return True
        path = os.path.dirname(path)


def _make_run_dir():
    # $TMPDIR may be private to the user (a 0700 mktemp -d folder): then /tmp, which is not.
    for base in (tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"):
        if _enterable_by_all(base):
            break
    else:
        raise RuntimeError("no temporary directory that every user can enter")
    d = tempfile.mkdtemp(prefix="tp-test-", dir=base)
    os.chmod(d, 0o755)
    atexit.register(shutil.rmtree, d, True)
    return d


RUN_DIR = _make_run_dir()


def run_path(name):
    """A fresh path in RUN_DIR (nothing is created): name, made unique within the run."""
    fd, path = tempfile.mkstemp(prefix=name + ".", dir=RUN_DIR)
    os.close(fd)
    os.unlink(path)
    return path


def run_subdir(prefix, mode=0o755):
    """A new directory in RUN_DIR, removed with it at the end of the run."""
    d = tempfile.mkdtemp(prefix=prefix, dir=RUN_DIR)
    os.chmod(d, mode)
    return d


_user_binaries = {}


def user_binary(path):
    """A copy of the binary path that any user may execute, in RUN_DIR/bin: for processes run
    as another user, who may not be able to reach the checkout. Copied once per run."""
    if path not in _user_binaries:
        bindir = os.path.join(RUN_DIR, "bin")
        os.makedirs(bindir, mode=0o755, exist_ok=True)
        copy = os.path.join(bindir, os.path.basename(path))
        shutil.copy2(path, copy)
        os.chmod(copy, 0o755)
        _user_binaries[path] = copy
    return _user_binaries[path]


def as_user(pw):
    """preexec_fn that switches a child to the account pw (a pwd entry) before it execs."""
    def switch():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return switch


def nobody():
    """The pwd entry of 'nobody', for tests that run processes unprivileged; skips the test
    when that is impossible here."""
    import pwd
    if os.getuid() != 0:
        raise Skip("needs root to switch to 'nobody'")
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        raise Skip("no user 'nobody'")

# Each proxy gets its own --base-id (its own stats segment and socket). Start somewhere random
# and skip ids in use, so that two suites running at once on one machine do not collide.
_next_base_id = [int(os.environ.get("TP_BASE_ID_START", str(random.randrange(10000, 60000))))]


def default_stats_socket(base_id, uid=None):
    """Where a master run as uid puts its stats socket without --stats-socket
    (tp_stats_socket_default())."""
    uid = os.geteuid() if uid is None else uid
    d = "/run/tcpproxy" if uid == 0 else "/dev/shm/tcpproxy-%d" % uid
    return "%s/tcpproxy.%d.sock" % (d, base_id)


def _take_base_id():
    while True:
        b = _next_base_id[0]
        _next_base_id[0] += 1
        if not any(os.path.exists(p) for p in ("/dev/shm/tcpproxy.%d.stats" % b,
                                               default_stats_socket(b))):
            return b


class TestFailure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


_handed_out = set()
_reserved = []


def free_port(family=socket.AF_INET):
    """A loopback port for a proxy to listen on, or for an upstream that refuses connections.

    The port stays reserved until the test ends (release_ports()): a socket is kept bound to it
    with SO_REUSEADDR and never listens. Binding port 0 and closing at once, as this used to,
    left the number free for anyone until the proxy bound it: another process, or an outgoing
    connection's ephemeral port, could take it first. Held this way, no one else is given the
    port (bind(0) and connect() skip bound ports, an explicit bind without SO_REUSEADDR fails),
    a connection to it is refused, and the proxy, whose listeners and admin socket set
    SO_REUSEADDR, can still bind it and listen: Linux lets SO_REUSEADDR sockets share an
    address as long as the others do not listen. Never the same port twice in one run."""
    while True:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            _reserved.append(s)
            return port
        s.close()


def release_ports():
    """Ends the reservations free_port() made; run.py calls it after each test."""
    while _reserved:
        _reserved.pop().close()


def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise TestFailure("timed out after %.1fs waiting for %s" % (timeout, what))


def connect(port, host="127.0.0.1", timeout=10.0):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def recv_all(s, limit=1 << 30):
    """Reads until EOF; returns the bytes."""
    out = bytearray()
    while len(out) < limit:
        b = s.recv(1 << 20)
        if not b:
            break
        out += b
    return bytes(out)


def _serve(handler, errors, c):
    """Runs handler(c) for a server's connection, records its exception, closes c."""
    try:
        handler(c)
    except Exception as e:  # recorded; the test decides whether it matters
        errors.append(e)
    finally:
        try:
            c.close()
        except OSError:
            pass


class Server:
    """A TCP server on loopback running handler(conn) in a thread per connection."""

    def __init__(self, handler, host="127.0.0.1", port=0, backlog=1024, rcvbuf=0):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:  # inherited by accepted sockets; small, it makes a slow receiver
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind((host, port))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.accepted = 0
        self.conns = []
        self.errors = []
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                self.conns.append(c)
            if self.handler:
                threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        _serve(self.handler, self.errors, c)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass


def echo_handler(c):
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        c.sendall(b)
    c.shutdown(socket.SHUT_WR)


class Proxy:
    """The real tcpproxy binary on a config written from a template."""

    def __init__(self, config, concurrency=2, extra_args=(), expect_start=True, user=None,
                 wrap=(), env=None):
        """user: a pwd entry to run the whole proxy as (a copy of the binary, see
        user_binary()); by default it runs as the test runner. env: variables added to the
        environment it runs with (NOTIFY_SOCKET)."""
        self.base_id = _take_base_id()
        fd, self.config_path = tempfile.mkstemp(suffix=".yaml", prefix="proxy.", dir=RUN_DIR)
        with os.fdopen(fd, "w") as f:
            f.write(config)
        os.chmod(self.config_path, 0o644)  # readable by a proxy run as another user
        self.log_path = self.config_path + ".log"
        self.log = open(self.log_path, "w+")
        binary = user_binary(TCPPROXY) if user else TCPPROXY
        args = list(wrap) + [binary, "-c", self.config_path, "--concurrency", str(concurrency),
                "--base-id", str(self.base_id)] + list(extra_args)
        self.stats_name = "/tcpproxy.%d.stats" % self.base_id
        # The default, as the master puts it for the user it runs as.
        self.stats_socket = default_stats_socket(self.base_id, user.pw_uid if user else None)
        self.proc = None
        try:
            # cwd: nothing may depend on the caller's directory, which another user may not
            # be able to enter.
            self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                         preexec_fn=as_user(user) if user else None,
                                         cwd=RUN_DIR,
                                         env=dict(os.environ, **env) if env else None)
            if expect_start:
                wait_for(lambda: self.workers_ready(concurrency) or self._died(),
                         what="tcpproxy workers to start")
                check(self.proc.poll() is None, "tcpproxy exited at start:\n" + self.output())
                # No probe connection: it would be proxied and disturb the test's upstream.
                # The master binds and listens before forking, so connections queue until
                # accepted.
        except BaseException:
            # No with-block will run __exit__: stop what was started and remove its files.
            self.cleanup()
            raise

    def _died(self):
        return self.proc.poll() is not None

    def output(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def worker_pids(self):
        try:
            out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)],
                                 capture_output=True, text=True).stdout
        except OSError:
            return []
        return [int(x) for x in out.split()]

    def workers_ready(self, n):
        # A worker logs once its ring is up and its accepts are armed ("worker N serving M
        # listener(s)"); the master's "admin: serving ..." line must not count as one.
        return len(re.findall(r"\] worker \d+ serving ", self.output())) >= n

    def stats(self):
        """name -> value, summed over every worker (via tests/tools/tp-statdump)."""
        r = subprocess.run([STATDUMP, self.stats_name], capture_output=True, text=True)
        check(r.returncode == 0, "tp-statdump failed: " + r.stdout + r.stderr)
        out = {}
        for line in r.stdout.splitlines():
            name, _, value = line.rpartition(": ")
            if name:
                try:
                    out[name] = int(value)
                except ValueError:
                    out[name] = value
        return out

    def stat(self, name):
        return self.stats().get(name, 0)

    def statcli(self, *args, timeout=30, user=None):
        """Runs build/tcpproxy-stat for this proxy's --base-id (as user, a pwd entry, if
        given); returns the CompletedProcess."""
        binary = user_binary(STAT) if user else STAT
        return subprocess.run([binary, "--base-id", str(self.base_id)] + list(args),
                              capture_output=True, text=True, timeout=timeout,
                              preexec_fn=as_user(user) if user else None, cwd=RUN_DIR)

    def master_barrier(self):
        """Returns once the master has acted on every signal sent to it before the call. It
        reads signals from a signalfd in the poll() loop that serves the stats socket: the loop
        turn that accepts this request saw the signals already pending, and handled them."""
        r = self.statcli("--filter", r"^server\.live$")
        check(r.returncode == 0, "tcpproxy-stat: %s" % r.stderr)

    def wait_stat(self, name, value, timeout=10.0):
        wait_for(lambda: self.stat(name) == value, timeout,
                 what="%s == %s (is %s)" % (name, value, self.stat(name)))

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stops the proxy; returns its exit status. Checks no worker is left behind."""
        if self.proc.poll() is None:
            workers = self.worker_pids()
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise TestFailure("tcpproxy did not stop within %.0fs" % timeout)
            for pid in workers:
                wait_for(lambda: not _alive(pid), 5, what="worker %d to exit" % pid)
        self.log.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            # Gracefully, so that the master's LeakSanitizer gets to run in sanitized builds.
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        out = _read(self.log_path)
        self.cleanup()
        if exc[0] is not None and exc[0] is not Skip:
            # The proxy's side of a failure, before its log is removed.
            print("---- tcpproxy log (last 40 lines) ----\n%s\n----" %
                  "\n".join(out.splitlines()[-40:]), flush=True)
        # A sanitizer report or one of our BUG_ONs in any process fails the test even when the
        # master restarted the worker and the client saw nothing.
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "BUG at "):
            if marker in out and exc[0] is None:
                raise TestFailure("tcpproxy reported %r:\n%s" % (marker, out[-4000:]))

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()
        for p in (self.config_path, self.log_path, "/dev/shm" + self.stats_name,
                  self.stats_socket):
            try:
                os.unlink(p)
            except OSError:
                pass


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _can_connect(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        s.close()
        return True
    except OSError:
        return False


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def thread_count(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def pipe_count(pid):
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("pipe:"):
                n += 1
        except OSError:
            pass
    return n


def stream_bytes(seed, total, chunk=1 << 20):
    """Deterministic pseudo-random data, chunk by chunk."""
    rnd = random.Random(seed)
    left = total
    while left:
        n = min(chunk, left)
        yield rnd.randbytes(n)
        left -= n


def digest_of(seed, total):
    h = hashlib.sha256()
    for b in stream_bytes(seed, total):
        h.update(b)
    return h.hexdigest()


def cluster_yaml(name, ports, connect_timeout="5s", lb="ROUND_ROBIN", extra=""):
    eps = "".join("""
          - endpoint:
              address:
                socket_address: {address: 127.0.0.1, port_value: %d}""" % p for p in ports)
    return """
  - name: %s
    type: STATIC
    connect_timeout: %s
    lb_policy: %s%s
    load_assignment:
      cluster_name: %s
      endpoints:
      - lb_endpoints:%s
""" % (name, connect_timeout, lb, extra, name, eps)


def listener_yaml(name, port, cluster, stat_prefix="test", proxy_extra="", address="127.0.0.1",
                  extra=""):
    return """
  - name: %s
    address:
      socket_address: {address: "%s", port_value: %d}%s
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: %s
          cluster: %s%s
""" % (name, address, port, extra, stat_prefix, cluster, proxy_extra)


def bootstrap(listeners, clusters):
    return "static_resources:\n  listeners:" + "".join(listeners) + "  clusters:" + "".join(clusters)


class EchoServer:
    """A single-threaded echo server (selectors) that scales to thousands of connections.
    Echoes what it reads; on EOF it half-closes back. Counts accepted connections."""

    def __init__(self, host="127.0.0.1"):
        import selectors
        self.sel = selectors.DefaultSelector()
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(4096)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.open = 0
        self.rpipe, self.wpipe = os.pipe()
        self.sel.register(self.sock, 1, "accept")
        self.sel.register(self.rpipe, 1, "stop")
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        import selectors
        pending = {}
        while True:
            for key, ev in self.sel.select():
                if key.data == "stop":
                    for c in list(pending):
                        c.close()
                    return
                if key.data == "accept":
                    while True:
                        try:
                            c, _ = self.sock.accept()
                        except BlockingIOError:
                            break
                        c.setblocking(False)
                        self.accepted += 1
                        self.open += 1
                        pending[c] = b""
                        self.sel.register(c, selectors.EVENT_READ, "conn")
                    continue
                c = key.fileobj
                try:
                    if ev & selectors.EVENT_READ:
                        b = c.recv(1 << 16)
                        if not b:
                            if pending[c]:
                                c.setblocking(True)
                                c.sendall(pending[c])
                                c.setblocking(False)
                            c.shutdown(socket.SHUT_WR)
                            self.sel.unregister(c)
                            del pending[c]
                            c.close()
                            self.open -= 1
                            continue
                        pending[c] += b
                    if pending[c]:
                        n = c.send(pending[c])
                        pending[c] = pending[c][n:]
                    self.sel.modify(c, selectors.EVENT_READ | (
                        selectors.EVENT_WRITE if pending[c] else 0), "conn")
                except (ConnectionError, OSError):
                    self.sel.unregister(c)
                    del pending[c]
                    c.close()
                    self.open -= 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        os.write(self.wpipe, b"x")
        self.thread.join(5)
        self.sock.close()
        os.close(self.rpipe)
        os.close(self.wpipe)


def echo_roundtrip(port, payload=b"ping", host="127.0.0.1"):
    """Connects through the proxy, sends payload, half-closes, returns everything echoed."""
    s = connect(port, host)
    try:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        return recv_all(s)
    finally:
        s.close()


def blackhole_port():
    """A port whose SYNs are dropped: a listener with backlog 0 whose accept queue is full, so
    a connect to it never completes (used for connect timeouts; traffic stays on loopback)."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind(("127.0.0.1", 0))
    ls.listen(0)
    fillers = []
    for _ in range(3):
        f = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        f.setblocking(False)
        try:
            f.connect(("127.0.0.1", ls.getsockname()[1]))
        except BlockingIOError:
            pass
        fillers.append(f)
    wait_for(lambda: _accept_queue(ls.getsockname()[1]) >= 1, 5,
             what="the blackhole's accept queue to fill")
    return ls, fillers


def _accept_queue(port):
    """Connections waiting in the accept queue of the IPv4 listener on port (/proc/net/tcp
    gives it as a listening socket's rx_queue)."""
    want = ":%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1].endswith(want) and fields[3] == "0A":
                return int(fields[4].split(":")[1], 16)
    return 0


class SlowUpstream:
    """An upstream that accepts late: until release(), its accept queue is full, so a connect
    to it waits in SYN retransmission (the kernel drops the SYNs); after release() the next
    retransmission (about 1 s after the first SYN) gets through and handler(conn) serves each
    connection in a thread. The fillers that held the queue are told apart by their ports."""

    def __init__(self, handler):
        self.ls, self.fillers = blackhole_port()
        self.port = self.ls.getsockname()[1]
        self.filler_ports = set()
        for f in self.fillers:
            try:
                self.filler_ports.add(f.getsockname()[1])
            except OSError:
                pass
        self.handler = handler
        self.accepted = 0
        self.conns = []
        self.errors = []
        self.thread = None

    def release(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.ls.settimeout(None)
        while True:
            try:
                c, peer = self.ls.accept()
            except OSError:
                return
            if peer[1] in self.filler_ports:
                c.close()
                continue
            self.accepted += 1
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        _serve(self.handler, self.errors, c)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for f in self.fillers:
            f.close()
        try:
            self.ls.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.ls.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def read_lines(path):
    """The complete lines of a file (a last line without its newline is left out)."""
    try:
        with open(path, "rb") as f:
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return data.split("\n")[:-1]


def wait_lines(path, n, timeout=10.0):
    """Waits until path holds at least n complete lines; returns them."""
    return wait_for(lambda: len(read_lines(path)) >= n and read_lines(path), timeout,
                    what="%d line(s) in %s (have %d)" % (n, path, len(read_lines(path))))


class LoadEcho:
    """tests/tools/tp-load's C echo server: fast enough that the proxy, not the peer, sets the
    pace. It takes a port the kernel picks (no free_port race) and reports it."""

    def __init__(self):
        self.proc = subprocess.Popen([LOAD, "echo", "0"], stdout=subprocess.PIPE, text=True,
                                     cwd=RUN_DIR)
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            self.close()
            raise TestFailure("tp-load echo did not start: %r" % line)
        self.port = int(line.split()[1])

    def alive(self):
        return self.proc.poll() is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def load_client(port, seconds, threads=4, nbytes=1000):
    """Starts tp-load client; returns the Popen (stdout: 'connections N failed M bytes B')."""
    return subprocess.Popen([LOAD, "client", str(port), str(seconds), str(threads), str(nbytes)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=RUN_DIR)


def load_result(proc, timeout=120):
    """(connections, failed, bytes, stderr) of a load_client() once it has finished."""
    out, err = proc.communicate(timeout=timeout)
    f = out.split()
    check(len(f) == 6, "tp-load output: %r %r" % (out, err))
    return int(f[1]), int(f[3]), int(f[5]), err
