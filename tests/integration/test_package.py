"""Install and service (issue 17): the man pages render and cover every flag, make install
lays out what it should under DESTDIR and PREFIX, and the Debian package builds with Debian's
tools, passes lintian, installs (its user, its conffile), its unit passes systemd-analyze
verify, and its service runs as its user, reloads and rotates its log (package_service.py)."""
import os
import re
import subprocess
import tempfile

from harness import BUILD, ROOT, RUN_DIR, Skip, check

MAKE_ENV = dict(os.environ, MAKEFLAGS="")


def make(*args, timeout=600):
    return subprocess.run(["make", "--no-print-directory", "BUILD=" + BUILD] + list(args),
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=MAKE_ENV)


def long_options(cmd):
    with open(os.path.join(ROOT, "cmd", cmd + ".c")) as f:
        return re.findall(r'\{"([a-z-]+)",\s*(?:no|required|optional)_argument', f.read())


def test_man_pages_render_and_cover_every_flag_signal_and_exit_code():
    r = make("man")
    check(r.returncode == 0, "make man: %s" % r.stderr)
    for cmd, page, sections in (
            ("tcpproxy", "tcpproxy.8", ("SIGNALS", "EXIT STATUS", "ENVIRONMENT", "FILES",
                                        "ADMIN ENDPOINT")),
            ("tcpproxy-stat", "tcpproxy-stat.1", ("EXIT STATUS", "FILES", "ENVIRONMENT"))):
        r = subprocess.run(["man", "-l", os.path.join(BUILD, "man", page)], capture_output=True,
                           text=True, env=dict(os.environ, MANWIDTH="100", MANPAGER="cat",
                                               PAGER="cat"), timeout=30)
        check(r.returncode == 0 and not r.stderr.strip(), "man -l %s: %s" % (page, r.stderr))
        text = r.stdout
        for s in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS") + sections:
            check(re.search(r"^%s$" % s, text, re.M), "%s lacks %s" % (page, s))
        for opt in long_options(cmd):
            check("--" + opt in text, "%s does not document --%s" % (page, opt))
    text = subprocess.run(["man", "-l", os.path.join(BUILD, "man", "tcpproxy.8")],
                          capture_output=True, text=True, env=dict(os.environ, MANWIDTH="100",
                                                                   MANPAGER="cat")).stdout
    for sig in ("SIGHUP", "SIGTERM", "SIGINT", "SIGUSR1"):
        check(sig in text, "tcpproxy.8 lacks " + sig)
    for var in ("NOTIFY_SOCKET", "WATCHDOG_USEC"):
        check(var in text, "tcpproxy.8 lacks " + var)


def test_make_install_honours_prefix_and_destdir():
    dest = tempfile.mkdtemp(prefix="destdir.", dir=RUN_DIR)
    r = make("install", "DESTDIR=" + dest)
    check(r.returncode == 0, "make install: %s %s" % (r.stdout, r.stderr))
    for path in ("usr/local/sbin/tcpproxy", "usr/local/bin/tcpproxy-stat",
                 "usr/local/share/man/man8/tcpproxy.8", "usr/local/share/man/man1/tcpproxy-stat.1",
                 "usr/local/etc/tcpproxy/tcpproxy.yaml", "usr/local/etc/logrotate.d/tcpproxy",
                 "usr/local/lib/systemd/system/tcpproxy.service"):
        check(os.path.isfile(os.path.join(dest, path)), "missing " + path)
    unit = open(os.path.join(dest, "usr/local/lib/systemd/system/tcpproxy.service")).read()
    check("ExecStart=/usr/local/sbin/tcpproxy -c /usr/local/etc/tcpproxy/tcpproxy.yaml" in unit
          and "@" not in unit.replace("@SBINDIR@", "x").split("[Unit]")[1].split("#")[0],
          "unit paths: %s" % unit)
    # A distribution's layout: /usr, /etc, /lib/systemd/system. An existing configuration is
    # left alone.
    dest2 = tempfile.mkdtemp(prefix="destdir.", dir=RUN_DIR)
    os.makedirs(os.path.join(dest2, "etc/tcpproxy"))
    with open(os.path.join(dest2, "etc/tcpproxy/tcpproxy.yaml"), "w") as f:
        f.write("# mine\n")
    r = make("install", "DESTDIR=" + dest2, "PREFIX=/usr")
    check(r.returncode == 0, "make install PREFIX=/usr: %s" % r.stderr)
    for path in ("usr/sbin/tcpproxy", "lib/systemd/system/tcpproxy.service",
                 "etc/logrotate.d/tcpproxy", "usr/share/man/man8/tcpproxy.8"):
        check(os.path.isfile(os.path.join(dest2, path)), "missing " + path)
    check(open(os.path.join(dest2, "etc/tcpproxy/tcpproxy.yaml")).read() == "# mine\n",
          "make install overwrote a configuration")
    unit = open(os.path.join(dest2, "lib/systemd/system/tcpproxy.service")).read()
    check("ExecStart=/usr/sbin/tcpproxy -c /etc/tcpproxy/tcpproxy.yaml" in unit, unit)
    # The installed binary runs, and validates the installed configuration.
    r = subprocess.run([os.path.join(dest, "usr/local/sbin/tcpproxy"), "--mode", "validate",
                        "-c", os.path.join(dest, "usr/local/etc/tcpproxy/tcpproxy.yaml")],
                       capture_output=True, text=True)
    check(r.returncode == 0, "validate: %s" % r.stderr)


