"""The servers under test: each started on a free loopback port and stopped after use, and
the resident memory of its process tree sampled while it is loaded."""
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVER = Path(os.environ.get("PREFLOSS_SERVER", HERE.parents[1] / ".build" / "stage" / "prefloss-server")).resolve()
#: The build `make loadtest BASELINE=<ref>` compares against, if any.
BASELINE_SERVER = os.environ.get("PREFLOSS_BASELINE_SERVER")


def ours(threads=None, first_core=0, pin=True, server=SERVER):
    """prefloss-server's command (the `server` binary); with `threads`, that many event loops,
    pinned (unless not `pin`) to as many cores from `first_core` on."""
    def command(port):
        argv = [str(server), "--port", str(port), "--log-level", "warning"]
        return ["taskset", "-c", f"{first_core}-{first_core + threads - 1}", *argv] if threads and pin else argv
    env = {**os.environ, "NIO_SINGLETON_GROUP_LOOP_COUNT": str(threads)} if threads else None
    return command, env


def peer():
    """The FastAPI peer's command: uvicorn with httptools and uvloop, 2 workers."""
    def command(port):
        return [sys.executable, "-m", "uvicorn", "peer_server:app", "--port", str(port), "--workers", "2",
                "--http", "httptools", "--loop", "uvloop", "--log-level", "warning", "--no-access-log"]
    return command, None


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_healthy(url, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not become healthy")


@contextmanager
def serving(spec):
    """Runs a (command, env) spec on a free port until /health answers; yields (url, process)."""
    command, env = spec
    port = free_port()
    process = subprocess.Popen(command(port), cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def tree_rss_mib(pid):
    """Resident memory of a process and all its descendants, in MiB."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, AttributeError, ProcessLookupError):
            pass
    return total / 1024


class RSSSampler:
    """Samples a process tree's RSS in the background; `samples` holds (seconds, MiB)."""

    def __init__(self, pid, interval=0.2):
        self.pid, self.interval, self.samples = pid, interval, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        start = time.monotonic()
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - start, tree_rss_mib(self.pid)))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()

    @property
    def peak(self):
        return max((mib for _, mib in self.samples), default=0.0)
