"""HAProxy with the shipped haproxy.cfg (deploy/k8s/haproxy-configmap.yaml) in front of replicas
on loopback: the same file Tests/deploy/test_haproxy.py runs, with static servers for the
server-template and loopback ports for the binds."""
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from haproxy_config import HAPROXY, write_config
from harness import free_port, wait_healthy


@contextmanager
def haproxy(replica_urls, cores=None):
    """Runs haproxy in front of `replica_urls`, pinned to `cores` (taskset's list, "2-3") if
    given; yields its URL once a request through it reaches a replica."""
    servers = {f"replica{n}": int(url.rsplit(":", 1)[1]) for n, url in enumerate(replica_urls, 1)}
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="prefloss-haproxy-") as folder:
        binds = {":8080": f"127.0.0.1:{port}", ":8404": f"127.0.0.1:{free_port()}"}
        config = write_config(Path(folder), servers, binds)
        command = [HAPROXY, "-db", "-f", str(config)]
        process = subprocess.Popen(["taskset", "-c", cores, *command] if cores else command,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, process)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)