def _dpkg(*args):
    return subprocess.run(["dpkg"] + list(args), capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def test_debian_package_builds_installs_and_runs_as_its_user():
    if os.getuid() != 0:
        raise Skip("needs root to install a package")
    if "san" in os.path.basename(BUILD):
        raise Skip("the package is built and tested by the unsanitized run (make test)")
    if subprocess.run(["unshare", "-n", "-m", "true"]).returncode:
        raise Skip("cannot make a network and mount namespace here")
    r = make("deb", timeout=900)
    check(r.returncode == 0, "make deb (dpkg-buildpackage, lintian): %s\n%s" %
          (r.stdout[-3000:], r.stderr[-3000:]))
    debs = [f for f in os.listdir(os.path.join(BUILD, "deb"))
            if f.endswith(".deb") and "dbgsym" not in f]
    check(len(debs) == 1, "one package: %s" % debs)
    r = _dpkg("-i", os.path.join(BUILD, "deb", debs[0]))
    check(r.returncode == 0, "dpkg -i: %s %s" % (r.stdout, r.stderr))
    try:
        import grp
        import pwd
        pw = pwd.getpwnam("tcpproxy")
        check(pw.pw_uid < 1000 and grp.getgrgid(pw.pw_gid).gr_name == "tcpproxy",
              "a system user and group: %s" % (pw,))
        conffiles = subprocess.run(["dpkg-query", "-W", "-f=${Conffiles}", "tcpproxy"],
                                   capture_output=True, text=True).stdout
        check("/etc/tcpproxy/tcpproxy.yaml" in conffiles and "/etc/logrotate.d/tcpproxy" in
              conffiles, "conffiles: %r" % conffiles)
        check(os.path.isdir("/var/log/tcpproxy"), "the log directory")
        r = subprocess.run(["systemd-analyze", "verify", "/lib/systemd/system/tcpproxy.service"],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 0 and not r.stderr.strip(),
              "systemd-analyze verify: %s %s" % (r.stdout, r.stderr))
        r = subprocess.run(["man", "-w", "tcpproxy-stat"], capture_output=True, text=True)
        check(r.stdout.strip() == "/usr/share/man/man1/tcpproxy-stat.1.gz", "man: %r" % (r,))
        r = subprocess.run(["unshare", "-n", "-m", "python3",
                            os.path.join(ROOT, "tests", "integration", "package_service.py")],
                           capture_output=True, text=True, timeout=180)
        check(r.returncode == 0, "the packaged service:\n%s%s" % (r.stdout, r.stderr))
        print("     " + r.stdout.strip().splitlines()[-1], flush=True)
    finally:
        r = _dpkg("--purge", "tcpproxy")
        check(r.returncode == 0, "dpkg --purge: %s" % r.stderr)
    check(not os.path.exists("/etc/tcpproxy/tcpproxy.yaml") and
          not os.path.exists("/usr/sbin/tcpproxy"), "purged")


def _postrotate(snippet_path):
    """The shell commands of the logrotate snippet's postrotate block."""
    lines, inside = [], False
    with open(snippet_path) as f:
        for line in f:
            s = line.strip()
            if s == "postrotate":
                inside = True
            elif s == "endscript":
                inside = False
            elif inside:
                lines.append(line)
    return "".join(lines)


def test_logrotate_postrotate_does_not_signal_a_pid_the_service_user_wrote():
    """logrotate runs the packaged postrotate as root: it signals whatever number it reads from
    @RUNDIR@/tcpproxy.pid. That file is written by the master, which the packaged unit runs as
    User=tcpproxy, in RuntimeDirectory=tcpproxy (owned by tcpproxy): any process of the service
    account (a compromised worker) can put "-1" there, and root's `kill -USR1 -1` then sends
    SIGUSR1 -- whose default action is to terminate -- to every process on the machine (or a
    chosen pid or process group). Root must not take a pid from a file the service user can
    write: `systemctl kill -s USR1 --kill-whom=main tcpproxy.service` (or a pid file in a
    root-owned place, checked to be our master) does not.

    Run here without harm: kill is a shell function that records its arguments."""
    src = os.path.join(ROOT, "etc", "logrotate", "tcpproxy.in")
    run_dir = tempfile.mkdtemp(prefix="rundir.", dir=RUN_DIR)
    record = os.path.join(run_dir, "kill-args")
    with open(os.path.join(run_dir, "tcpproxy.pid"), "w") as f:
        f.write("-1\n")  # what the service account wrote
    script = _postrotate(src).replace("@RUNDIR@", run_dir)
    check("kill" in script or "systemctl" in script, "postrotate: %r" % script)
    r = subprocess.run(["sh", "-c", 'kill() { echo "$@" >> %s; }; systemctl() { :; }; %s'
                        % (record, script)], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, "postrotate failed: %r" % (r,))
    args = open(record).read().split() if os.path.exists(record) else []
    check("-1" not in args and not any(a.startswith("-") and a[1:].isdigit() for a in args),
          "root's postrotate ran `kill %s`: a pid (here -1, every process) taken from a file "
          "the service user writes" % " ".join(args))
