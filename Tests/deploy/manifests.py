"""Where the deployment files are, and a Kubernetes manifest read from deploy/k8s."""

import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"


def load_manifest(name: str) -> dict:
    return yaml.safe_load((K8S / name).read_text())
