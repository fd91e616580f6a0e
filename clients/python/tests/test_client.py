"""The client against a live server: its numbers are the server's JSON answers, exactly."""
import http.server
import threading

import numpy as np
import pytest
import requests

from prefloss import LossClient, LossConnectionError, LossProblem


def batch(seed: int, rows: int = 4, tokens: int = 7):
    """float32 per-token log-probs with ragged 0/1 masks (every row keeps at least one token)."""
    rng = np.random.default_rng(seed)
    logps = -rng.gamma(2.0, 0.7, size=(rows, tokens)).astype(np.float32)
    lengths = rng.integers(1, tokens + 1, size=rows)
    mask = (np.arange(tokens)[None, :] < lengths[:, None]).astype(np.int64)
    return logps, mask


def as_sent(values) -> np.ndarray:
    """The JSON answer's numbers in the precision the client asks for float32 inputs: float32."""
    return np.array(values, dtype=np.float64).astype(np.float32)


def json_answer(server, body: dict) -> dict:
    url, token = server
    response = requests.post(f"{url}/v1/loss", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def side(logps, mask=None) -> dict:
    if logps.ndim == 1:
        return {"logps": [float(x) for x in logps]}
    rows = [[float(x) for x in row] for row in logps]
    return {"per_token_logps": rows, "mask": mask.tolist()} if mask is not None else {"per_token_logps": rows}


CONFIGS = [
    {},
    {"loss_type": "hinge", "beta": 2.5, "gamma_beta_ratio": 0.3},
    {"loss_type": "sigmoid", "label_smoothing": 0.1, "sft_weight": 0.2, "average_log_prob": False},
    {"objective": "dpo", "loss_type": ["sigmoid", "sft"], "loss_weights": [1, 0.3]},
    {"objective": "dpo", "loss_type": "ipo", "ld_alpha": 0.5, "f_divergence_type": "js_divergence"},
    {"objective": "dpo", "loss_type": ["aot", "bco_pair"], "label_smoothing": 0.1},
    {"objective": "cpo", "loss_type": "simpo", "cpo_alpha": 0.5, "alpha": 0.25},
    {"objective": "cpo", "loss_type": "alphapo", "alpha": -0.5},
    {"objective": "orpo", "beta": 0.2},
]


def test_health(client):
    assert client.health() == {"status": "ok"}


@pytest.mark.parametrize("config", CONFIGS)
def test_numbers_match_the_json_answer_exactly(client, server, config):
    chosen, chosen_mask = batch(1)
    rejected, rejected_mask = batch(2)
    references = {}
    body = {"config": config, "chosen": side(chosen, chosen_mask), "rejected": side(rejected, rejected_mask), "return_token_grads": True}
    if config.get("objective") == "dpo":
        # Per-token references over the policy's masks, as a trainer without precomputed references sends them.
        references = {"reference_chosen": batch(3)[0], "reference_rejected": batch(4)[0],
                      "reference_chosen_mask": chosen_mask, "reference_rejected_mask": rejected_mask}
        body.update(reference_chosen=side(references["reference_chosen"], chosen_mask),
                    reference_rejected=side(references["reference_rejected"], rejected_mask))
    result = client.loss(chosen, rejected, chosen_mask=chosen_mask, rejected_mask=rejected_mask, return_token_grads=True,
                         **references, **config)
    expected = json_answer(server, body)
    assert result.loss == expected["loss"]
    assert result.sft_loss == expected["sft_loss"]
    for name in ("losses", "logits", "chosen_logps", "rejected_logps", "chosen_rewards", "rejected_rewards"):
        assert np.array_equal(getattr(result, name), as_sent(expected[name])), name
    assert result.metrics == expected["metrics"]
    assert result.warnings == expected["warnings"]
    for name in ("chosen_logps", "rejected_logps"):
        assert np.array_equal(result.grads[name], as_sent(expected["grads"][name])), name
    # JSON gives ragged rows (the mask's padding included, as sent); safetensors gives [B, T].
    assert np.array_equal(result.grads["chosen_per_token_logps"], as_sent(expected["grads"]["chosen_per_token_logps"]))


def test_sequence_logps_and_dpo_references(client, server):
    chosen, rejected = np.array([-1.2, -0.7]), np.array([-2.5, -0.9])
    reference_chosen, reference_rejected = np.array([-1.0, -1.1]), np.array([-2.0, -1.0])
    result = client.loss(chosen, rejected, reference_chosen=reference_chosen, reference_rejected=reference_rejected, objective="dpo")
    expected = json_answer(server, {
        "config": {"objective": "dpo"}, "chosen": side(chosen), "rejected": side(rejected),
        "reference_chosen": side(reference_chosen), "reference_rejected": side(reference_rejected)})
    assert result.loss == expected["loss"]
    assert result.chosen_rewards.dtype == np.float64, "float64 inputs get float64 answers"
    assert np.array_equal(result.chosen_rewards, np.array(expected["chosen_rewards"]))
    assert "chosen_per_token_logps" not in result.grads


def test_kto_sides_and_its_kl_point(client, server):
    """KTO: desirable completions as chosen, no undesirable one, references of each side's size,
    and the KL point as KL completions or as the value they give."""
    chosen, chosen_mask = batch(9, rows=3)
    rejected = np.zeros((0, chosen.shape[1]), dtype=np.float32)
    kl, kl_mask = batch(10, rows=3)
    reference_kl = kl - np.float32(0.25)
    references = {"reference_chosen": np.array([-3.0, -2.0, -4.0]), "reference_rejected": np.zeros(0)}
    result = client.loss(chosen, rejected, chosen_mask=chosen_mask, kl=kl, kl_mask=kl_mask, reference_kl=reference_kl,
                         reference_kl_mask=kl_mask, return_token_grads=True, objective="kto", beta=0.5,
                         **references)
    expected = json_answer(server, {
        "config": {"objective": "kto", "beta": 0.5}, "chosen": side(chosen, chosen_mask),
        "rejected": {"per_token_logps": []}, "reference_chosen": side(references["reference_chosen"]),
        "reference_rejected": {"logps": []}, "kl": side(kl, kl_mask), "reference_kl": side(reference_kl, kl_mask),
        "return_token_grads": True})
    assert result.loss == expected["loss"]
    assert np.array_equal(result.losses, np.array(expected["losses"])), "float64 references: float64 answers"
    assert result.metrics == expected["metrics"] and sorted(result.metrics) == ["kl", "logps/chosen", "rewards/chosen",
                                                                                 "tokens/chosen"]
    # No row, so no width: the server answers an empty [0, 7] side's token gradients as [0, 0].
    assert result.rejected_logps.shape == (0,) and result.grads["rejected_per_token_logps"].size == 0
    by_value = client.loss(chosen, rejected, chosen_mask=chosen_mask, kl_value=result.metrics["kl"], objective="kto",
                           beta=0.5, **references)
    assert by_value.loss == result.loss and np.array_equal(by_value.grads["chosen_logps"], result.grads["chosen_logps"])
    with pytest.raises(LossProblem) as refused:
        client.loss(chosen, rejected, chosen_mask=chosen_mask, kl=kl, reference_kl=reference_kl, kl_value=0.5,
                    objective="kto", **references)
    assert refused.value.pointers == ["/kl_value"]


def test_dpo_wpo_weights_from_log_sum_sq_probs(client, server):
    """use_weighting: the log Σ p² of each policy side go as tensors and give the JSON answer's
    numbers; without them the server names the missing one."""
    chosen, chosen_mask = batch(11)
    rejected, rejected_mask = batch(12)
    chosen_sq, rejected_sq = chosen * np.float32(0.5), rejected * np.float32(1.5)
    references = {"reference_chosen": np.array([-3.0, -2.0, -4.0, -1.0]),
                  "reference_rejected": np.array([-2.0, -5.0, -1.0, -3.0])}
    config = {"objective": "dpo", "use_weighting": True}
    result = client.loss(chosen, rejected, chosen_mask=chosen_mask, rejected_mask=rejected_mask,
                         chosen_log_sum_sq_probs=chosen_sq, rejected_log_sum_sq_probs=rejected_sq, **references,
                         **config)
    expected = json_answer(server, {
        "config": config,
        "chosen": {**side(chosen, chosen_mask), "log_sum_sq_probs": side(chosen_sq)["per_token_logps"]},
        "rejected": {**side(rejected, rejected_mask), "log_sum_sq_probs": side(rejected_sq)["per_token_logps"]},
        "reference_chosen": side(references["reference_chosen"]),
        "reference_rejected": side(references["reference_rejected"])})
    assert np.array_equal(result.losses, np.array(expected["losses"])), "float64 references: float64 answers"
    unweighted = client.loss(chosen, rejected, chosen_mask=chosen_mask, rejected_mask=rejected_mask, **references,
                             objective="dpo")
    assert not np.allclose(result.losses, unweighted.losses)
    with pytest.raises(LossProblem) as refused:
        client.loss(chosen, rejected, chosen_mask=chosen_mask, rejected_mask=rejected_mask,
                    chosen_log_sum_sq_probs=chosen_sq, **references, **config)
    assert refused.value.pointers == ["/rejected/log_sum_sq_probs"]


def test_labels_select_as_masks_do(client):
    chosen, chosen_mask = batch(5)
    rejected, rejected_mask = batch(6)
    labels = np.where(chosen_mask == 1, 7, -100)
    by_mask = client.loss(chosen, rejected, chosen_mask=chosen_mask, rejected_mask=rejected_mask, return_token_grads=True)
    by_labels = client.loss(chosen, rejected, chosen_labels=labels, rejected_mask=rejected_mask, return_token_grads=True)
    assert by_labels.loss == by_mask.loss
    assert np.array_equal(by_labels.grads["chosen_per_token_logps"], by_mask.grads["chosen_per_token_logps"])


def test_reference_masks_are_the_references_own(client, server):
    """A per-token reference without a mask selects all its tokens: nothing is borrowed from the policy."""
    chosen, chosen_mask = batch(7, rows=2)
    rejected, rejected_mask = batch(8, rows=2)
    reference = np.full_like(chosen, -0.5)
    result = client.loss(chosen, rejected, chosen_mask=chosen_mask, rejected_mask=rejected_mask, objective="dpo",
                         reference_chosen=reference, reference_rejected=np.array([-1.0, -1.0]))
    expected = json_answer(server, {"config": {"objective": "dpo"}, "chosen": side(chosen, chosen_mask), "rejected": side(rejected, rejected_mask),
                                    "reference_chosen": side(reference), "reference_rejected": {"logps": [-1.0, -1.0]}})
    assert result.loss == expected["loss"]


def test_refusals_carry_the_problem(client):
    chosen, mask = batch(3)
    with pytest.raises(LossProblem) as refused:
        client.loss(chosen, chosen, chosen_mask=mask[:, :3], betta=2.0)
    assert refused.value.status == 422
    assert refused.value.pointers == ["/config/betta", "/chosen/mask"]
    assert "did you mean 'beta'" in str(refused.value)


def test_a_missing_token_is_401(server):
    url, token = server
    if token is None:
        pytest.skip("the server under test has no tokens")
    with LossClient(url) as anonymous, pytest.raises(LossProblem) as refused:
        anonymous.loss(np.array([-1.0]), np.array([-2.0]))
    assert refused.value.status == 401


class _FlakyHandler(http.server.BaseHTTPRequestHandler):
    """Answers 503 (Retry-After: 0) to the first `failures` requests, then 200."""
    failures = 2
    seen = 0

    def do_GET(self):
        type(self).seen += 1
        status, body = (503, b"{}") if type(self).seen <= self.failures else (200, b'{"status":"ok"}')
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_503_is_retried_with_backoff():
    server = http.server.HTTPServer(("127.0.0.1", 0), _FlakyHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with LossClient(f"http://127.0.0.1:{server.server_port}", retries=3, backoff=0.01) as client:
            assert client.health() == {"status": "ok"}
        assert _FlakyHandler.seen == 3
    finally:
        server.shutdown()


def test_connection_errors_are_retried_then_raised():
    from prefloss_process import reserved_port

    with reserved_port(listening=False) as port, \
            LossClient(f"http://127.0.0.1:{port}", retries=1, backoff=0.01) as client, pytest.raises(LossConnectionError):
        client.health()


class _OverloadedHandler(_FlakyHandler):
    """Always 503, asking for a 5 s wait."""
    failures = 10**9

    def do_GET(self):
        body = b"{}"
        self.send_response(503)
        self.send_header("Retry-After", "5")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_retries_stop_within_the_budget(monkeypatch):
    sleeps = []
    monkeypatch.setattr("prefloss.client.time.sleep", sleeps.append)
    server = http.server.HTTPServer(("127.0.0.1", 0), _OverloadedHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with LossClient(f"http://127.0.0.1:{server.server_port}", retries=5, retry_budget=1.0) as client, \
                pytest.raises(LossProblem) as refused:
            client.health()
        assert refused.value.status == 503
        assert sleeps == [], "a Retry-After beyond the budget is not waited for"
    finally:
        server.shutdown()


def test_shape_errors_are_caught_before_sending(client):
    with pytest.raises(ValueError, match="mask or labels go with per-token"):
        client.loss(np.array([-1.0]), np.array([-2.0]), chosen_mask=np.array([1]))
    with pytest.raises(ValueError, match="expected"):
        client.loss(np.zeros((1, 2, 3)), np.array([-2.0]))


def test_responses_are_not_compressed_by_default(server):
    """Tensors barely compress; on loopback or in a cluster gzip only costs time."""
    url, token = server
    chosen, mask = batch(9)
    body = {"chosen": side(chosen, mask), "rejected": side(chosen, mask)}
    with LossClient(url, token=token) as plain:
        sent = plain._headers["Accept-Encoding"]
    answer = requests.post(f"{url}/v1/loss", json=body, timeout=30,
                           headers={"Authorization": f"Bearer {token}", "Accept-Encoding": sent})
    assert sent == "identity" and "Content-Encoding" not in answer.headers
    with LossClient(url, token=token, compress_responses=True) as compressing:
        assert compressing._headers["Accept-Encoding"] == "gzip"
