"""HTTPS with --tls-cert/--tls-key and a self-signed certificate."""
import subprocess

import pytest
import requests

from simpo_process import running_server  # on sys.path through conftest.py


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key


def test_https_serves_the_loss_and_plain_http_is_refused(certificate):
    cert, key = certificate
    with running_server("--tls-cert", str(cert), "--tls-key", str(key), scheme="https", ca_file=str(cert)) as server:
        body = {"chosen": {"logps": [-1.2]}, "rejected": {"logps": [-2.5]}, "config": {"gamma_beta_ratio": 0.5}}
        response = requests.post(f"{server.url}/v1/loss", json=body, verify=str(cert), timeout=10)
        assert response.status_code == 200
        assert abs(response.json()["loss"] - 0.18390074088833878) < 1e-15
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{server.url}/health", timeout=10)  # an unknown certificate is not trusted
        plain = server.url.replace("https://", "http://")
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"{plain}/health", timeout=10)


def test_a_half_configured_tls_refuses_to_start(certificate):
    cert, _ = certificate
    with pytest.raises(RuntimeError, match="go together"):
        with running_server("--tls-cert", str(cert)):
            pass
