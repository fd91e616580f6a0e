"""HTTPS with --tls-cert/--tls-key and a self-signed certificate."""
import pytest
import requests

from prefloss_process import running_server, self_signed_certificate  # on sys.path through conftest.py


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


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


def test_over_tls_an_early_answer_reaches_the_client_and_a_trickle_is_cut_off(certificate):
    """TLS has no half-close: a 413 still reaches a client that sends its whole body first, and a
    client that keeps trickling past the drain's byte bound has its connection closed after the
    answer, instead of being drained without end."""
    import socket
    import ssl
    import time

    from polling import WAIT

    cert, key = certificate
    # No timer but the drain's byte bound may be what closes the trickling connection.
    arguments = ["--tls-cert", str(cert), "--tls-key", str(key), "--max-body-size", "1000", "--idle-timeout", "600",
                 "--body-timeout", "600"]
    with running_server(*arguments, scheme="https", ca_file=str(cert)) as server:
        response = requests.post(f"{server.url}/v1/loss", data=b" " * 3000, verify=str(cert), timeout=10,
                                 headers={"Content-Type": "application/json"})
        assert response.status_code == 413 and response.headers["Connection"] == "close"

        context = ssl.create_default_context(cafile=str(cert))
        with context.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=10), server_hostname="127.0.0.1") as tls:
            tls.sendall(b"POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n")
            tls.sendall(b"x" * 5000)  # past the drain's bound of four body limits
            deadline, closed = time.monotonic() + WAIT, False
            while not closed and time.monotonic() < deadline:
                try:
                    tls.sendall(b"x")  # fails once the server has closed the connection
                except OSError:
                    closed = True
                time.sleep(0.2)
            assert closed, f"the trickling connection was still open after {WAIT} s"
