"""TRL's trainers and their Remote twins train the same tiny GPT-2 for 3 optimizer steps with
fixed seeds; the final parameters and every logged metric must agree to 1e-4 relative.

The trainings are tiny_trl's; test_trl_distributed.py runs them under torch.distributed.
"""
import uuid

import pytest

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")

from tiny_trl import (  # noqa: E402
    assert_same_logs, assert_same_parameters, make_trainer, moved, parameter_differences, train, unpaired_dataset)
from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer  # noqa: E402
from trl.experimental.cpo import CPOConfig, CPOTrainer  # noqa: E402
from trl.experimental.orpo import ORPOConfig, ORPOTrainer  # noqa: E402

from prefloss.trl import RemoteCPOTrainer, RemoteDPOTrainer, RemoteKTOTrainer, RemoteORPOTrainer  # noqa: E402

RELATIVE = 1e-4


def assert_same_training(local, remote):
    assert_same_parameters(parameter_differences(local[0], remote[0]), RELATIVE)
    assert_same_logs(local[1], remote[1], RELATIVE)


@pytest.mark.parametrize("settings", [
    {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, 0.3], "beta": 0.2},
    {"loss_type": "ipo", "beta": 0.5, "ld_alpha": 0.5},
    {"loss_type": ["sigmoid", "bco_pair"], "loss_weights": [1.0, 0.5], "beta": 0.2, "use_weighting": True},
], ids=["dpo-sigmoid+sft", "dpo-ipo-ld", "dpo-wpo"])
def test_dpo(client, tmp_path, settings):
    local = train(DPOTrainer, DPOConfig, settings, tmp_path / "local")
    remote = train(RemoteDPOTrainer, DPOConfig, settings, tmp_path / "remote", loss_client=client)
    assert moved(local[0]) > 1e-3
    assert_same_training(local, remote)


def test_cpo_simpo_with_nll(client, tmp_path):
    settings = {"loss_type": "simpo", "cpo_alpha": 0.5, "simpo_gamma": 0.7, "beta": 2.0, "remove_unused_columns": False}
    local = train(CPOTrainer, CPOConfig, settings, tmp_path / "local")
    remote = train(RemoteCPOTrainer, CPOConfig, settings, tmp_path / "remote", loss_client=client)
    assert moved(local[0]) > 1e-3
    assert_same_training(local, remote)


def test_orpo(client, tmp_path):
    settings = {"beta": 0.25, "remove_unused_columns": False}
    local = train(ORPOTrainer, ORPOConfig, settings, tmp_path / "local")
    remote = train(RemoteORPOTrainer, ORPOConfig, settings, tmp_path / "remote", loss_client=client)
    assert moved(local[0]) > 1e-3
    assert_same_training(local, remote)


#: KTO's micro-batches of 2: all desirable, all undesirable, then mixed; an evaluation's last batch of 1.
KTO_TRAIN_LABELS = [True, True, False, False, True, False, False, True, True, True, False, True]
KTO_EVAL_LABELS = [True, False, False, True, True]


@pytest.mark.parametrize("variant", [
    {"loss_type": "kto"}, {"loss_type": "apo_zero_unpaired"}, {"loss_type": "kto", "precompute_ref_log_probs": True},
], ids=["kto", "apo_zero_unpaired", "kto-precomputed-references"])
def test_kto(client, tmp_path, variant):
    """Accumulated steps whose micro-batches lack one side or the other, evaluated after steps 2 and 3."""
    settings = {"beta": 0.3, "desirable_weight": 1.5, "undesirable_weight": 0.8, "per_device_train_batch_size": 2,
                "gradient_accumulation_steps": 2, "per_device_eval_batch_size": 2, "eval_strategy": "steps",
                "eval_steps": 2, **variant}
    data = dict(train_dataset=unpaired_dataset(KTO_TRAIN_LABELS),
                eval_dataset=unpaired_dataset(KTO_EVAL_LABELS, offset=len(KTO_TRAIN_LABELS)))
    local = train(KTOTrainer, KTOConfig, settings, tmp_path / "local", **data)
    remote = train(RemoteKTOTrainer, KTOConfig, settings, tmp_path / "remote", loss_client=client, **data)
    assert moved(local[0]) > 1e-3
    assert sum("eval_kl" in entry for entry in local[1]) == 2, local[1]
    assert_same_training(local, remote)


def test_a_refused_batch_stops_training_with_the_servers_problem(client, tmp_path):
    from prefloss import LossProblem

    class Misconfigured(RemoteCPOTrainer):
        def loss_config(self):
            return {**super().loss_config(), "betta": 2.0}

    with pytest.raises(LossProblem) as refused:
        train(Misconfigured, CPOConfig, {"remove_unused_columns": False}, tmp_path, loss_client=client)
    assert refused.value.status == 422 and refused.value.pointers == ["/config/betta"]


def test_a_training_again_after_a_failed_step_counts_its_micro_batches_afresh(capturing, tmp_path):
    from prefloss import LossProblem

    client, handler = capturing  # refuses every batch
    settings = {"remove_unused_columns": False, "gradient_accumulation_steps": 2}
    trainer = make_trainer(RemoteCPOTrainer, CPOConfig, settings, tmp_path, loss_client=client)
    for _ in range(2):
        with pytest.raises(LossProblem):
            trainer.train()
    sent = [(headers["X-Run-Step"], headers["X-Run-Part"]) for headers in handler.headers_sent]
    assert sent == [("0", "0/1 0/2")] * 2


def test_an_unreachable_server_stops_training_within_the_retry_budget(tmp_path):
    from prefloss_process import reserved_port

    from prefloss import LossClient, LossConnectionError

    # The retry budget's own timing is a bound `make limits` reports; here, that training stops.
    with reserved_port(listening=False) as port, \
            LossClient(f"http://127.0.0.1:{port}", retries=10, backoff=0.05, retry_budget=1.0) as unreachable, \
            pytest.raises(LossConnectionError):
        train(RemoteORPOTrainer, ORPOConfig, {"remove_unused_columns": False}, tmp_path, loss_client=unreachable)


def test_the_trainer_names_the_clients_run(server, tmp_path):
    """The run id is the run's name made to fit, else the output folder's name; a client's own
    run id is kept. The server counts the trained steps under that name."""
    import requests

    from prefloss import LossClient

    url, token = server
    unique = uuid.uuid4().hex[:8]
    settings = {"remove_unused_columns": False, "run_name": f"cpo run #{unique}"}
    with LossClient(url, token=token) as named:
        train(RemoteCPOTrainer, CPOConfig, settings, tmp_path / "named", loss_client=named)
        assert named.run_id == f"cpo_run__{unique}"
    metrics = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10).text
    assert f'prefloss_run_steps_total{{run="cpo_run__{unique}",phase="train"}} 3' in metrics

    with LossClient(url, token=token) as unnamed:
        make_trainer(RemoteORPOTrainer, ORPOConfig, {"remove_unused_columns": False}, tmp_path / "orpo output", loss_client=unnamed)
        assert unnamed.run_id == "orpo_output"
    with LossClient(url, token=token, run_id="mine") as own:
        make_trainer(RemoteDPOTrainer, DPOConfig, {"run_name": "theirs"}, tmp_path / "dpo", loss_client=own)
        assert own.run_id == "mine"
