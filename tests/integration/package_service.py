#!/usr/bin/env python3
"""Runs the installed package's service as systemd would start it, without systemd (the test
machine has none as PID 1): run by test_package.py inside `unshare -n -m`, so that the packaged
configuration's fixed ports (10000, 10001, 9901) are this network namespace's own, and
/run/tcpproxy is a tmpfs of this mount namespace only.

From the installed unit it takes User= and Group= (none: the master runs as root),
CapabilityBoundingSet=, NoNewPrivileges=, ExecStartPre=, ExecStart= (whose --user and --group
the workers run as), ExecReload= and RuntimeDirectory=; it starts the packaged binary with the
packaged configuration and a NOTIFY_SOCKET, checks the master is root and every worker the
service user, that the service user reads stats but cannot change the server or open the stats
segment, reloads it with the unit's ExecReload lines, rotates its access log with the packaged
logrotate snippet, and stops it. Exits 0 when all went as it should; prints what did not
otherwise."""
import os
import pwd
import shlex
import socket
import subprocess
import sys
import threading
import time

UNIT = "/lib/systemd/system/tcpproxy.service"
LOGROTATE = "/etc/logrotate.d/tcpproxy"
ACCESS_LOG = "/var/log/tcpproxy/access.log"


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def wait_for(pred, what, timeout=15):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    fail("timed out waiting for " + what)


def unit_service():
    out = {}
    section = None
    for line in open(UNIT):
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out.setdefault(k, []).append(v)
    return out


SHIM_LOG = "/tmp/tcpproxy-systemctl-%d.log" % os.getpid()


def systemctl_shim(main_pid):
    """A directory with a systemctl that does what `systemctl kill --kill-whom=main
    --signal=SIGUSR1 tcpproxy.service` does (signal the unit's main process) and logs how it
    was called: there is no systemd as PID 1 here."""
    d = "/tmp/tcpproxy-shim-%d" % os.getpid()
    os.makedirs(d, exist_ok=True)
    with open(d + "/systemctl", "w") as f:
        f.write('#!/bin/sh\necho "$*" >> %s\n'
                '[ "$*" = "kill --kill-whom=main --signal=SIGUSR1 tcpproxy.service" ] || exit 1\n'
                'exec kill -USR1 %d\n' % (SHIM_LOG, main_pid))
    os.chmod(d + "/systemctl", 0o755)
    return d


def echo_server(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)

    def serve(c):
        with c:
            while True:
                d = c.recv(65536)
                if not d:
                    return
                c.sendall(d)

    def run():
        while True:
            c, _ = s.accept()
            threading.Thread(target=serve, args=(c,), daemon=True).start()
    threading.Thread(target=run, daemon=True).start()


def roundtrip(payload):
    c = socket.create_connection(("127.0.0.1", 10000), timeout=10)
    c.sendall(payload)
    c.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        got += d
    c.close()
    return got


def flag(argv, name):
    return argv[argv.index(name) + 1] if name in argv else None


def uids(pid):
    st = open("/proc/%d/status" % pid).read()
    return [l for l in st.splitlines() if l.startswith("Uid:")][0].split()[1:]


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(x) for x in f.read().split()]


