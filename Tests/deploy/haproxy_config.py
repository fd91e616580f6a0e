"""The shipped haproxy.cfg (the prefloss-haproxy ConfigMap): its directives, and the ConfigMap's
files written out for a local haproxy, changed only where the cluster differs from loopback."""

import re
import shutil
import subprocess
from pathlib import Path

from manifests import load_manifest

# Debian installs haproxy in /usr/sbin, which a user's PATH may lack.
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
CONFIGMAP = "haproxy-configmap.yaml"
DEPLOYMENT = "haproxy-deployment.yaml"
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def files() -> dict:
    """The ConfigMap's files by name: haproxy.cfg and the problem documents it answers with."""
    return load_manifest(CONFIGMAP)["data"]


def sections() -> dict:
    """{"global": [...], "backend replicas": [...], ...}: each section's directives as word lists,
    comments left out (quoted words keep their quotes)."""
    found, current = {}, None
    for line in files()["haproxy.cfg"].splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if line[0].isspace():
            found[current].append(words)
        else:
            current = " ".join(words)
            found[current] = []
    return found


def directive(section: list, *keywords: str) -> list:
    """The words after `keywords` of the one directive of `section` that starts with them."""
    (only,) = [words[len(keywords):] for words in section if tuple(words[:len(keywords)]) == keywords]
    return only


def seconds(value: str) -> float:
    """An HAProxy time ("60s", "500ms"; bare numbers are milliseconds) in seconds."""
    number, unit = re.fullmatch(r"(\d+)([a-z]*)", value).groups()
    return int(number) * UNITS.get(unit, 1e-3)


def config_folder() -> str:
    """Where the Deployment mounts the ConfigMap, which haproxy.cfg's file paths name."""
    (container,) = load_manifest(DEPLOYMENT)["spec"]["template"]["spec"]["containers"]
    (mount,) = container["volumeMounts"]
    return mount["mountPath"]


def write_config(folder: Path, servers: dict | None = None, binds: dict | None = None) -> Path:
    """Writes the ConfigMap's files to `folder` (paths into the mount changed to it) and returns
    haproxy.cfg's path. `servers` ({name: port} or {name: (port, probe port)} on 127.0.0.1) take
    the server-template's place, each health-checked on its probe port (else its port); `binds`
    ({":8080": "127.0.0.1:41234"}) move the listeners. Nothing else changes."""
    for name, text in files().items():
        text = text.replace(config_folder() + "/", f"{folder}/")
        if name == "haproxy.cfg":
            text = _replace_lines(text, servers, binds)
        (folder / name).write_text(text)
    return folder / "haproxy.cfg"


def _replace_lines(text: str, servers: dict | None, binds: dict | None) -> str:
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        indent, words = line[:len(line) - len(line.lstrip())], line.split()
        if servers is not None and words[:1] == ["server-template"]:
            lines[index] = "".join(f"{indent}server {name} 127.0.0.1:{port} port {check}\n"
                                   for name, (port, check) in map(_with_check_port, servers.items()))
            servers = None
        elif binds and words[:1] == ["bind"] and words[1] in binds:
            lines[index] = f"{indent}bind {binds.pop(words[1])}\n"
    assert servers is None and not binds, f"haproxy.cfg has no server-template or no bind {binds}"
    return "".join(lines)


def check(config: Path, env: dict) -> subprocess.CompletedProcess:
    """`haproxy -c`: parses the whole configuration, resolves nothing, binds nothing."""
    return subprocess.run([HAPROXY, "-c", "-f", str(config)], env=env, capture_output=True, text=True, timeout=30)


def _with_check_port(item: tuple) -> tuple:
    name, ports = item
    return (name, ports) if isinstance(ports, tuple) else (name, (ports, ports))
