"""What bench/tls-bench.py and bench/tunnel-bench.py share: a free port, a process's CPU time,
and the client's side of a bulk run. Imported by them (bench/ is their sys.path[0])."""
import os
import socket
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_seconds(pid):
    """utime + stime of pid, in seconds, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def move_bulk(s, total, upload, received):
    """Sends total bytes on s (upload) and waits until received() has them all, or reads total
    bytes from s: the bytes moved."""
    moved = 0
    if upload:
        chunk = os.urandom(1 << 18)
        while moved < total:
            s.sendall(chunk)
            moved += len(chunk)
        while received() < total:
            time.sleep(0.001)
    else:
        buf = bytearray(1 << 18)
        while moved < total:
            n = s.recv_into(buf)
            if not n:
                break
            moved += n
    return moved