def main():
    svc = unit_service()
    start = shlex.split(svc["ExecStart"][0])
    # The unit's own user (none: root) and the workers' (--user, --group).
    unit_user = svc.get("User", ["root"])[0]
    unit_pw = pwd.getpwnam(unit_user)
    user = flag(start, "--user")
    if not user:
        fail("ExecStart has no --user: the workers would run as the master's account")
    group = flag(start, "--group") or user
    pw = pwd.getpwnam(user)
    run_dir = "/run/" + svc["RuntimeDirectory"][0]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # RuntimeDirectory=: a directory of the unit's user, here a tmpfs of our own.
    os.makedirs(run_dir, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o",
                    "mode=%s,uid=%d,gid=%d" % (svc.get("RuntimeDirectoryMode", ["0755"])[0],
                                               unit_pw.pw_uid, unit_pw.pw_gid),
                    "tmpfs", run_dir], check=True)
    as_service = ["setpriv"]
    if svc.get("NoNewPrivileges", ["no"])[0] == "yes":
        as_service += ["--no-new-privs"]
    bounding = " ".join(svc.get("CapabilityBoundingSet", [])).lower().replace("cap_", "").split()
    if bounding:
        as_service += ["--bounding-set", "-all," + ",".join("+" + c for c in bounding)]
    if unit_user != "root":
        as_service += ["--reuid", unit_user, "--regid", svc.get("Group", [unit_user])[0],
                       "--init-groups"]
    as_user = ["setpriv", "--reuid", user, "--regid", group, "--init-groups"]
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind("\0tp-package-notify-%d" % os.getpid())
    notify.settimeout(15)
    msgs = []

    def expect(key):
        while True:
            try:
                m = notify.recv(4096).decode()
            except socket.timeout:
                fail("no %s from the service; got %s" % (key, msgs))
            msgs.append(m)
            if key in m.split("\n"):
                return m

    env = dict(os.environ, NOTIFY_SOCKET="@tp-package-notify-%d" % os.getpid())
    echo_server(10001)
    for line in svc.get("ExecStartPre", []):
        r = subprocess.run(as_service + shlex.split(line), capture_output=True, text=True)
        if r.returncode:
            fail("ExecStartPre %s: %s" % (line, r.stderr))
    # A local user (the service account here) takes the segment's name first: the master,
    # root within the unit's capabilities, removes it and starts all the same.
    seg = "/dev/shm/tcpproxy.0.stats"
    r = subprocess.run(as_user + ["python3", "-c", "open(%r, 'w').close()" % seg],
                       capture_output=True, text=True, timeout=10)
    if r.returncode:
        fail("could not take %s first: %r" % (seg, r))
    log = open("/tmp/tcpproxy-package-%d.log" % os.getpid(), "w+")
    master = subprocess.Popen(as_service + start, stdout=log, stderr=subprocess.STDOUT,
                              env=env)
    try:
        expect("READY=1")
        log.seek(0)
        if "%s was taken by uid %d (%s)" % (seg, pw.pw_uid, user) not in log.read():
            fail("no warning about the squatted segment name")
        if uids(master.pid) != [str(unit_pw.pw_uid)] * 4:
            fail("the master does not run as %s: %s" % (unit_user, uids(master.pid)))
        workers = children(master.pid)
        if not workers or any(uids(w) != [str(pw.pw_uid)] * 4 for w in workers):
            fail("the workers do not all run as %s: %s"
                 % (user, [(w, uids(w)) for w in workers]))
        if roundtrip(b"through the package") != b"through the package":
            fail("no echo through the packaged config")
        # The stats socket where the unit puts it, found by the installed tcpproxy-stat as root
        # and as the workers' user, who may read but not change the server.
        stat_cmd = ["/usr/bin/tcpproxy-stat", "--filter", r"^tcp\.main\.downstream_cx_total$"]
        for who in ([], as_user):
            r = subprocess.run(who + stat_cmd, capture_output=True, text=True, timeout=10)
            if r.returncode or r.stdout != "tcp.main.downstream_cx_total: 1\n":
                fail("tcpproxy-stat %s: %r" % ("as " + user if who else "as root", r))
        r = subprocess.run(as_user + ["/usr/bin/tcpproxy-stat", "--post", "/healthcheck/fail"],
                           capture_output=True, text=True, timeout=10)
        if r.returncode == 0 or "403" not in r.stderr:
            fail("the workers' user changed the server: %r" % (r,))
        # Nor can a process of the workers' account open the master's segment (to shrink it
        # under the master's mapping: SIGBUS).
        r = subprocess.run(as_user + ["python3", "-c", "import os; os.open(%r, os.O_RDWR)" % seg],
                           capture_output=True, text=True, timeout=10)
        if not os.path.exists(seg) or r.returncode == 0 or "PermissionError" not in r.stderr:
            fail("the segment %s: a process of %s: %r" % (seg, user, r))
        wait_for(lambda: os.path.exists(ACCESS_LOG) and
                 open(ACCESS_LOG).read().count("\n") == 1, "the first access log entry")
        # systemctl reload: the unit's ExecReload lines, $MAINPID the master.
        for line in svc["ExecReload"]:
            cmd = shlex.split(line.replace("$MAINPID", str(master.pid)))
            r = subprocess.run(cmd if cmd[0].endswith("kill") else as_service + cmd,
                               capture_output=True, text=True)
            if r.returncode:
                fail("ExecReload %s: %s" % (line, r.stderr))
        expect("RELOADING=1")
        ready = expect("READY=1")
        if "generation 1" not in ready:
            fail("after the reload: %r" % ready)
        if roundtrip(b"after the reload") != b"after the reload":
            fail("no echo after the reload")
        wait_for(lambda: open(ACCESS_LOG).read().count("\n") == 2, "the second entry")
        # logrotate with the packaged snippet; its postrotate asks systemd to signal the
        # unit's main process, played here by a systemctl on PATH that signals the master.
        state = "/tmp/tcpproxy-logrotate-%d.state" % os.getpid()
        r = subprocess.run(["logrotate", "-f", "-s", state, LOGROTATE], capture_output=True,
                           text=True, env=dict(os.environ, PATH=systemctl_shim(master.pid)
                                               + ":" + os.environ["PATH"]))
        if r.returncode:
            fail("logrotate: %s %s" % (r.stdout, r.stderr))
        os.unlink(state)
        if open(SHIM_LOG).read() != "kill --kill-whom=main --signal=SIGUSR1 tcpproxy.service\n":
            fail("the postrotate ran systemctl %r" % open(SHIM_LOG).read())
        if open(ACCESS_LOG + ".1").read().count("\n") != 2:
            fail("rotated file: %r" % open(ACCESS_LOG + ".1").read())
        if roundtrip(b"after rotation") != b"after rotation":
            fail("no echo after rotation")
        wait_for(lambda: os.path.exists(ACCESS_LOG) and
                 open(ACCESS_LOG).read().count("\n") == 1, "the entry in the new file")
        if open(ACCESS_LOG + ".1").read().count("\n") != 2:
            fail("an entry went to the rotated file")
        master.send_signal(15)
        expect("STOPPING=1")
        if master.wait(30) != 0:
            fail("exit status %d" % master.returncode)
        if os.path.exists(run_dir + "/tcpproxy.pid"):
            fail("the pid file stayed")
    except SystemExit:
        log.seek(0)
        print("---- service log ----\n" + log.read()[-3000:])
        raise
    finally:
        if master.poll() is None:
            master.kill()
            master.wait()
        for p in (ACCESS_LOG, ACCESS_LOG + ".1", SHIM_LOG,
                  "/tmp/tcpproxy-shim-%d/systemctl" % os.getpid()):
            try:
                os.unlink(p)
            except OSError:
                pass
        os.unlink(log.name)
        try:
            os.rmdir("/tmp/tcpproxy-shim-%d" % os.getpid())
        except OSError:
            pass
    print("ok: ready, master as %s, workers as %s, reloaded, rotated, stopped; notify: %d "
          "messages" % (unit_user, user, len(msgs)))


if __name__ == "__main__":
    main()
