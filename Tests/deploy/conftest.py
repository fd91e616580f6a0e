"""Fixtures for the deployment tests: the repository's deploy/ files, the staged image root, and
the staged server started as the pod starts it."""

import os
import pathlib
import re
import subprocess
import sys
import time

import pytest

from manifests import DEPLOY, K8S, ROOT, load_manifest  # noqa: F401 (the tests import them from here)

sys.path.insert(0, str(ROOT / "Tests" / "support"))
from prefloss_process import PROBES, listening_port  # noqa: E402


@pytest.fixture(scope="session")
def stage() -> pathlib.Path:
    """What deploy/build.sh staged: the files the Dockerfile copies into the image."""
    path = pathlib.Path(os.environ.get("PREFLOSS_STAGE", ROOT / ".build" / "stage")).resolve()
    if not (path / "prefloss-server").exists():
        pytest.fail(f"{path} holds no staged server: run deploy/build.sh first (make deploy-test does)")
    return path


@pytest.fixture(scope="session")
def deployment() -> dict:
    return load_manifest("deployment.yaml")


@pytest.fixture(scope="session")
def configmap() -> dict:
    return load_manifest("configmap.yaml")["data"]


@pytest.fixture(scope="session")
def container(deployment) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


@pytest.fixture(scope="session")
def dockerfile() -> str:
    return (DEPLOY / "Dockerfile").read_text()


def healthcheck(*args: str, env: dict | None = None) -> int:
    return subprocess.run([DEPLOY / "healthcheck.sh", *args], env=env, capture_output=True, timeout=10).returncode


def wait_until(condition, timeout: float) -> bool:
    """Polls `condition` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# Seconds /ready answers 503 after SIGTERM while the server still serves (the ConfigMap's value):
# wide enough to see both however late the signal is handled.
DRAIN_DELAY = 5


@pytest.fixture
def pod(stage, configmap, dockerfile, tmp_path):
    """The staged server, started as the Deployment starts it: ConfigMap env, Secret token file;
    on ports the kernel picks (PREFLOSS_PORT=0, PREFLOSS_PROBE_PORT=0), read back from its log."""
    secret = load_manifest("secret.example.yaml")["stringData"]["tokens"]
    (tmp_path / "tokens").write_text(secret)
    env = {"PATH": "/usr/bin:/bin", **configmap, "PREFLOSS_PORT": "0", "PREFLOSS_PROBE_PORT": "0",
           "PREFLOSS_TOKEN_FILE": str(tmp_path / "tokens"), "PREFLOSS_DRAIN_DELAY": str(DRAIN_DELAY),
           "PREFLOSS_LOG_LEVEL": "trace"}
    backtrace = re.search(r"SWIFT_BACKTRACE=(\S+)", dockerfile)
    env["SWIFT_BACKTRACE"] = backtrace.group(1).replace("/usr/local/bin", str(stage))
    log = open(tmp_path / "log", "w+")
    process = subprocess.Popen([stage / "prefloss-server"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)

    def port(pattern=None) -> int | None:
        lines = (tmp_path / "log").read_text().splitlines()
        return listening_port(lines, pattern) if pattern else listening_port(lines)

    def healthy() -> bool:
        assert process.poll() is None, (tmp_path / "log").read_text()
        return port() is not None and port(PROBES) is not None and healthcheck(str(port(PROBES))) == 0

    if not wait_until(healthy, timeout=60):
        process.kill()
        process.wait()
        pytest.fail("not healthy after 60 s: " + (tmp_path / "log").read_text())
    yield {"process": process, "port": port(), "probe_port": port(PROBES), "token": secret.strip(),
           "log": tmp_path / "log"}
    if process.poll() is None:
        process.kill()
        process.wait()
