"""X-Run-Id: the client sends its run id with every loss request; the server follows the run's trend."""
import uuid

import numpy as np
import pytest

from prefloss import LossClient, LossProblem, sanitize_run_id

#: Batches the server's trend warnings look back over (its default).
HISTORY = 8
TREND_CODES = {"chosen_logps_falling", "rewards_collapse", "loss_stuck"}


def test_sanitize_run_id_fits_any_name_to_the_grammar():
    assert sanitize_run_id("exp-1.2_a:b/c") == "exp-1.2_a:b/c"
    assert sanitize_run_id("my run #3 (β=2)") == "my_run__3____2_"
    assert sanitize_run_id("x" * 100) == "x" * 64
    with pytest.raises(ValueError):
        sanitize_run_id("")


def send(client):
    with pytest.raises(LossProblem):
        client.loss(np.array([-1.0]), np.array([-2.0]))


def test_the_run_id_goes_with_every_loss_request(capturing):
    client, handler = capturing
    client.run_id = "first"
    send(client)
    client.run_id = "second"
    send(client)
    client.run_id = None
    send(client)
    assert [headers.get("X-Run-Id") for headers in handler.headers_sent] == ["first", "second", None]


def drifting_batch(step: int, rng: np.random.Generator):
    """8 pairs × 64 tokens whose chosen log-probs fall each step while the margin grows."""
    chosen = -1.0 - 0.05 * step + 0.01 * rng.standard_normal((8, 64))
    rejected = chosen - 0.3 - 0.1 * step
    return chosen.astype(np.float32), rejected.astype(np.float32)


def test_a_drifting_run_gets_trend_warnings(server):
    url, token = server
    rng = np.random.default_rng(0)
    codes = []
    with LossClient(url, token=token, run_id=f"trend-{uuid.uuid4().hex}") as client:
        for step in range(HISTORY + 2):
            result = client.loss(*drifting_batch(step, rng))
            codes.append({warning["code"] for warning in result.warnings})
    assert not codes[0] & TREND_CODES, "one batch has no trend"
    assert "chosen_logps_falling" in codes[-1], codes
    assert "loss_stuck" not in codes[-1], codes


def test_without_a_run_id_there_is_no_trend(client):
    rng = np.random.default_rng(0)
    for step in range(HISTORY + 2):
        result = client.loss(*drifting_batch(step, rng))
    assert not {warning["code"] for warning in result.warnings} & TREND_CODES


@pytest.mark.parametrize("run_id", ["has space", "x" * 65, "semi;colon"])
def test_an_invalid_run_id_is_refused_with_400(server, run_id):
    url, token = server
    with LossClient(url, token=token, run_id=run_id) as client, pytest.raises(LossProblem) as refused:
        client.loss(np.array([-1.0]), np.array([-2.0]))
    assert refused.value.status == 400


def test_each_warning_code_is_logged_once(client, caplog):
    rng = np.random.default_rng(1)
    chosen, rejected = drifting_batch(0, rng)
    with caplog.at_level("WARNING", logger="prefloss"):
        first = client.loss(chosen, chosen)  # equal sides: a zero margin, below simpo's 0.5
        client.loss(chosen, chosen)
    codes = [record.getMessage().split()[2].rstrip(":") for record in caplog.records]
    assert "low_reward_margin" in {warning["code"] for warning in first.warnings}
    assert codes.count("low_reward_margin") == 1, codes
