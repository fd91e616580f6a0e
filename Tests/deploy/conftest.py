"""Fixtures for the deployment tests: the repository's deploy/ files and the staged image root."""

import os
import pathlib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"


@pytest.fixture(scope="session")
def stage() -> pathlib.Path:
    """What deploy/build.sh staged: the files the Dockerfile copies into the image."""
    path = pathlib.Path(os.environ.get("SIMPO_STAGE", ROOT / ".build" / "stage")).resolve()
    if not (path / "simpo-server").exists():
        pytest.fail(f"{path} holds no staged server: run deploy/build.sh first (make deploy-test does)")
    return path


def load_manifest(name: str) -> dict:
    return yaml.safe_load((K8S / name).read_text())


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
