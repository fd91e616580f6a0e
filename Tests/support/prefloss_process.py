"""Starts a built prefloss-server on a free loopback port; shared by the pytest suites."""
import contextlib
import dataclasses
import os
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Sequence

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("PREFLOSS_SERVER_BINARY", ROOT / ".build" / "debug" / "prefloss-server"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclasses.dataclass
class Server:
    url: str
    process: subprocess.Popen

    def peak_rss_mib(self) -> float:
        """The process's peak resident set (VmHWM)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


@contextlib.contextmanager
def running_server(*arguments: Sequence[str], scheme: str = "http", ca_file: str = None) -> Iterator[Server]:
    """Yields a server started with `arguments`; on exit stops it with SIGTERM and
    asserts that the graceful shutdown exits 0. With scheme "https", `ca_file` verifies it."""
    port = free_port()
    process = subprocess.Popen(
        [str(BINARY), "--port", str(port), "--log-level", "warning", *arguments],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"{scheme}://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=ca_file) if scheme == "https" else None
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1, context=context):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"server did not start: {process.stdout.read().decode()}")
            time.sleep(0.1)
    try:
        yield Server(url, process)
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0, "graceful shutdown exits 0"


def self_signed_certificate(folder: Path) -> tuple:
    """(certificate, key) PEM files in `folder` for 127.0.0.1, valid for a day."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key
