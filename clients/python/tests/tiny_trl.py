"""The trainings that TRL's trainers and their Remote twins are compared on: a tiny GPT-2 with
random initialisation, a word-level tokenizer and synthetic preferences, so nothing is
downloaded. Plain SGD keeps each update linear in the gradient, so a comparison measures the loss
and its gradients, not an optimizer's amplification of rounding in near-zero gradients. Shared by
the one-process tests and the script that `torchrun` runs for the distributed ones."""
import math

import torch
from datasets import Dataset
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
from trl import DPOConfig, KTOConfig

WORDS = ["the", "cat", "dog", "sat", "ran", "on", "mat", "fast", "slow", "a", "big", "small", "red", "blue", "home",
         "away"]
#: Logged keys that measure time, not training.
_TIMINGS = ("_runtime", "_per_second")


def tokenizer():
    vocab = {word: index for index, word in enumerate(["<pad>", "<eos>", "<unk>"] + WORDS)}
    model = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    model.pre_tokenizer = Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=model, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")


def dataset(size=12, offset=0):
    """Synthetic preferences: prompts and responses of varied lengths, so masks are ragged."""
    rows = {"prompt": [], "chosen": [], "rejected": []}
    for i in range(offset, offset + size):
        rows["prompt"].append(" ".join(WORDS[(i + k) % len(WORDS)] for k in range(2 + i % 3)))
        rows["chosen"].append(" " + " ".join(WORDS[(3 * i + k) % len(WORDS)] for k in range(1 + i % 4)))
        rows["rejected"].append(" " + " ".join(WORDS[(5 * i + 2 * k) % len(WORDS)] for k in range(1 + (i + 2) % 3)))
    return Dataset.from_dict(rows)


def unpaired_dataset(labels, offset=0):
    """Synthetic unpaired completions (KTO's), desirable where `labels` says True, in that order."""
    paired = dataset(len(labels), offset)
    completions = [row["chosen" if label else "rejected"] for row, label in zip(paired, labels)]
    return Dataset.from_dict({"prompt": paired["prompt"], "completion": completions, "label": list(labels)})


def model(vocab_size):
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=vocab_size, n_positions=64, n_embd=16, n_layer=2, n_head=2,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=1, eos_token_id=1, pad_token_id=0)
    return GPT2LMHeadModel(config)


def make_trainer(trainer_class, config_class, settings, output_dir, train_dataset=None, eval_dataset=None, **extra):
    """A trainer of 3 SGD steps of batches of 4 on `train_dataset` (else `dataset()`), logging every
    step; `settings` adds to or overrides its config."""
    tok = tokenizer()
    defaults = dict(
        output_dir=str(output_dir), report_to="none", use_cpu=True, bf16=False, seed=0, data_seed=0,
        max_steps=3, per_device_train_batch_size=4, learning_rate=0.5, optim="sgd", lr_scheduler_type="constant",
        logging_steps=1, save_strategy="no", disable_tqdm=True)
    args = config_class(**{**defaults, **settings})
    if config_class in (DPOConfig, KTOConfig):
        extra["ref_model"] = model(len(tok))  # the same initialisation, frozen
    train_dataset = dataset() if train_dataset is None else train_dataset
    return trainer_class(model=model(len(tok)), args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                         processing_class=tok, **extra)


def parameters_and_logs(trainer):
    """The trained parameters, and the log history without its timings and totals."""
    parameters = {name: value.detach().clone() for name, value in trainer.model.named_parameters()}
    logs = [{key: value for key, value in entry.items()
             if not key.startswith("train_") and key != "total_flos" and not key.endswith(_TIMINGS)}
            for entry in trainer.state.log_history]
    return parameters, logs


def train(trainer_class, config_class, settings, output_dir, **extra):
    trainer = make_trainer(trainer_class, config_class, settings, output_dir, **extra)
    trainer.train()
    return parameters_and_logs(trainer)


def parameter_differences(local_parameters, remote_parameters):
    """Each parameter's largest absolute difference, and the scale a relative bound applies to."""
    return {name: ((remote_parameters[name] - value).abs().max().item(), max(value.abs().max().item(), 1e-3))
            for name, value in local_parameters.items()}


def assert_same_parameters(differences, relative):
    for name, (difference, scale) in differences.items():
        assert difference <= relative * scale, (name, difference, scale)


def assert_same_logs(local_logs, remote_logs, relative):
    """The same entries with the same keys; numbers to `relative` (1e-6 absolute near zero)."""
    assert len(remote_logs) == len(local_logs)
    for step, (theirs, ours) in enumerate(zip(local_logs, remote_logs)):
        assert set(ours) == set(theirs), (step, set(ours) ^ set(theirs))
        for key, value in theirs.items():
            if isinstance(value, float) and math.isfinite(value):
                assert abs(ours[key] - value) <= max(relative * abs(value), 1e-6), (step, key, ours[key], value)
            else:
                assert ours[key] == value, (step, key)


def moved(parameters):
    """How far training moved the parameters from their initialisation."""
    initial = model(len(tokenizer())).state_dict()
    return max((value - initial[name]).abs().max().item() for name, value in parameters.items())
