"""The client's own HTTP and safetensors: what goes on the wire, the kept connection, TLS, gzip."""
import json
import ssl
import struct
import time

import numpy as np
import pytest
from safetensors.numpy import load as load_safetensors

from prefloss import LossClient, LossConnectionError, LossProblem


def sent(client, *args, **kwargs):
    with pytest.raises(LossProblem):
        client.loss(*args, **kwargs)


def header_of(body: bytes) -> dict:
    (length,) = struct.unpack("<Q", body[:8])
    return json.loads(body[8:8 + length])


def test_the_body_is_a_safetensors_file_and_masks_go_as_one_byte(capturing):
    client, handler = capturing
    chosen = np.array([[-1.0, -2.0, -3.0]], dtype=np.float32)
    rejected = np.array([[-1.5, -2.5, -3.5]], dtype=">f8")  # big-endian: sent little-endian
    sent(client, chosen, rejected, chosen_mask=np.array([[1, 1, 0]]), rejected_mask=np.array([[True, False, True]]),
         beta=2.5)
    tensors = load_safetensors(handler.bodies[0])
    assert np.array_equal(tensors["chosen.per_token_logps"], chosen)
    assert np.array_equal(tensors["rejected.per_token_logps"], rejected.astype(np.float64))
    assert tensors["chosen.mask"].dtype == np.uint8 and tensors["chosen.mask"].tolist() == [[1, 1, 0]]
    assert tensors["rejected.mask"].dtype == np.bool_
    assert header_of(handler.bodies[0])["__metadata__"] == {"return_token_grads": "false", "config": '{"beta": 2.5}'}
    assert struct.unpack("<Q", handler.bodies[0][:8])[0] % 8 == 0, "the tensors start 8-aligned"


def test_a_mask_with_other_values_goes_as_it_is_for_the_server_to_point_at(capturing):
    client, handler = capturing
    sent(client, np.zeros((1, 2)) - 1, np.zeros((1, 2)) - 1, chosen_mask=np.array([[1, 300]]))
    assert load_safetensors(handler.bodies[0])["chosen.mask"].tolist() == [[1, 300]]


def test_requests_share_one_kept_connection(capturing):
    client, handler = capturing
    for _ in range(3):
        sent(client, np.array([-1.0]), np.array([-2.0]))
    assert len(set(handler.ports)) == 1


def test_a_connection_the_server_closed_while_idle_is_replaced_at_once(own_server):
    with own_server("--idle-timeout", "0.3") as live, LossClient(live.url, retries=0) as client:
        assert client.health() == {"status": "ok"}
        wait_until_closed_by_the_server(client._connection.sock)
        assert client.loss(np.array([-1.0]), np.array([-2.0])).loss > 0, "no retries are left: the request was resent"


def test_gzip_responses_decode_to_the_same_answer(client, server):
    url, token = server
    rng = np.random.default_rng(0)
    chosen, rejected = -rng.random((4, 300), dtype=np.float32), -rng.random((4, 300), dtype=np.float32)
    plain = client.loss(chosen, rejected, return_token_grads=True)
    with LossClient(url, token=token, compress_responses=True) as compressing:
        packed = compressing.loss(chosen, rejected, return_token_grads=True)
    assert packed.loss == plain.loss
    assert np.array_equal(packed.grads["chosen_per_token_logps"], plain.grads["chosen_per_token_logps"])


def test_answers_are_writable_arrays(client):
    result = client.loss(np.array([[-1.0, -2.0]], dtype=np.float32), np.array([[-2.0, -1.0]], dtype=np.float32),
                         return_token_grads=True)
    result.grads["chosen_per_token_logps"] *= 2  # in place, e.g. by a caller's optimiser


def test_https_with_a_trusted_certificate_and_not_without(own_server, certificate):
    cert, key = certificate
    with own_server("--tls-cert", str(cert), "--tls-key", str(key), scheme="https", ca_file=str(cert)) as live:
        trusting = ssl.create_default_context(cafile=str(cert))
        with LossClient(live.url, ssl_context=trusting) as client:
            assert client.health() == {"status": "ok"}
            chosen = np.array([[-1.0, -2.0]], dtype=np.float32)
            assert client.loss(chosen, chosen - 1, return_token_grads=True).grads["chosen_per_token_logps"].shape == (1, 2)
        with LossClient(live.url, retries=0) as untrusting, pytest.raises(LossConnectionError, match="certificate"):
            untrusting.health()


def test_only_http_and_https_urls():
    with pytest.raises(ValueError, match="http"):
        LossClient("ftp://127.0.0.1:21")


def wait_until_closed_by_the_server(sock, deadline_seconds=30):
    """Polls the kept socket until the server's close arrives (a readable socket with nothing to
    read), so the test resends on a connection known to be closed, not one that may still be open."""
    import select
    import socket

    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], 0.05)
        if readable and sock.recv(1, socket.MSG_PEEK) == b"":
            return
    raise AssertionError("the server did not close the idle connection")
