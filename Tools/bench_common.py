"""Shared pieces of the side-by-side benchmarks: start redis-server (appendfsync always) and
spoold on loopback with their files in temporary directories, stop them, read RSS, print tables."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Peer:
    """redis-server (appendonly yes, appendfsync always) or spoold on loopback, files in a
    temporary directory; survives kill -9 and a restart, and reports its CPU time, RSS and
    descriptors from /proc."""

    def __init__(self, kind, spoold=None, extra=()):
        self.kind = kind
        self.binary = spoold or os.path.join(ROOT, ".build/release/spoold")
        self.extra = list(extra)
        self.dir = tempfile.mkdtemp(prefix=f"bench-{kind}-")
        self.port = free_port()
        self.process = None
        self.start()

    def args(self):
        if self.kind == "redis":
            return ["redis-server", "--port", str(self.port), "--dir", self.dir, "--appendonly", "yes",
                    "--appendfsync", "always", "--save", "", "--daemonize", "no"] + self.extra
        return [self.binary, "--port", str(self.port), "--data-dir", os.path.join(self.dir, "data")] + self.extra

    def start(self):
        """Starts the server and returns the seconds until it answered PING."""
        started = time.monotonic()
        self.process = subprocess.Popen(self.args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(self.port, timeout=600)
        return time.monotonic() - started

    def kill9_and_restart(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        return self.start()

    def cpu_seconds(self):
        """User + system time of all the server's threads so far."""
        with open(f"/proc/{self.process.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def fds(self):
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def rss_mib(self):
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def peers(binaries, redis=True):
    """(kind, spoold binary or None, label) for redis-server and each spoold build; a build is
    labelled by its path when several are compared."""
    spools = [("spool", b, "spool" if len(binaries) == 1 else f"spool ({os.path.relpath(b, ROOT)})") for b in binaries]
    return ([("redis", None, "redis")] if redis else []) + spools


def print_table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: " | ".join(str(v).ljust(w) for v, w in zip(r, widths))
    print(line(header))
    print("-|-".join("-" * w for w in widths))
    for r in rows:
        print(line(r))
