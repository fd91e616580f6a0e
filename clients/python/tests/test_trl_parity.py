"""TRL's trainers and their Remote twins train the same tiny GPT-2 for 3 optimizer steps with
fixed seeds; the final parameters and every logged metric must agree to 1e-4 relative.

The model is built from a config with random initialisation and the tokenizer with the
`tokenizers` library, so nothing is downloaded. Plain SGD keeps each update linear in the
gradient, so the comparison measures the loss and its gradients, not an optimizer's
amplification of rounding in near-zero gradients.
"""
import math
import uuid

import pytest

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")

from datasets import Dataset  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from tokenizers.models import WordLevel  # noqa: E402
from tokenizers.pre_tokenizers import Whitespace  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402
from trl.experimental.cpo import CPOConfig, CPOTrainer  # noqa: E402
from trl.experimental.orpo import ORPOConfig, ORPOTrainer  # noqa: E402

from prefloss.trl import RemoteCPOTrainer, RemoteDPOTrainer, RemoteORPOTrainer  # noqa: E402

WORDS = ["the", "cat", "dog", "sat", "ran", "on", "mat", "fast", "slow", "a", "big", "small", "red", "blue", "home", "away"]
RELATIVE = 1e-4


def tokenizer():
    vocab = {word: index for index, word in enumerate(["<pad>", "<eos>", "<unk>"] + WORDS)}
    model = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    model.pre_tokenizer = Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=model, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")


def dataset():
    """Synthetic preferences: prompts and responses of varied lengths, so masks are ragged."""
    rows = {"prompt": [], "chosen": [], "rejected": []}
    for i in range(12):
        rows["prompt"].append(" ".join(WORDS[(i + k) % len(WORDS)] for k in range(2 + i % 3)))
        rows["chosen"].append(" " + " ".join(WORDS[(3 * i + k) % len(WORDS)] for k in range(1 + i % 4)))
        rows["rejected"].append(" " + " ".join(WORDS[(5 * i + 2 * k) % len(WORDS)] for k in range(1 + (i + 2) % 3)))
    return Dataset.from_dict(rows)


def model(vocab_size):
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=vocab_size, n_positions=64, n_embd=16, n_layer=2, n_head=2,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=1, eos_token_id=1, pad_token_id=0)
    return GPT2LMHeadModel(config)


def make_trainer(trainer_class, config_class, settings, tmp_path, **extra):
    tok = tokenizer()
    args = config_class(
        output_dir=str(tmp_path), report_to="none", use_cpu=True, bf16=False, seed=0, data_seed=0,
        max_steps=3, per_device_train_batch_size=4, learning_rate=0.5, optim="sgd", lr_scheduler_type="constant",
        logging_steps=1, save_strategy="no", disable_tqdm=True, **settings)
    if config_class is DPOConfig:
        extra["ref_model"] = model(len(tok))  # the same initialisation, frozen
    return trainer_class(model=model(len(tok)), args=args, train_dataset=dataset(), processing_class=tok, **extra)


def train(trainer_class, config_class, settings, tmp_path, **extra):
    trainer = make_trainer(trainer_class, config_class, settings, tmp_path, **extra)
    trainer.train()
    parameters = {name: value.detach().clone() for name, value in trainer.model.named_parameters()}
    logs = [{k: v for k, v in entry.items() if not k.startswith("train_") and k not in ("total_flos",)} for entry in trainer.state.log_history]
    return parameters, logs


def assert_same_training(local, remote):
    local_parameters, local_logs = local
    remote_parameters, remote_logs = remote
    for name, value in local_parameters.items():
        difference = (remote_parameters[name] - value).abs().max().item()
        assert difference <= RELATIVE * max(value.abs().max().item(), 1e-3), (name, difference)
    assert len(remote_logs) == len(local_logs)
    for step, (theirs, ours) in enumerate(zip(local_logs, remote_logs)):
        assert set(ours) == set(theirs), (step, set(ours) ^ set(theirs))
        for key, value in theirs.items():
            if isinstance(value, float) and math.isfinite(value):
                assert ours[key] == pytest.approx(value, rel=RELATIVE, abs=1e-6), (step, key, ours[key], value)
            else:
                assert ours[key] == value, (step, key)


def moved(parameters):
    """The training really trained: parameters moved from their initialisation."""
    initial = model(len(tokenizer())).state_dict()
    return max((value - initial[name]).abs().max().item() for name, value in parameters.items())


@pytest.mark.parametrize("settings", [
    {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, 0.3], "beta": 0.2},
    {"loss_type": "ipo", "beta": 0.5, "ld_alpha": 0.5},
], ids=["dpo-sigmoid+sft", "dpo-ipo-ld"])
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


def test_a_refused_batch_stops_training_with_the_servers_problem(client, tmp_path):
    from prefloss import LossProblem

    class Misconfigured(RemoteCPOTrainer):
        def loss_config(self):
            return {**super().loss_config(), "betta": 2.0}

    with pytest.raises(LossProblem) as refused:
        train(Misconfigured, CPOConfig, {"remove_unused_columns": False}, tmp_path, loss_client=client)
    assert refused.value.status == 422 and refused.value.pointers == ["/config/betta"]


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
    run id is kept. The server counts the trained batches under that name."""
    import requests

    from prefloss import LossClient

    url, token = server
    unique = uuid.uuid4().hex[:8]
    settings = {"remove_unused_columns": False, "run_name": f"cpo run #{unique}"}
    with LossClient(url, token=token) as named:
        train(RemoteCPOTrainer, CPOConfig, settings, tmp_path / "named", loss_client=named)
        assert named.run_id == f"cpo_run__{unique}"
    metrics = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10).text
    assert f'prefloss_run_batches_total{{run="cpo_run__{unique}"}} 3' in metrics

    with LossClient(url, token=token) as unnamed:
        make_trainer(RemoteORPOTrainer, ORPOConfig, {"remove_unused_columns": False}, tmp_path / "orpo output", loss_client=unnamed)
        assert unnamed.run_id == "orpo_output"
    with LossClient(url, token=token, run_id="mine") as own:
        make_trainer(RemoteDPOTrainer, DPOConfig, {"run_name": "theirs"}, tmp_path / "dpo", loss_client=own)
        assert own.run_id == "mine"
