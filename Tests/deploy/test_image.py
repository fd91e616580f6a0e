"""The image: the Dockerfile builds with deploy/build.sh, and what that script stages runs
as the container would, with the ConfigMap's settings and the Secret's tokens."""

import json
import os
import pathlib
import re
import signal
import subprocess

import pytest
import requests

from conftest import DRAIN_DELAY, ROOT, healthcheck, wait_until
from prefloss_process import reserved_port

# Libraries every Debian image has; anything else the binary links must be installed.
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1"}


def runtime_stage(dockerfile: str) -> str:
    return dockerfile.split("\nFROM ", 2)[2]


def test_dockerfile_builds_with_the_script_make_and_ci_run(dockerfile):
    assert re.search(r"^RUN deploy/build\.sh /stage$", dockerfile, re.M)
    assert "COPY --from=builder /stage/ /usr/local/bin/" in dockerfile
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^\tdeploy/build\.sh \$\(STAGE\)$", makefile, re.M), "make build runs the same script"


def test_every_path_the_image_runs_is_staged(stage, dockerfile):
    paths = re.findall(r"/usr/local/bin/([\w.-]+)", runtime_stage(dockerfile))
    assert {"prefloss-server", "healthcheck.sh", "swift-backtrace-static"} <= set(paths)
    for name in paths:
        assert os.access(stage / name, os.X_OK), name


def owning_package(path: str) -> str | None:
    """The Debian package that installed `path`, if any."""
    owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
    return owner.stdout.split(":")[0] if owner.returncode == 0 else None


def simdjson_runtime_package() -> str:
    """The package of the library libsimdjson-dev's libsimdjson.so points at (libsimdjson14 on
    bookworm): the one the server links, whatever its soname on this release."""
    files = subprocess.run(["dpkg", "-L", "libsimdjson-dev"], capture_output=True, text=True, check=True).stdout.split()
    (link,) = [path for path in files if path.endswith("/libsimdjson.so")]
    package = owning_package(os.path.realpath(link))
    assert package and package != "libsimdjson-dev", f"no runtime package owns {os.path.realpath(link)}"
    return package


def shared_library_packages(binary: pathlib.Path) -> set[str]:
    packages = set()
    for line in subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout.splitlines():
        match = re.search(r"=> (/\S+)", line)
        if not match:
            continue
        real = os.path.realpath(match.group(1))
        for candidate in (real, real.removeprefix("/usr"), match.group(1)):
            if package := owning_package(candidate):
                packages.add(package)
                break
        else:
            pytest.fail(f"no Debian package owns {match.group(1)}")
    return packages


def test_runtime_stage_installs_every_shared_library(stage, dockerfile):
    needed = shared_library_packages(stage / "prefloss-server") - BASE_IMAGE_PACKAGES
    assert simdjson_runtime_package() in needed
    install = re.search(r"apt-get install -y --no-install-recommends ([^\\\n]+)", runtime_stage(dockerfile))
    assert install and needed <= set(install.group(1).split())
    assert not any(p.startswith("libswift") for p in needed), "the Swift runtime is static"


BODY = {"chosen": {"logps": [-1.0]}, "rejected": {"logps": [-2.0]}}


def test_staged_server_runs_with_the_deployments_settings(pod):
    port, probe_port, token = pod["port"], pod["probe_port"], pod["token"]
    url, probes = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{probe_port}"
    assert healthcheck(env={"PREFLOSS_PORT": str(port), "PREFLOSS_PROBE_PORT": str(probe_port),
                            "PATH": "/usr/bin:/bin"}) == 0
    assert healthcheck(env={"PREFLOSS_PORT": str(port), "PATH": "/usr/bin:/bin"}) == 0
    denied = requests.post(f"{url}/v1/loss", json=BODY, timeout=5)
    assert denied.status_code == 401 and denied.headers["content-type"] == "application/problem+json"
    wrong = requests.post(f"{url}/v1/loss", json=BODY, headers={"Authorization": "Bearer not-" + token}, timeout=5)
    assert wrong.status_code == 401
    allowed = requests.post(f"{url}/v1/loss", json=BODY, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert allowed.status_code == 200 and "loss" in allowed.json()
    for base in (url, probes):
        assert requests.get(f"{base}/metrics", timeout=5).status_code == 200
        assert requests.get(f"{base}/ready", timeout=5).status_code == 200

    process = pod["process"]
    process.send_signal(signal.SIGTERM)
    assert wait_until(lambda: requests.get(f"{probes}/ready", timeout=5).status_code == 503, timeout=DRAIN_DELAY), \
        "drain: /ready fails first"
    assert requests.get(f"{url}/ready", timeout=5).status_code == 503
    assert requests.get(f"{probes}/health", timeout=5).status_code == 200, "drain: still serving"
    assert requests.get(f"{url}/health", timeout=5).status_code == 200
    assert process.wait(timeout=DRAIN_DELAY + 15) == 0

    lines = pod["log"].read_text().splitlines()
    assert lines and all(json.loads(line) for line in lines), "PREFLOSS_LOG_FORMAT=json gives JSON lines"
    assert not any(token in line for line in lines), "a token never reaches the log"


def test_healthcheck_fails_when_nothing_listens():
    with reserved_port(listening=False) as closed:
        assert healthcheck(str(closed)) != 0
