"""Reference values for TRL's preference losses, computed by TRL's own code (trl==1.16.0) in float64.

What it calls
-------------
* DPO:  ``trl.DPOTrainer._compute_loss(model, inputs, return_outputs=False)`` (and, for the precomputed-reference
  path, ``DPOTrainer.compute_ref_log_probs``). The trainer is made with ``object.__new__(DPOTrainer)``; only the
  attributes ``_compute_loss`` reads are set, copied from a real ``DPOConfig`` the way ``DPOTrainer.__init__`` copies
  them (beta, precompute_ref_logps, loss_types, loss_weights, ld_alpha, f_divergence_type, f_alpha_divergence_coef,
  label_smoothing, use_weighting, aux_loss_enabled, router_aux_loss_coef, args, model, ref_model, accelerator,
  _metrics, _total_train_tokens, _tp_size). ``model``/``ref_model`` are stubs behaving like a model patched by
  ``trl.trainer.utils.add_fused_lm_head`` called with ``fused_lm_head=True``: they return a ``FusedCausalLMOutput``
  whose ``log_probs`` are the given per-token log-probs (float64 leaves with requires_grad) with
  ``masked_fill(labels[:, 1:] == -100, 0)`` -- exactly what the fused head does off-Triton. ``input_ids`` /
  ``completion_mask`` have one leading prompt column, so TRL's shift (``completion_mask[..., 1:]``) lands on the wire
  mask. With ``use_weighting`` (WPO) the policy stub also returns ``log_sum_sq_probs``, the wire's per-token
  ``log_sum_sq_probs`` of each policy side (a float64 leaf, ``masked_fill``-ed as the fused head does); its gradient
  is asserted to be None (TRL computes the weights under no_grad), and finite differences move each token's
  ``log_sum_sq_probs`` with its log-prob, which holds the weights fixed as TRL's autograd does.
* CPO / SimPO / AlphaPO: ``trl.experimental.cpo.CPOTrainer.get_batch_loss_metrics`` (-> ``concatenated_inputs``,
  ``concatenated_forward``, ``get_batch_logps``, ``cpo_loss``); ORPO: ``ORPOTrainer.get_batch_loss_metrics``
  (-> ``concatenated_forward``, ``get_batch_logps``, ``odds_ratio_loss``). These trainers take logits, so the stub
  model returns two-token logits ``[lp, log(1 - exp(lp))]`` whose log-softmax at label 0 is ``lp`` (to ~1e-16
  absolute: logsumexp of the pair is 0 up to rounding; e.g. -0.015 comes back as -0.01499999999999993), and
  labels/attention masks that select exactly the wire mask's tokens (a leading prompt column is shifted out).
  Trainer attributes set: beta, label_smoothing, loss_type, cpo_alpha, simpo_gamma, alpha (CPO); beta, padding_value
  (ORPO); and is_encoder_decoder=False, pad_token_id, aux_loss_enabled=False, accelerator.
* KTO: ``trl.KTOTrainer._compute_loss(model, inputs, return_outputs=False)`` on a labelled batch as TRL's
  collator gives it (``input_ids``/``attention_mask``/``completion_mask``, ``label``, and ``KL_input_ids``/
  ``KL_attention_mask``/``KL_completion_mask`` for loss type kto), with the trainer made as for DPO (beta,
  precompute_ref_logps, loss_type, desirable_weight, undesirable_weight, calculate_KL, ...). The stub model
  returns the completions' or the KL completions' per-token log-probs (told apart by the ``KL_input_ids`` tensor);
  references come from a reference-model stub (per-token) or, for sequence references, from TRL's own
  ``KTOTrainer.compute_ref_log_probs`` on the per-token ones (precompute path: ``ref_logps``, ``ref_KL_logps``), and
  the two paths are asserted to agree. The wire form splits the completions by label: desirable -> ``chosen``,
  undesirable -> ``rejected`` (either may be empty), KL completions -> ``kl``/``reference_kl``. For the
  "gathered over ranks" cases the accelerator stub's ``gather_for_metrics`` returns, at TRL's KL line only, this
  rank's KL followed by given other ranks' KLs, and the wire sends ``kl_value`` = the mean of that gathered tensor
  (what a caller gathering the KL itself sends). Gradients w.r.t. the KL completions are asserted to be None (TRL
  computes them under no_grad); finite differences move only the completions' tokens.
* Every valid config is also passed to the REAL ``DPOTrainer/CPOTrainer/ORPOTrainer/KTOTrainer.__init__`` (tiny
  random Llama and an in-memory word-level tokenizer, offline) and the stub's attributes are asserted equal to the
  real trainer's. Refusals are the exceptions raised by TRL itself (config ``__post_init__``, trainer ``__init__``
  or, where TRL validates nothing earlier, the loss function), and TRL's logged warnings are recorded with the case.
* Per-pair values (per_sequence_loss, chosen_logps, ...) are read from the frames of TRL's functions with
  ``sys.settrace`` (observation only). Gradients are ``torch.autograd.grad`` of TRL's loss w.r.t. the per-token leaves.
  Every finite, kink-free case is checked against central finite differences of TRL's loss (h=1e-6).

Deviations from TRL-as-shipped, both needed to stay in float64, both flagged in the case's ``notes``:
* ``odds_ratio_loss`` calls ``.float()`` (float32); it runs with ``Tensor.float`` made the identity on float64 tensors.
  The as-shipped (float32) loss is recorded in ``notes.loss_as_shipped_float32_cast``.
* f_divergence_type='alpha_divergence' (coef != 1) computes exp() on ``.float()`` copies and looks up ``clamp_max``
  in a dict with no float64 key, so float64 input raises ``KeyError: torch.float64``. Those cases run a copy of
  ``_compute_loss`` whose source has that dict extended with ``torch.float64: 80.0`` (same clamp as float32; never
  active for these inputs), with ``Tensor.float`` the identity on float64 as above. The as-shipped error and the
  as-shipped float32 loss are recorded in ``notes``.

Output (JSON, one case per line): a list of cases
  {"name", "objective": "dpo"|"cpo"|"orpo"|"kto", "config": {TRL keys after __post_init__/__init__, defaults filled},
   "config_given": {what was passed}, "trl_call": {...}, "inputs": {"chosen": {"per_token_logps", "mask"},
   "rejected": {...}, "reference_chosen": {"logps"} or {"per_token_logps", "mask"}, "reference_rejected": ...,
   and for kto "kl", "reference_kl" or "kl_value"},
   "expected": {"loss", "losses"?, "per_sequence_loss"?, "metrics": {TRL names}, "chosen_logps", ...,
                "grads": {"chosen_per_token_logps", "rejected_per_token_logps", "chosen_logps"?, "rejected_logps"?}},
   "kink"?, "fd_checked", "trl_warnings"?, "notes"?}
  or a refusal {"name", "objective", "config", "config_given", "error": {"key", "message", "exception",
  "raised_in"}}.
  DPO ``config.loss_type`` is TRL's list form and ``loss_weights`` the weights the trainer uses ([1.0]*n when unset);
  ``config_given`` keeps the string form. ``losses`` are per-pair losses (sum over loss types of weight x
  per_sequence_loss, so mean(losses) == loss) and are omitted when a loss type (aot, aot_unpaired) sorts the batch,
  whose per_sequence_loss is per rank, not per pair; for kto, ``losses`` is TRL's weighted per-completion losses
  (desirable then undesirable) and ``metrics`` holds only what KTOTrainer logged (no side it lacks). Non-finite
  numbers are the strings "Infinity", "-Infinity", "NaN". Metrics that only describe the stub model (entropy,
  logits/*, mean_token_accuracy, num_tokens) are omitted.

Run (requires trl==1.16.0 and torch; CPU is enough; ~20 s):
  /work/trl-venv/bin/python make_trl_reference.py OUT.json
"""

import contextlib
import copy
import dataclasses
import inspect
import json
import logging
import math
import os
import sys
import tempfile
import textwrap
import types
import warnings
from collections import defaultdict

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
warnings.filterwarnings("ignore")

import torch  # noqa: E402

import trl  # noqa: E402

assert trl.__version__ == "1.16.0", f"needs trl==1.16.0, found {trl.__version__}"

import datasets  # noqa: E402
from datasets import Dataset  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from tokenizers.models import WordLevel  # noqa: E402
from tokenizers.pre_tokenizers import Whitespace  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer  # noqa: E402
from trl.experimental.cpo import CPOConfig, CPOTrainer  # noqa: E402
from trl.experimental.orpo import ORPOConfig, ORPOTrainer  # noqa: E402
from trl.trainer import dpo_trainer as dpo_module  # noqa: E402
from trl.trainer import kto_trainer as kto_module  # noqa: E402
from trl.trainer.utils import FusedCausalLMOutput  # noqa: E402

datasets.disable_progress_bars()
hf_logging.set_verbosity_error()
torch.set_default_dtype(torch.float64)
torch.use_deterministic_algorithms(True)
F64 = torch.float64
H = 1e-6
FD_REL = 1e-6

# --------------------------------------------------------------------------------------------------------------------
# Real trainers (for refusals, warnings and the attribute cross-check)
# --------------------------------------------------------------------------------------------------------------------

_TMP = tempfile.mkdtemp(prefix="trl_ref_")
_COMMON_ARGS = dict(output_dir=_TMP, report_to="none", bf16=False, use_cpu=True)


class _WarningCollector(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages = []

    def emit(self, record):
        msg = record.getMessage()
        if msg.startswith("[RANK 0] "):
            msg = msg[len("[RANK 0] "):]
        if "remove_unused_columns" in msg:  # collator housekeeping, not about the loss
            return
        self.messages.append(msg)


_collector = _WarningCollector()
logging.getLogger("trl").addHandler(_collector)


def _tiny_model_and_tokenizer():
    vocab = {w: i for i, w in enumerate(["<pad>", "<eos>", "<unk>", "a", "b", "c", "d"])}
    tk = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, pad_token_id=0, eos_token_id=1, bos_token_id=1)
    model = LlamaForCausalLM(cfg).to(torch.float32)
    return model, tok


_MODEL, _TOK = _tiny_model_and_tokenizer()
_DS = Dataset.from_dict({"prompt": ["a b"], "chosen": [" c"], "rejected": [" d"]})
_UNPAIRED_DS = Dataset.from_dict({"prompt": ["a b", "a c"], "completion": [" c", " d"], "label": [True, False]})

CONFIG_CLASSES = {"dpo": DPOConfig, "cpo": CPOConfig, "orpo": ORPOConfig, "kto": KTOConfig}
TRAINER_CLASSES = {"dpo": DPOTrainer, "cpo": CPOTrainer, "orpo": ORPOTrainer, "kto": KTOTrainer}
CONFIG_KEYS = {
    "kto": ["loss_type", "beta", "desirable_weight", "undesirable_weight"],
    "dpo": ["loss_type", "loss_weights", "beta", "label_smoothing", "discopop_tau", "f_divergence_type",
            "f_alpha_divergence_coef", "ld_alpha", "use_weighting"],
    "cpo": ["loss_type", "beta", "label_smoothing", "cpo_alpha", "simpo_gamma", "alpha"],
    "orpo": ["beta"],
}
# The trainer attributes _compute_loss / get_batch_loss_metrics read that __init__ derives from the config.
CHECKED_ATTRS = {
    "kto": ["beta", "loss_type", "desirable_weight", "undesirable_weight", "calculate_KL",
            "aux_loss_enabled", "_tp_size"],
    "dpo": ["beta", "loss_types", "loss_weights", "ld_alpha", "f_divergence_type", "f_alpha_divergence_coef",
            "label_smoothing", "use_weighting", "aux_loss_enabled", "router_aux_loss_coef", "_tp_size"],
    "cpo": ["beta", "label_smoothing", "loss_type", "cpo_alpha", "alpha", "simpo_gamma", "aux_loss_enabled",
            "is_encoder_decoder", "pad_token_id"],
    "orpo": ["beta", "aux_loss_enabled", "is_encoder_decoder", "padding_value"],
}


def make_config(objective, given, **extra):
    kwargs = dict(_COMMON_ARGS, **extra, **given)
    if objective in ("cpo", "orpo"):
        kwargs.setdefault("remove_unused_columns", False)
    return CONFIG_CLASSES[objective](**kwargs)


def real_trainer(objective, given):
    """Build the real trainer (TRL's own validation). Returns (trainer or None, exception or None, warnings)."""
    _collector.messages = []
    try:
        args = make_config(objective, given)
        dataset = _UNPAIRED_DS if objective == "kto" else _DS
        kw = dict(model=copy.deepcopy(_MODEL), args=args, train_dataset=dataset, processing_class=_TOK)
        if objective in ("dpo", "kto"):
            kw["ref_model"] = copy.deepcopy(_MODEL)
        trainer = TRAINER_CLASSES[objective](**kw)
        return trainer, None, list(_collector.messages), "__init__"
    except Exception as e:  # noqa: BLE001 -- record whatever TRL raises
        tb = e.__traceback__
        where = None
        while tb is not None:
            name = tb.tb_frame.f_code.co_name
            if name == "__post_init__":
                where = f"{CONFIG_CLASSES[objective].__name__}.__post_init__"
            elif name == "__init__" and tb.tb_frame.f_locals.get("self").__class__ is TRAINER_CLASSES[objective]:
                where = f"{TRAINER_CLASSES[objective].__name__}.__init__"
            tb = tb.tb_next
        return None, e, list(_collector.messages), where


def config_record(objective, given, args=None, trainer=None):
    """TRL's values for the loss-relevant keys (after __post_init__ / __init__), defaults filled in."""
    out = {}
    fields = {f.name: f for f in dataclasses.fields(CONFIG_CLASSES[objective])}
    for key in CONFIG_KEYS[objective]:
        if args is not None:
            value = getattr(args, key)
        elif key in given:
            value = given[key]
        else:
            f = fields[key]
            value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        out[key] = value
    if objective == "dpo" and trainer is not None:
        out["loss_weights"] = list(trainer.loss_weights)
    return out


# --------------------------------------------------------------------------------------------------------------------
# Stubs
# --------------------------------------------------------------------------------------------------------------------


class AcceleratorStub:
    """Single process on CPU: gathers are the identity."""

    device = torch.device("cpu")

    def gather(self, tensor):
        return tensor

    def gather_for_metrics(self, tensor):
        return tensor

    def autocast(self):
        return contextlib.nullcontext()

    def unwrap_model(self, model):
        return model


class FusedLMStub:
    """A causal LM patched by trl.trainer.utils.add_fused_lm_head, called with fused_lm_head=True.

    ``per_token`` [2B, T] holds the next-token log-probs for positions 1..T (chosen rows then rejected rows).
    """

    training = True
    is_gradient_checkpointing = False

    def __init__(self, per_token, log_sum_sq=None):
        self.per_token = per_token
        self.log_sum_sq = log_sum_sq

    def __call__(self, input_ids=None, attention_mask=None, labels=None, fused_lm_head=False, use_cache=None, **kw):
        assert fused_lm_head and labels is not None and not kw, kw
        mask = labels[:, 1:] != -100
        assert mask.shape == self.per_token.shape
        log_probs = self.per_token.masked_fill(~mask, 0)  # add_fused_lm_head off-Triton: x.masked_fill(~mask, 0)
        log_sum_sq = None if self.log_sum_sq is None else self.log_sum_sq.masked_fill(~mask, 0)
        zeros = torch.zeros(mask.shape, dtype=self.per_token.dtype)
        return FusedCausalLMOutput(
            loss=-log_probs.sum() / mask.sum().clamp(min=1), log_probs=log_probs, entropy=zeros,
            log_sum_sq_probs=log_sum_sq, mean_logits=zeros, is_top1=torch.zeros_like(mask), label_mask=mask,
        )


class LogitsLMStub:
    """A causal LM returning logits [2B, T+1, 2] whose log-softmax at token 0, position t, is per_token[:, t]."""

    training = True

    def __init__(self, per_token):
        token = torch.stack([per_token, torch.log(-torch.expm1(per_token))], dim=-1)
        last = torch.zeros(per_token.size(0), 1, 2, dtype=per_token.dtype)
        self.logits = torch.cat([token, last], dim=1)

    def __call__(self, input_ids, attention_mask=None, use_cache=None, **kw):
        assert not kw and input_ids.shape == self.logits.shape[:2]
        return types.SimpleNamespace(logits=self.logits)


# --------------------------------------------------------------------------------------------------------------------
# Frame capture (observation of TRL's locals)
# --------------------------------------------------------------------------------------------------------------------


def _line_of(func, needle):
    lines, start = inspect.getsourcelines(func)
    hits = [start + i for i, line in enumerate(lines) if needle in line]
    assert len(hits) == 1, (func, needle, hits)
    return hits[0]


_DPO_LOSS_LINE = _line_of(DPOTrainer._compute_loss, "loss += per_sequence_loss.mean() * loss_weight")


@contextlib.contextmanager
def capture(code, line=None):
    """Record TRL's locals: at `line` (before it runs) and when the function returns."""
    rec = {"at_line": [], "at_return": None}

    def local(frame, event, arg):
        if event == "line" and frame.f_lineno == line:
            rec["at_line"].append(dict(frame.f_locals))
        elif event == "return":
            rec["at_return"] = dict(frame.f_locals)
        return local

    def glob(frame, event, arg):
        return local if frame.f_code is code else None

    old = sys.gettrace()
    sys.settrace(glob)
    try:
        yield rec
    finally:
        sys.settrace(old)


def _patched_compute_loss():
    """DPOTrainer._compute_loss with torch.float64 added to the alpha-divergence clamp table (see module doc)."""
    lines, start = inspect.getsourcelines(DPOTrainer._compute_loss)
    src = textwrap.dedent("".join(lines))
    old = "clamp_max = {torch.float16: 11.0, torch.bfloat16: 80.0, torch.float32: 80.0}[dtype]"
    new = "clamp_max = {torch.float16: 11.0, torch.bfloat16: 80.0, torch.float32: 80.0, torch.float64: 80.0}[dtype]"
    assert src.count(old) == 1
    src = "\n" * (start - 1) + src.replace(old, new)  # keep TRL's line numbers
    namespace = {}
    exec(compile(src, inspect.getsourcefile(DPOTrainer), "exec"), dict(vars(dpo_module)), namespace)
    return namespace["_compute_loss"]


PATCHED_COMPUTE_LOSS = _patched_compute_loss()


@contextlib.contextmanager
def float_keeps_float64():
    """Make Tensor.float() the identity on float64 tensors (ORPO's odds_ratio_loss casts to float32)."""
    original = torch.Tensor.float

    def _float(self, *args, **kwargs):
        return self if self.dtype == torch.float64 else original(self, *args, **kwargs)

    torch.Tensor.float = _float
    try:
        yield
    finally:
        torch.Tensor.float = original


# --------------------------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------------------------


def random_rows(gen, B, T, lo=-4.0, hi=-0.01, min_len=1):
    rows, masks = [], []
    for _ in range(B):
        length = int(torch.randint(min_len, T + 1, (1,), generator=gen))
        values = lo + (hi - lo) * torch.rand(length, generator=gen, dtype=F64)
        keep = (torch.rand(length, generator=gen, dtype=F64) < 0.75).long()
        if keep.sum() == 0:
            keep[int(torch.randint(0, length, (1,), generator=gen))] = 1
        rows.append([round(float(v), 4) for v in values])
        masks.append([int(k) for k in keep])
    return rows, masks


def near(gen, rows, spread=0.5, lo=-4.0, hi=-0.01):
    """Reference per-token log-probs near the policy's."""
    out = []
    for row in rows:
        noise = spread * (2 * torch.rand(len(row), generator=gen, dtype=F64) - 1)
        out.append([round(min(hi, max(lo, v + float(n))), 4) for v, n in zip(row, noise)])
    return out


def log_sum_sq(gen, rows):
    """Per-token log Σ_v p_v² a model could give: in [max(2 log p(token), log(1/32000)), 0], as Σ p² ≥ p(token)²."""
    out = []
    for row in rows:
        u = torch.rand(len(row), generator=gen, dtype=F64)
        out.append([round(max(2 * v, -10.37) * float(x), 4) for v, x in zip(row, u)])
    return out


def random_batch(seed, B, T, ref=None, min_len=1, weighting=False):
    gen = torch.Generator().manual_seed(seed)
    c_rows, c_mask = random_rows(gen, B, T, min_len=min_len)
    r_rows, r_mask = random_rows(gen, B, T, min_len=min_len)
    batch = {"chosen": {"per_token_logps": c_rows, "mask": c_mask},
             "rejected": {"per_token_logps": r_rows, "mask": r_mask}}
    if weighting:
        batch["chosen"]["log_sum_sq_probs"] = log_sum_sq(gen, c_rows)
        batch["rejected"]["log_sum_sq_probs"] = log_sum_sq(gen, r_rows)
    if ref is not None:
        batch["reference_chosen"] = {"per_token_logps": near(gen, c_rows), "mask": c_mask}
        batch["reference_rejected"] = {"per_token_logps": near(gen, r_rows), "mask": r_mask}
        if ref == "sequence":
            batch["_ref_to_sequence"] = True
    return batch


def padded(side_rows, side_masks, T, fill=-1.0):
    vals = torch.full((len(side_rows), T), fill, dtype=F64)
    mask = torch.zeros((len(side_rows), T), dtype=torch.long)
    lengths = []
    for i, (row, m) in enumerate(zip(side_rows, side_masks)):
        vals[i, : len(row)] = torch.tensor(row, dtype=F64)
        mask[i, : len(m)] = torch.tensor(m, dtype=torch.long)
        lengths.append(len(row))
    return vals, mask, lengths


class Batch:
    """The wire batch as padded tensors (T = longest row on either side)."""

    def __init__(self, wire):
        self.wire = wire
        c, r = wire["chosen"], wire["rejected"]
        self.B = len(c["per_token_logps"])
        assert len(r["per_token_logps"]) == self.B
        self.T = max(len(x) for x in c["per_token_logps"] + r["per_token_logps"])
        self.chosen, self.chosen_mask, self.chosen_len = padded(c["per_token_logps"], c["mask"], self.T)
        self.rejected, self.rejected_mask, self.rejected_len = padded(r["per_token_logps"], r["mask"], self.T)
        self.log_sum_sq = None
        if "log_sum_sq_probs" in c:
            self.log_sum_sq = (padded(c["log_sum_sq_probs"], c["mask"], self.T, fill=0.0)[0],
                               padded(r["log_sum_sq_probs"], r["mask"], self.T, fill=0.0)[0])
        self.ref_tokens = None
        self.ref_seq = None
        if "reference_chosen" in wire:
            rc, rr = wire["reference_chosen"], wire["reference_rejected"]
            if "logps" in rc:
                self.ref_seq = (torch.tensor(rc["logps"], dtype=F64), torch.tensor(rr["logps"], dtype=F64))
            else:
                assert rc["mask"] == c["mask"] and rr["mask"] == r["mask"]
                self.ref_tokens = torch.cat([padded(rc["per_token_logps"], rc["mask"], self.T)[0],
                                             padded(rr["per_token_logps"], rr["mask"], self.T)[0]])
        mask = torch.cat([self.chosen_mask, self.rejected_mask])  # [2B, T]
        lengths = torch.tensor(self.chosen_len + self.rejected_len)
        in_row = torch.arange(self.T).unsqueeze(0) < lengths.unsqueeze(1)
        first = torch.ones(2 * self.B, 1, dtype=torch.long)
        # One prompt column in front: TRL's shift (x[..., 1:]) maps position t+1 to the wire token t.
        self.completion_mask = torch.cat([torch.zeros_like(first), mask], dim=1)
        self.attention_mask = torch.cat([first, in_row.long()], dim=1)
        self.select_mask = torch.cat([first, mask], dim=1)  # attention for ORPO: its NLL runs over attended tokens
        self.input_ids = torch.full((2 * self.B, self.T + 1), 3, dtype=torch.long)

    def ragged(self, grad, which):
        lengths = self.chosen_len if which == "chosen" else self.rejected_len
        return [[float(x) for x in grad[i, :n]] for i, n in enumerate(lengths)]


# --------------------------------------------------------------------------------------------------------------------
# Runners: (batch, chosen values, rejected values) -> TRL's loss and what it exposes
# --------------------------------------------------------------------------------------------------------------------


def dpo_stub_trainer(args, model, ref_model):
    trainer = object.__new__(DPOTrainer)
    # As DPOTrainer.__init__ ("Training arguments" block and the attributes set after model preparation):
    trainer.args = args
    trainer.beta = args.beta
    trainer.precompute_ref_logps = args.precompute_ref_log_probs
    trainer.loss_types = args.loss_type
    trainer.loss_weights = args.loss_weights or [1.0] * len(trainer.loss_types)
    trainer.ld_alpha = args.ld_alpha
    trainer.f_divergence_type = args.f_divergence_type
    trainer.f_alpha_divergence_coef = args.f_alpha_divergence_coef
    trainer.label_smoothing = args.label_smoothing
    trainer.use_weighting = args.use_weighting
    trainer.aux_loss_enabled = False
    trainer.router_aux_loss_coef = 0.0
    trainer.model = model
    trainer.ref_model = ref_model
    trainer.accelerator = AcceleratorStub()
    trainer._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
    trainer._total_train_tokens = 0
    trainer._tp_size = 1
    return trainer


def run_dpo(spec, batch, chosen, rejected, observe=False, compute_loss=None, dtype=F64, log_sum_sq=None):
    """TRL's loss; ``log_sum_sq`` (chosen, rejected) replaces the batch's log Σ p² (WPO)."""
    given = spec["config"]
    precompute = batch.ref_tokens is None
    args = make_config("dpo", given, precompute_ref_log_probs=precompute)
    per_token = torch.cat([chosen, rejected]).to(dtype)
    log_sum_sq = log_sum_sq or batch.log_sum_sq
    policy = FusedLMStub(per_token, None if log_sum_sq is None else torch.cat(log_sum_sq).to(dtype))
    ref = None if precompute else FusedLMStub(batch.ref_tokens.to(dtype))
    trainer = dpo_stub_trainer(args, policy, ref)
    inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask,
              "completion_mask": batch.completion_mask}
    if precompute:
        inputs["ref_chosen_logps"], inputs["ref_rejected_logps"] = (x.to(dtype) for x in batch.ref_seq)
    fn = compute_loss or DPOTrainer._compute_loss
    # The alpha-divergence branch computes exp() on `.float()` copies; keep them float64 with the patched source.
    ctx = float_keeps_float64() if fn is PATCHED_COMPUTE_LOSS else contextlib.nullcontext()
    with ctx:
        if not observe:
            return fn(trainer, policy, inputs, False), None
        with capture(fn.__code__, _DPO_LOSS_LINE) as rec:
            loss = fn(trainer, policy, inputs, False)
    return loss, (trainer, rec)


def dpo_reference_through_precompute(spec, batch):
    """TRL's precompute path for per-token references: compute_ref_log_probs, then _compute_loss with them."""
    args = make_config("dpo", spec["config"], precompute_ref_log_probs=True)
    ref = FusedLMStub(batch.ref_tokens)
    trainer = dpo_stub_trainer(args, ref, None)
    inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask,
              "completion_mask": batch.completion_mask}
    return trainer.compute_ref_log_probs(ref, inputs)


def cpo_stub_trainer(objective, args, trainer_cls):
    trainer = object.__new__(trainer_cls)
    trainer.args = args
    trainer.beta = args.beta
    trainer.is_encoder_decoder = False
    trainer.aux_loss_enabled = False
    trainer.aux_loss_coef = 0.0
    trainer.accelerator = AcceleratorStub()
    trainer._peft_has_been_casted_to_bf16 = False
    if objective == "cpo":  # as CPOTrainer.__init__
        trainer.pad_token_id = 0
        trainer.label_smoothing = args.label_smoothing
        trainer.loss_type = args.loss_type
        trainer.cpo_alpha = args.cpo_alpha
        if args.loss_type == "simpo":
            trainer.simpo_gamma = args.simpo_gamma
        trainer.alpha = args.alpha
    else:  # as ORPOTrainer.__init__
        trainer.padding_value = args.padding_value if args.padding_value is not None else 0
    return trainer


def cpo_batch(batch):
    B = batch.B
    labels = batch.input_ids.clone().fill_(0).masked_fill(batch.completion_mask == 0, -100)
    out = {}
    for side, sl in (("chosen", slice(0, B)), ("rejected", slice(B, 2 * B))):
        out[f"{side}_input_ids"] = torch.zeros_like(batch.input_ids[sl])  # token 0 is the scored token
        out[f"{side}_attention_mask"] = batch.select_mask[sl]
        out[f"{side}_labels"] = labels[sl]
    return out


def run_cpo_like(objective, spec, batch, chosen, rejected, observe=False, as_shipped=False):
    args = make_config(objective, spec["config"])
    trainer_cls = CPOTrainer if objective == "cpo" else ORPOTrainer
    trainer = cpo_stub_trainer(objective, args, trainer_cls)
    model = LogitsLMStub(torch.cat([chosen, rejected]))
    loss_fn = trainer_cls.cpo_loss if objective == "cpo" else trainer_cls.odds_ratio_loss
    ctx = contextlib.nullcontext() if (objective == "cpo" or as_shipped) else float_keeps_float64()
    with ctx:
        if not observe:
            return trainer.get_batch_loss_metrics(model, cpo_batch(batch), train_eval="train")[0], None
        with capture(loss_fn.__code__) as rec:
            loss, metrics = trainer.get_batch_loss_metrics(model, cpo_batch(batch), train_eval="train")
    return loss, (trainer, rec, metrics)


# --------------------------------------------------------------------------------------------------------------------
# Case evaluation
# --------------------------------------------------------------------------------------------------------------------

DPO_METRICS = ["rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen",
               "logps/rejected"]
CPO_METRICS = DPO_METRICS + ["nll_loss"]
ORPO_METRICS = CPO_METRICS + ["log_odds_ratio", "log_odds_chosen"]


def floats(t):
    return [float(x) for x in t.detach().reshape(-1)]


def gradients(batch, grads, wants_seq):
    """The `grads` of a case: per-token rows, and the sequence gradients when the loss sees the
    tokens only through the sequence log-probs."""
    result = {"chosen_per_token_logps": batch.ragged(grads[0], "chosen"),
              "rejected_per_token_logps": batch.ragged(grads[1], "rejected")}
    if wants_seq:
        result["chosen_logps"] = floats(grads[2])
        result["rejected_logps"] = floats(grads[3])
    return result


def finite_difference(run, batch, chosen, rejected):
    """Central differences of TRL's loss w.r.t. every token inside the rows (padding excluded)."""
    out = {}
    for which, base, lengths in (("chosen", chosen, batch.chosen_len), ("rejected", rejected, batch.rejected_len)):
        g = torch.zeros_like(base)
        for i, n in enumerate(lengths):
            for j in range(n):
                vals = []
                for sign in (1, -1):
                    moved = base.clone()
                    moved[i, j] += sign * H
                    args = (moved, rejected) if which == "chosen" else (chosen, moved)
                    with torch.no_grad():
                        vals.append(float(run(*args)))
                g[i, j] = (vals[0] - vals[1]) / (2 * H)
        out[which] = g
    return out


FD_STATS = {"cases": 0, "values": 0, "max_rel": 0.0, "max_abs": 0.0}


def check_fd(name, run, batch, chosen, rejected, grads, loss):
    fd = finite_difference(run, batch, chosen, rejected)
    floor = 1e-9 * max(1.0, abs(loss))  # rounding of the differences: ~eps*|loss|/h
    for which in ("chosen", "rejected"):
        for i, n in enumerate(batch.chosen_len if which == "chosen" else batch.rejected_len):
            for j in range(n):
                a, f = float(grads[which][i, j]), float(fd[which][i, j])
                err = abs(a - f)
                assert err <= FD_REL * abs(a) + floor, (name, which, i, j, a, f)
                FD_STATS["values"] += 1
                FD_STATS["max_abs"] = max(FD_STATS["max_abs"], err)
                if abs(a) > 1e-3:
                    FD_STATS["max_rel"] = max(FD_STATS["max_rel"], err / abs(a))
    FD_STATS["cases"] += 1


def wire_inputs(batch, ref_seq_values=None):
    w = batch.wire
    out = {"chosen": w["chosen"], "rejected": w["rejected"]}
    if "reference_chosen" in w:
        if ref_seq_values is not None:
            out["reference_chosen"] = {"logps": ref_seq_values[0]}
            out["reference_rejected"] = {"logps": ref_seq_values[1]}
        else:
            out["reference_chosen"] = w["reference_chosen"]
            out["reference_rejected"] = w["reference_rejected"]
    return out


def check_attrs(objective, stub, real):
    for attr in CHECKED_ATTRS[objective]:
        if attr == "simpo_gamma" and not hasattr(real, attr):
            assert not hasattr(stub, attr)
            continue
        a, b = getattr(stub, attr), getattr(real, attr)
        assert a == b, (objective, attr, a, b)
    if objective == "dpo":
        assert stub.args.discopop_tau == real.args.discopop_tau
        assert real._total_train_tokens == 0  # the stub starts at 0 too (its count then grows with the call)


def evaluate_dpo(spec):
    batch = Batch(spec["inputs"])
    real, err, logged, _ = real_trainer("dpo", spec["config"])
    assert err is None, err
    ref_seq_values = None
    if spec["inputs"].get("_ref_to_sequence"):
        # Sequence references come out of TRL's own precompute path (compute_ref_log_probs) on the per-token ones.
        rc, rr = dpo_reference_through_precompute(spec, batch)
        batch.ref_seq, batch.ref_tokens = (rc, rr), None
        ref_seq_values = (floats(rc), floats(rr))
    compute_loss = PATCHED_COMPUTE_LOSS if spec.get("patch_alpha") else None
    chosen = batch.chosen.clone().requires_grad_(True)
    rejected = batch.rejected.clone().requires_grad_(True)
    leaves = None
    if batch.log_sum_sq is not None:
        leaves = tuple(x.clone().requires_grad_(True) for x in batch.log_sum_sq)
    loss, (trainer, rec) = run_dpo(spec, batch, chosen, rejected, observe=True, compute_loss=compute_loss,
                                   log_sum_sq=leaves)
    check_attrs("dpo", trainer, real)
    if leaves is not None:
        # TRL computes WPO's weights under no_grad: nothing flows back into log Σ p².
        assert trainer.use_weighting
        assert torch.autograd.grad(loss, leaves, retain_graph=True, allow_unused=True) == (None, None)
    final = rec["at_return"]
    seq_inputs = [final["chosen_logps"], final["rejected_logps"]]
    wants_seq = "sft" not in trainer.loss_types
    grads = torch.autograd.grad(loss, [chosen, rejected] + (seq_inputs if wants_seq else []), allow_unused=True)
    grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads, [chosen, rejected] + seq_inputs)]
    expected = {"loss": float(loss)}
    per_type = {}
    for frame in rec["at_line"]:
        per_type.setdefault(frame["loss_type"], (frame["loss_weight"], frame["per_sequence_loss"].detach()))
    assert [t for t in per_type] == list(dict.fromkeys(trainer.loss_types))
    if not any(t in ("aot", "aot_unpaired") for t in per_type):
        pair = sum(w * psl for w, psl in per_type.values())
        expected["losses"] = floats(pair)
    expected["per_sequence_loss"] = {t: floats(psl) for t, (w, psl) in per_type.items()}
    metrics = trainer._metrics["train"]
    expected["metrics"] = {k: metrics[k][0] for k in DPO_METRICS}
    for key, local in (("chosen_logps", "chosen_logps"), ("rejected_logps", "rejected_logps"),
                       ("reference_chosen_logps", "ref_chosen_logps"),
                       ("reference_rejected_logps", "ref_rejected_logps"),
                       ("chosen_rewards", "chosen_rewards"), ("rejected_rewards", "rejected_rewards")):
        expected[key] = floats(final[local])
    expected["grads"] = gradients(batch, grads, wants_seq)
    notes = dict(spec.get("notes", {}))
    if batch.ref_tokens is not None:
        # TRL's two reference paths agree: reference model in _compute_loss vs compute_ref_log_probs + precompute.
        rc, rr = dpo_reference_through_precompute(spec, batch)
        saved = batch.ref_tokens
        batch.ref_seq, batch.ref_tokens = (rc, rr), None
        with torch.no_grad():
            other, _ = run_dpo(spec, batch, batch.chosen, batch.rejected, compute_loss=compute_loss)
        batch.ref_seq, batch.ref_tokens = None, saved
        same = (math.isnan(float(other)) and math.isnan(float(loss))) or float(other) == float(loss)
        assert same or abs(float(other) - float(loss)) <= 1e-15 * abs(float(loss)), (spec["name"], other, loss)
    if spec.get("patch_alpha"):
        try:
            run_dpo(spec, batch, batch.chosen, batch.rejected)
            raise AssertionError("expected TRL's float64 KeyError")
        except KeyError as e:
            notes["as_shipped_float64"] = f"KeyError: {e}"
        with torch.no_grad():
            b32 = Batch(spec["inputs"])
            b32.ref_seq = batch.ref_seq
            b32.ref_tokens = None if batch.ref_tokens is None else batch.ref_tokens.float()
            if b32.ref_seq is not None:
                b32.ref_seq = tuple(x.float() for x in b32.ref_seq)
            l32, _ = run_dpo(spec, b32, batch.chosen.float(), batch.rejected.float(), dtype=torch.float32)
        notes["as_shipped_float32_loss"] = float(l32)
        notes["trl_patch"] = ("_compute_loss run from TRL's source with torch.float64: 80.0 added to the alpha-"
                              "divergence clamp_max table, and Tensor.float() the identity on float64 (as shipped, "
                              "the branch computes exp() in float32 and casts back)")
    finite = all(math.isfinite(x) for x in [float(loss)] + floats(grads[0]) + floats(grads[1]))
    fd = finite and not spec.get("kink")
    if fd:
        def run(c, r):
            # WPO: log Σ p² moves with each token's log-prob, holding the weights as TRL's autograd does.
            moved = None if batch.log_sum_sq is None else (
                batch.log_sum_sq[0] + (c - batch.chosen), batch.log_sum_sq[1] + (r - batch.rejected))
            return run_dpo(spec, batch, c, r, compute_loss=compute_loss, log_sum_sq=moved)[0]
        check_fd(spec["name"], run, batch, batch.chosen, batch.rejected,
                 {"chosen": grads[0], "rejected": grads[1]}, float(loss))
    trl_call = {"method": "DPOTrainer._compute_loss",
                "reference": "precomputed ref_chosen_logps/ref_rejected_logps" if batch.ref_tokens is None
                else "ref_model forward (per-token)"}
    return dict(config=config_record("dpo", spec["config"], trainer.args, trainer), trl_call=trl_call,
                inputs=wire_inputs(batch, ref_seq_values), expected=expected, fd_checked=fd, warnings=logged,
                notes=notes)


def evaluate_cpo_like(objective, spec):
    batch = Batch(spec["inputs"])
    real, err, logged, _ = real_trainer(objective, spec["config"])
    assert err is None, err
    chosen = batch.chosen.clone().requires_grad_(True)
    rejected = batch.rejected.clone().requires_grad_(True)
    loss, (trainer, rec, metrics) = run_cpo_like(objective, spec, batch, chosen, rejected, observe=True)
    check_attrs(objective, trainer, real)
    frame = rec["at_return"]
    c_seq, r_seq = frame["policy_chosen_logps"], frame["policy_rejected_logps"]
    wants_seq = objective == "cpo" and trainer.cpo_alpha == 0
    inputs = [chosen, rejected] + ([c_seq, r_seq] if wants_seq else [])
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs)]
    expected = {"loss": float(loss)}
    if objective == "cpo":
        expected["losses"] = floats(frame["losses"])
    else:
        expected["odds_ratio_losses"] = floats(frame["losses"])
        expected["log_odds"] = floats(frame["log_odds"])
    expected["metrics"] = {k: metrics[k] for k in (CPO_METRICS if objective == "cpo" else ORPO_METRICS)}
    expected["chosen_logps"] = floats(c_seq)
    expected["rejected_logps"] = floats(r_seq)
    expected["chosen_rewards"] = floats(frame["chosen_rewards"])
    expected["rejected_rewards"] = floats(frame["rejected_rewards"])
    expected["grads"] = gradients(batch, grads, wants_seq)
    notes = dict(spec.get("notes", {}))
    if objective == "orpo":
        with torch.no_grad():
            shipped, _ = run_cpo_like(objective, spec, batch, batch.chosen, batch.rejected, as_shipped=True)
        notes["trl_patch"] = "odds_ratio_loss run with Tensor.float() the identity on float64 (as shipped: float32)"
        notes["loss_as_shipped_float32_cast"] = float(shipped)
    finite = all(math.isfinite(x) for x in [float(loss)] + floats(grads[0]) + floats(grads[1]))
    fd = finite and not spec.get("kink")
    if fd:
        def run(c, r):
            return run_cpo_like(objective, spec, batch, c, r)[0]
        check_fd(spec["name"], run, batch, batch.chosen, batch.rejected,
                 {"chosen": grads[0], "rejected": grads[1]}, float(loss))
    method = "CPOTrainer.get_batch_loss_metrics" if objective == "cpo" else "ORPOTrainer.get_batch_loss_metrics"
    return dict(config=config_record(objective, spec["config"], trainer.args), trl_call={"method": method},
                inputs=wire_inputs(batch), expected=expected, fd_checked=fd, warnings=logged, notes=notes)


# --------------------------------------------------------------------------------------------------------------------
# KTO: unpaired completions with labels, KL completions, TRL's own _compute_loss
# --------------------------------------------------------------------------------------------------------------------

_KTO_KL_GATHER_LINE = _line_of(KTOTrainer._compute_loss, "kl = self.accelerator.gather_for_metrics(kl).mean()")
KTO_METRICS = ["kl", "rewards/chosen", "rewards/rejected", "rewards/margins", "logps/chosen", "logps/rejected"]


class KTOAcceleratorStub(AcceleratorStub):
    """One rank of several for the KL gather only: at TRL's KL line, gather_for_metrics returns this rank's KL
    followed by `other_ranks` (the other ranks' per-rank KL means); every other gather is the identity."""

    def __init__(self, other_ranks=()):
        self.other_ranks = [float(x) for x in other_ranks]
        self.gathered_kl = None

    def gather_for_metrics(self, tensor):
        caller = sys._getframe(1)
        if caller.f_code is KTOTrainer._compute_loss.__code__ and caller.f_lineno == _KTO_KL_GATHER_LINE:
            assert self.gathered_kl is None and tensor.dim() == 0
            self.gathered_kl = torch.stack([tensor] + [torch.tensor(x, dtype=tensor.dtype) for x in self.other_ranks])
            return self.gathered_kl
        return tensor


class KTOLMStub(FusedLMStub):
    """FusedLMStub over two tables: the completions' per-token log-probs, or the KL completions' ones when called
    on the batch's ``KL_input_ids`` (told apart by identity)."""

    def __init__(self, per_token, kl_input_ids=None, kl_per_token=None):
        super().__init__(per_token)
        self.kl_input_ids, self.kl_per_token = kl_input_ids, kl_per_token

    def __call__(self, input_ids=None, **kw):
        if input_ids is not None and input_ids is self.kl_input_ids:
            return FusedLMStub(self.kl_per_token)(input_ids=input_ids, **kw)
        return super().__call__(input_ids=input_ids, **kw)


class KTOBatch:
    """A labelled batch as TRL's collator gives it: completions (one leading prompt column), labels, and KL
    completions of their own width; the wire form splits the completions by label."""

    def __init__(self, spec):
        w = spec["inputs"]
        self.labels = list(w["labels"])
        self.rows, self.masks = w["per_token_logps"], w["mask"]
        self.B = len(self.rows)
        self.T = max(len(r) for r in self.rows)
        self.policy, mask, self.lengths = padded(self.rows, self.masks, self.T)
        self.ref_rows = w["reference_per_token_logps"]
        self.reference = padded(self.ref_rows, self.masks, self.T)[0]
        # Set when the references go in as sequences (TRL's precompute path): reference_logps, ref_KL_logps.
        self.ref_seq = self.ref_kl_seq = None
        first = torch.ones(self.B, 1, dtype=torch.long)
        in_row = torch.arange(self.T).unsqueeze(0) < torch.tensor(self.lengths).unsqueeze(1)
        self.completion_mask = torch.cat([torch.zeros_like(first), mask], dim=1)
        self.attention_mask = torch.cat([first, in_row.long()], dim=1)
        self.input_ids = torch.full((self.B, self.T + 1), 3, dtype=torch.long)
        self.kl = None
        if "kl_per_token_logps" in w:
            k_rows, k_masks = w["kl_per_token_logps"], w["kl_mask"]
            K, TK = len(k_rows), max(len(r) for r in k_rows)
            self.kl_policy, k_mask, k_len = padded(k_rows, k_masks, TK)
            self.kl_reference = padded(w["reference_kl_per_token_logps"], k_masks, TK)[0]
            k_first = torch.ones(K, 1, dtype=torch.long)
            k_in_row = torch.arange(TK).unsqueeze(0) < torch.tensor(k_len).unsqueeze(1)
            self.kl = {"KL_input_ids": torch.full((K, TK + 1), 4, dtype=torch.long),
                       "KL_attention_mask": torch.cat([k_first, k_in_row.long()], dim=1),
                       "KL_completion_mask": torch.cat([torch.zeros_like(k_first), k_mask], dim=1)}

    def split(self, values):
        """Per-row values (a list or ragged rows) as (desirable rows, undesirable rows), in batch order."""
        return ([v for v, l in zip(values, self.labels) if l], [v for v, l in zip(values, self.labels) if not l])

    def ragged(self, grad):
        return self.split([[float(x) for x in grad[i, :n]] for i, n in enumerate(self.lengths)])


def kto_stub_trainer(args, model, ref_model, accelerator):
    trainer = object.__new__(KTOTrainer)
    # As KTOTrainer.__init__ ("Training arguments" block and the attributes set after model preparation):
    trainer.args = args
    trainer.beta = args.beta
    trainer.precompute_ref_logps = args.precompute_ref_log_probs
    trainer.loss_type = args.loss_type
    trainer.desirable_weight = args.desirable_weight
    trainer.undesirable_weight = args.undesirable_weight
    trainer.calculate_KL = args.loss_type not in ["apo_zero_unpaired"]
    trainer.aux_loss_enabled = False
    trainer.router_aux_loss_coef = 0.0
    trainer.model = model
    trainer.ref_model = ref_model
    trainer.accelerator = accelerator
    trainer._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
    trainer._total_train_tokens = 0
    trainer._tp_size = 1
    return trainer


def run_kto(spec, batch, policy, kl_policy=None, observe=False):
    """TRL's KTOTrainer._compute_loss on `batch` with the policy's per-token log-probs `policy` [B, T] (and the
    KL completions' `kl_policy`). References come through a reference model (per-token) or as precomputed
    ``ref_logps`` / ``ref_KL_logps`` (sequences)."""
    precompute = batch.ref_seq is not None
    args = make_config("kto", spec["config"], precompute_ref_log_probs=precompute)
    kl = batch.kl
    calculate_kl = args.loss_type not in ["apo_zero_unpaired"]
    assert (kl is not None) == calculate_kl, spec["name"]
    kl_policy = batch.kl_policy if kl is not None and kl_policy is None else kl_policy
    model = KTOLMStub(policy, kl and kl["KL_input_ids"], kl_policy)
    ref = None if precompute else kto_reference_model(batch)
    accelerator = KTOAcceleratorStub(spec.get("other_ranks_kl", ()))
    trainer = kto_stub_trainer(args, model, ref, accelerator)
    inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask,
              "completion_mask": batch.completion_mask, "label": torch.tensor(batch.labels)}
    if kl is not None:
        inputs.update(kl)
    if precompute:
        inputs["ref_logps"] = batch.ref_seq
        if kl is not None:
            inputs["ref_KL_logps"] = batch.ref_kl_seq
    if not observe:
        return KTOTrainer._compute_loss(trainer, model, inputs, False), None
    with capture(KTOTrainer._compute_loss.__code__) as rec:
        loss = KTOTrainer._compute_loss(trainer, model, inputs, False)
    return loss, (trainer, rec)


def kto_reference_model(batch):
    kl = batch.kl
    return KTOLMStub(batch.reference, kl and kl["KL_input_ids"], kl and batch.kl_reference)


def kto_reference_through_precompute(spec, batch):
    """TRL's precompute path for the references: KTOTrainer.compute_ref_log_probs on the per-token ones."""
    args = make_config("kto", spec["config"], precompute_ref_log_probs=True)
    ref = kto_reference_model(batch)
    trainer = kto_stub_trainer(args, ref, None, AcceleratorStub())
    inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask,
              "completion_mask": batch.completion_mask}
    if batch.kl is not None:
        inputs.update(batch.kl)
    return trainer.compute_ref_log_probs(ref, inputs)


def kto_wire(batch, spec, accelerator):
    """The request a caller sends for `batch`: sides split by label, KL completions or (gathered over ranks, as
    TRL gathers it) the KL value."""
    w = spec["inputs"]
    chosen_rows, rejected_rows = batch.split(batch.rows)
    chosen_masks, rejected_masks = batch.split(batch.masks)
    out = {"chosen": {"per_token_logps": chosen_rows, "mask": chosen_masks},
           "rejected": {"per_token_logps": rejected_rows, "mask": rejected_masks}}
    if batch.ref_seq is None:
        rc, rr = batch.split(batch.ref_rows)
        out["reference_chosen"] = {"per_token_logps": rc, "mask": chosen_masks}
        out["reference_rejected"] = {"per_token_logps": rr, "mask": rejected_masks}
    else:
        rc, rr = batch.split(floats(batch.ref_seq))
        out["reference_chosen"], out["reference_rejected"] = {"logps": rc}, {"logps": rr}
    if batch.kl is not None:
        if spec.get("other_ranks_kl"):
            # What a caller that gathers the KL itself sends: the mean of the per-rank means TRL gathered.
            out["kl_value"] = float(accelerator.gathered_kl.mean())
        else:
            out["kl"] = {"per_token_logps": w["kl_per_token_logps"], "mask": w["kl_mask"]}
            if batch.ref_seq is not None:
                out["reference_kl"] = {"logps": floats(batch.ref_kl_seq)}
            else:
                out["reference_kl"] = {"per_token_logps": w["reference_kl_per_token_logps"], "mask": w["kl_mask"]}
    return out


def evaluate_kto(spec):
    batch = KTOBatch(spec)
    real, err, logged, _ = real_trainer("kto", spec["config"])
    assert err is None, err
    if spec["inputs"].get("_ref_to_sequence"):
        batch.ref_seq, batch.ref_kl_seq = kto_reference_through_precompute(spec, batch)
    policy = batch.policy.clone().requires_grad_(True)
    kl_policy = None if batch.kl is None else batch.kl_policy.clone().requires_grad_(True)
    loss, (trainer, rec) = run_kto(spec, batch, policy, kl_policy, observe=True)
    check_attrs("kto", trainer, real)
    final = rec["at_return"]
    seq = [final["chosen_logps"], final["rejected_logps"]]
    leaves = [policy] + ([] if kl_policy is None else [kl_policy])
    grads = torch.autograd.grad(loss, leaves + seq, allow_unused=True)
    if kl_policy is not None:
        assert grads[1] is None, "TRL's KL completions carry no gradient"
    token_grad = torch.zeros_like(policy) if grads[0] is None else grads[0]
    seq_grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads[len(leaves):], seq)]
    expected = {"loss": float(loss), "losses": floats(final["losses"])}
    metrics = trainer._metrics["train"]
    expected["metrics"] = {k: metrics[k][0] for k in KTO_METRICS if k in metrics}
    for key, local in (("chosen_logps", "chosen_logps"), ("rejected_logps", "rejected_logps"),
                       ("reference_chosen_logps", "ref_chosen_logps"),
                       ("reference_rejected_logps", "ref_rejected_logps"),
                       ("chosen_rewards", "chosen_rewards"), ("rejected_rewards", "rejected_rewards")):
        expected[key] = floats(final[local])
    chosen_grads, rejected_grads = batch.ragged(token_grad)
    expected["grads"] = {"chosen_per_token_logps": chosen_grads, "rejected_per_token_logps": rejected_grads,
                         "chosen_logps": floats(seq_grads[0]), "rejected_logps": floats(seq_grads[1])}
    if batch.ref_seq is None:
        # TRL's two reference paths agree: reference model in _compute_loss vs compute_ref_log_probs + precompute.
        batch.ref_seq, batch.ref_kl_seq = kto_reference_through_precompute(spec, batch)
        with torch.no_grad():
            other = float(run_kto(spec, batch, batch.policy)[0])
        batch.ref_seq = batch.ref_kl_seq = None
        assert other == float(loss) or abs(other - float(loss)) <= 1e-15 * abs(float(loss)), (spec["name"], other)
    finite = all(math.isfinite(x) for x in [float(loss)] + floats(token_grad))
    if finite:
        check_kto_fd(spec, batch, token_grad, float(loss))
    method = "KTOTrainer._compute_loss"
    trl_call = {"method": method,
                "reference": "precomputed ref_logps/ref_KL_logps" if batch.ref_seq is not None
                else "ref_model forward (per-token)"}
    if spec.get("other_ranks_kl"):
        trl_call["kl_gather"] = f"this rank's KL then the other ranks' {spec['other_ranks_kl']}"
    return dict(config=config_record("kto", spec["config"], trainer.args), trl_call=trl_call,
                inputs=kto_wire(batch, spec, trainer.accelerator), expected=expected, fd_checked=finite,
                warnings=logged, notes=dict(spec.get("notes", {})))


def check_kto_fd(spec, batch, grads, loss):
    """Central differences of TRL's loss w.r.t. every completion token (the KL completions held fixed: TRL gives
    them no gradient, though the loss moves with them)."""
    floor = 1e-9 * max(1.0, abs(loss))
    for i, n in enumerate(batch.lengths):
        for j in range(n):
            vals = []
            for sign in (1, -1):
                moved = batch.policy.clone()
                moved[i, j] += sign * H
                with torch.no_grad():
                    vals.append(float(run_kto(spec, batch, moved)[0]))
            f, a = (vals[0] - vals[1]) / (2 * H), float(grads[i, j])
            err = abs(a - f)
            assert err <= FD_REL * abs(a) + floor, (spec["name"], i, j, a, f)
            FD_STATS["values"] += 1
            FD_STATS["max_abs"] = max(FD_STATS["max_abs"], err)
            if abs(a) > 1e-3:
                FD_STATS["max_rel"] = max(FD_STATS["max_rel"], err / abs(a))
    FD_STATS["cases"] += 1


def evaluate_refusal(spec):
    objective, given = spec["objective"], spec["config"]
    trainer, err, logged, where = real_trainer(objective, given)
    if err is None:
        # TRL validates nothing up front: the error (if any) comes from the loss itself.
        assert spec.get("at_compute"), spec["name"]
        batch = KTOBatch(spec) if objective == "kto" else Batch(spec["inputs"])
        where = None
        try:
            if objective == "dpo" and spec.get("at_backward"):
                loss, _ = run_dpo(spec, batch, batch.chosen.clone().requires_grad_(True), batch.rejected)
                where = "DPOTrainer._compute_loss (backward)"
                loss.backward()
            elif objective == "dpo":
                run_dpo(spec, batch, batch.chosen, batch.rejected)
            elif objective == "kto":
                run_kto(spec, batch, batch.policy)
            else:
                run_cpo_like(objective, spec, batch, batch.chosen, batch.rejected)
        except Exception as e:  # noqa: BLE001
            err = e
            tb = e.__traceback__
            while tb is not None:
                if tb.tb_frame.f_code.co_name in ("_compute_loss", "cpo_loss", "odds_ratio_loss"):
                    where = f"{TRAINER_CLASSES[objective].__name__}.{tb.tb_frame.f_code.co_name}"
                tb = tb.tb_next
        assert err is not None, spec["name"]
    else:
        assert not spec.get("at_compute"), spec["name"]
    try:
        args = make_config(objective, given)
    except Exception:  # noqa: BLE001
        args = None
    config = config_record(objective, given, args, trainer)
    if objective == "dpo" and trainer is None and args is not None:
        config["loss_weights"] = args.loss_weights or [1.0] * len(args.loss_type)
    out = dict(config=config, error={"key": spec["key"], "message": str(err) if not isinstance(err, KeyError)
                                     else f"KeyError: {err}", "exception": type(err).__name__, "raised_in": where})
    if logged:
        out["warnings"] = logged
    return out


# --------------------------------------------------------------------------------------------------------------------
# The cases
# --------------------------------------------------------------------------------------------------------------------


def wire(chosen, chosen_mask, rejected, rejected_mask, ref_c=None, ref_r=None):
    w = {"chosen": {"per_token_logps": chosen, "mask": chosen_mask},
         "rejected": {"per_token_logps": rejected, "mask": rejected_mask}}
    if ref_c is not None:
        w["reference_chosen"] = {"logps": ref_c}
        w["reference_rejected"] = {"logps": ref_r}
    return w


def equal_reference(seed, B, T):
    b = random_batch(seed, B, T)
    b["reference_chosen"] = copy.deepcopy(b["chosen"])
    b["reference_rejected"] = copy.deepcopy(b["rejected"])
    return b


# Pair 0 sits exactly on the hinge: beta*delta = 0.25*4 = 1 in binary (c=-0.75, ref_c=-2.75, r=-3.5, ref_r=-1.5).
HINGE_KINK = wire([[-0.5, -0.25, -1.0], [-1.0, -0.125]], [[1, 1, 0], [1, 1]],
                  [[-2.0, -1.5], [-0.5, -3.0, -0.75]], [[1, 1], [1, 0, 1]],
                  [-2.75, -1.0], [-1.5, -2.0])
# Policy log-ratios chosen-rejected = [1, 1, -1]: pairs 0 and 1 tie in aot's sort. Reference log-ratios [-0.5, 1, 0.25].
AOT_TIES = wire([[-0.5, -0.5], [-0.25, -0.25], [-1.0, -1.0]], [[1, 1], [1, 1], [1, 1]],
                [[-1.0, -1.0], [-0.75, -0.75], [-0.5, -0.5]], [[1, 1], [1, 1], [1, 1]],
                [-1.5, -1.0, -3.0], [-1.0, -2.0, -3.25])
# Chosen log-ratios (policy - reference) = [0.5, 0.5, -0.75]: pairs 0 and 1 tie in aot_unpaired's chosen sort;
# rejected log-ratios [-1, 0.5, 2.25].
AOT_UNPAIRED_TIES = wire([[-0.5, -0.5], [-0.25, -0.25], [-1.0, -1.0]], [[1, 1], [1, 1], [1, 1]],
                         [[-1.0, -1.0], [-0.75, -0.75], [-0.5, -0.5]], [[1, 1], [1, 1], [1, 1]],
                         [-1.5, -1.0, -1.25], [-1.0, -2.0, -3.25])
# CPO hinge, pair 0 exactly on the kink: beta*(c - r) = 0.5*((-0.75) - (-2.75)) = 1.
CPO_HINGE_KINK = wire([[-0.5, -0.25], [-1.0, -2.0, -0.5]], [[1, 1], [1, 0, 1]],
                      [[-1.5, -1.25, -0.5], [-0.25]], [[1, 1, 0], [1]])
# ORPO: averaged log-probs on both sides of log1mexp's branch point -ln 2.
ORPO_NEAR_ZERO = wire([[-0.01, -0.02, -3.0], [-0.5, -0.75]], [[1, 1, 0], [1, 1]],
                      [[-0.05, -0.015], [-2.0, -1.0, -0.25]], [[1, 1], [1, 0, 1]])


def S(name, objective, config, inputs, **extra):
    return dict(name=name, objective=objective, config=config, inputs=inputs, **extra)


def seq(seed, B, T, **kw):
    return random_batch(seed, B, T, ref="sequence", **kw)


def tok(seed, B, T, **kw):
    return random_batch(seed, B, T, ref="per_token", **kw)


DPO_CASES = [
    S("dpo_sigmoid_b1", "dpo", {}, seq(101, 1, 5)),
    S("dpo_sigmoid_b4", "dpo", {"loss_type": "sigmoid"}, seq(102, 4, 7)),
    S("dpo_sigmoid_b3", "dpo", {"loss_type": "sigmoid"}, seq(103, 3, 6)),
    S("dpo_sigmoid_label_smoothing_ignored", "dpo", {"loss_type": "sigmoid", "label_smoothing": 0.1},
      seq(103, 3, 6), notes={"why": "sigmoid ignores label_smoothing in TRL 1.16.0: same as dpo_sigmoid_b3"}),
    S("dpo_sigmoid_beta_0.5", "dpo", {"loss_type": "sigmoid", "beta": 0.5}, seq(138, 3, 6)),
    S("dpo_sigmoid_reference_model", "dpo", {"loss_type": "sigmoid"}, tok(104, 3, 6)),
    S("dpo_sigmoid_equal_policy_reference", "dpo", {"loss_type": "sigmoid"}, equal_reference(105, 2, 5),
      notes={"why": "policy == reference token by token: delta 0, loss ln 2"}),
    S("dpo_hinge", "dpo", {"loss_type": "hinge"}, seq(106, 3, 6)),
    S("dpo_hinge_beta_2", "dpo", {"loss_type": "hinge", "beta": 2.0}, seq(107, 3, 5),
      notes={"why": "some pairs past the hinge (zero loss and gradient)"}),
    S("dpo_hinge_at_kink", "dpo", {"loss_type": "hinge", "beta": 0.25}, HINGE_KINK, kink=True,
      notes={"why": "pair 0: 1 - beta*delta == 0 exactly; torch relu's gradient at 0 is 0"}),
    S("dpo_ipo", "dpo", {"loss_type": "ipo"}, seq(108, 3, 7)),
    S("dpo_ipo_beta_0.5", "dpo", {"loss_type": "ipo", "beta": 0.5}, seq(109, 2, 5)),
    S("dpo_exo_pair", "dpo", {"loss_type": "exo_pair", "label_smoothing": 1e-3}, seq(110, 3, 6)),
    S("dpo_exo_pair_eps_0.2", "dpo", {"loss_type": "exo_pair", "label_smoothing": 0.2, "beta": 0.3},
      seq(111, 2, 5)),
    S("dpo_nca_pair", "dpo", {"loss_type": "nca_pair"}, seq(112, 3, 6)),
    S("dpo_robust", "dpo", {"loss_type": "robust", "label_smoothing": 0.1}, seq(113, 3, 6)),
    S("dpo_robust_eps_0.5", "dpo", {"loss_type": "robust", "label_smoothing": 0.5}, seq(114, 2, 5),
      notes={"why": "TRL only warns; it divides by 1 - 2*eps = 0"}),
    S("dpo_robust_eps_0.5_equal_policy_reference", "dpo", {"loss_type": "robust", "label_smoothing": 0.5},
      equal_reference(115, 2, 4), notes={"why": "0/0"}),
    S("dpo_bco_pair", "dpo", {"loss_type": "bco_pair"}, seq(116, 3, 6)),
    S("dpo_sppo_hard", "dpo", {"loss_type": "sppo_hard"}, seq(117, 3, 6)),
    S("dpo_aot", "dpo", {"loss_type": "aot"}, seq(118, 4, 6)),
    S("dpo_aot_label_smoothing_0.2", "dpo", {"loss_type": "aot", "label_smoothing": 0.2}, seq(119, 4, 5)),
    S("dpo_aot_ties", "dpo", {"loss_type": "aot", "beta": 0.5}, AOT_TIES, kink=True,
      notes={"why": "tied policy log-ratios: the gradient goes to whichever index torch.sort (stable=False) puts "
                    "at each rank"}),
    S("dpo_aot_unpaired", "dpo", {"loss_type": "aot_unpaired"}, seq(120, 4, 6)),
    S("dpo_aot_unpaired_ties", "dpo", {"loss_type": "aot_unpaired", "beta": 0.5}, AOT_UNPAIRED_TIES, kink=True,
      notes={"why": "tied chosen log-ratios in aot_unpaired's sort"}),
    S("dpo_apo_zero", "dpo", {"loss_type": "apo_zero"}, seq(121, 3, 6)),
    S("dpo_apo_down", "dpo", {"loss_type": "apo_down"}, seq(122, 3, 6)),
    S("dpo_discopop", "dpo", {"loss_type": "discopop"}, seq(123, 3, 6)),
    S("dpo_discopop_tau_0.2_beta_0.5", "dpo", {"loss_type": "discopop", "discopop_tau": 0.2, "beta": 0.5},
      seq(124, 3, 5)),
    S("dpo_sft", "dpo", {"loss_type": "sft"}, seq(125, 3, 6)),
    S("dpo_sigmoid_norm", "dpo", {"loss_type": "sigmoid_norm"}, seq(126, 3, 7)),
    S("dpo_forward_kl_sigmoid", "dpo", {"loss_type": "sigmoid", "f_divergence_type": "forward_kl"},
      seq(127, 3, 5)),
    S("dpo_js_divergence_sigmoid", "dpo", {"loss_type": "sigmoid", "f_divergence_type": "js_divergence"},
      seq(128, 3, 5)),
    S("dpo_js_divergence_hinge", "dpo", {"loss_type": "hinge", "f_divergence_type": "js_divergence", "beta": 1.0},
      seq(129, 3, 5)),
    S("dpo_forward_kl_ipo", "dpo", {"loss_type": "ipo", "f_divergence_type": "forward_kl"}, seq(130, 2, 5)),
    S("dpo_alpha_divergence_sigmoid", "dpo", {"loss_type": "sigmoid", "f_divergence_type": "alpha_divergence"},
      seq(131, 3, 5), patch_alpha=True),
    S("dpo_alpha_divergence_0.3_sigmoid_norm", "dpo",
      {"loss_type": "sigmoid_norm", "f_divergence_type": "alpha_divergence", "f_alpha_divergence_coef": 0.3},
      seq(132, 3, 5), patch_alpha=True),
    S("dpo_alpha_divergence_coef_1_fallback", "dpo",
      {"loss_type": "sigmoid", "f_divergence_type": "alpha_divergence", "f_alpha_divergence_coef": 1.0},
      seq(131, 3, 5), notes={"why": "|coef - 1| < 1e-6 falls back to reverse_kl: same as dpo_sigmoid on these inputs"}),
    S("dpo_alpha_divergence_coef_1_reverse_kl", "dpo", {"loss_type": "sigmoid"}, seq(131, 3, 5),
      notes={"why": "reverse_kl twin of dpo_alpha_divergence_coef_1_fallback"}),
    S("dpo_mpo_sigmoid_bco_sft", "dpo",
      {"loss_type": ["sigmoid", "bco_pair", "sft"], "loss_weights": [0.8, 0.2, 1.0]}, seq(133, 3, 6)),
    S("dpo_sigmoid_plus_sft_default_weights", "dpo", {"loss_type": ["sigmoid", "sft"]}, seq(134, 2, 5)),
    # f-divergences with the other loss types TRL allows them for, alone and combined (each type's part checked).
    S("dpo_js_divergence_discopop", "dpo", {"loss_type": "discopop", "f_divergence_type": "js_divergence"},
      seq(139, 3, 6)),
    S("dpo_forward_kl_exo_pair", "dpo",
      {"loss_type": "exo_pair", "label_smoothing": 1e-3, "f_divergence_type": "forward_kl"}, seq(140, 3, 6)),
    S("dpo_alpha_divergence_0.3_robust", "dpo",
      {"loss_type": "robust", "label_smoothing": 0.1, "f_divergence_type": "alpha_divergence",
       "f_alpha_divergence_coef": 0.3}, seq(141, 3, 6), patch_alpha=True),
    S("dpo_js_divergence_sigmoid_plus_sft", "dpo",
      {"loss_type": ["sigmoid", "sft"], "f_divergence_type": "js_divergence"}, seq(142, 3, 6)),
    S("dpo_forward_kl_robust_discopop_exo_pair", "dpo",
      {"loss_type": ["robust", "discopop", "exo_pair"], "loss_weights": [0.5, 1.0, 2.0], "label_smoothing": 0.05,
       "f_divergence_type": "forward_kl"}, seq(143, 3, 6)),
    S("dpo_aot_plus_sigmoid", "dpo", {"loss_type": ["aot", "sigmoid"], "loss_weights": [0.5, 1.5]}, seq(135, 3, 5)),
    S("dpo_sigmoid_ld_alpha_none", "dpo", {"loss_type": "sigmoid"}, tok(136, 3, 7, min_len=2),
      notes={"why": "twin of the ld_alpha cases without LD-DPO"}),
    S("dpo_ld_alpha_0", "dpo", {"loss_type": "sigmoid", "ld_alpha": 0.0}, tok(136, 3, 7, min_len=2)),
    S("dpo_ld_alpha_0.5", "dpo", {"loss_type": "sigmoid", "ld_alpha": 0.5}, tok(136, 3, 7, min_len=2)),
    S("dpo_ld_alpha_1", "dpo", {"loss_type": "sigmoid", "ld_alpha": 1.0}, tok(136, 3, 7, min_len=2),
      notes={"why": "ld_alpha 1 weighs nothing down: equals plain sigmoid"}),
    S("dpo_ld_alpha_0.5_ipo", "dpo", {"loss_type": "ipo", "ld_alpha": 0.5}, tok(137, 3, 6, min_len=2)),
    S("dpo_ld_alpha_1.5_unvalidated", "dpo", {"loss_type": "sigmoid", "ld_alpha": 1.5}, tok(136, 3, 7, min_len=2),
      notes={"why": "DPOConfig documents ld_alpha in [0, 1] but TRL 1.16.0 does not check it"}),
] + [
    # WPO (use_weighting) with every loss type TRL allows it for, and with the options that change the loss.
    S(f"dpo_wpo_{t}", "dpo", dict({"loss_type": t, "use_weighting": True}, **extra),
      seq(150 + i, 3, 6, weighting=True))
    for i, (t, extra) in enumerate([
        ("sigmoid", {}), ("ipo", {}), ("exo_pair", {"label_smoothing": 0.1}), ("nca_pair", {}),
        ("robust", {"label_smoothing": 0.1}), ("bco_pair", {}), ("sppo_hard", {}), ("apo_zero", {}),
        ("apo_down", {}), ("discopop", {}), ("sigmoid_norm", {})])
] + [
    S("dpo_wpo_reference_model", "dpo", {"use_weighting": True}, tok(170, 3, 6, weighting=True)),
    S("dpo_wpo_sigmoid_bco_pair_weights", "dpo",
      {"loss_type": ["sigmoid", "bco_pair"], "loss_weights": [0.8, 0.2], "use_weighting": True},
      seq(171, 3, 6, weighting=True)),
    S("dpo_wpo_ld_alpha_0.5", "dpo", {"ld_alpha": 0.5, "use_weighting": True},
      tok(172, 3, 7, min_len=2, weighting=True)),
    S("dpo_wpo_js_divergence_sigmoid", "dpo",
      {"f_divergence_type": "js_divergence", "use_weighting": True}, seq(173, 3, 5, weighting=True)),
    S("dpo_wpo_b1", "dpo", {"use_weighting": True}, seq(174, 1, 4, weighting=True)),
]

CPO_CASES = [
    S("cpo_sigmoid_defaults", "cpo", {}, random_batch(201, 3, 6)),
    S("cpo_sigmoid_b1", "cpo", {"loss_type": "sigmoid"}, random_batch(202, 1, 4)),
    S("cpo_sigmoid_label_smoothing_0.1", "cpo", {"loss_type": "sigmoid", "label_smoothing": 0.1},
      random_batch(203, 4, 6)),
    S("cpo_sigmoid_cpo_alpha_0.5_beta_0.5", "cpo", {"loss_type": "sigmoid", "cpo_alpha": 0.5, "beta": 0.5},
      random_batch(204, 3, 5)),
    S("cpo_hinge", "cpo", {"loss_type": "hinge"}, random_batch(205, 3, 6)),
    S("cpo_hinge_at_kink", "cpo", {"loss_type": "hinge", "beta": 0.5}, CPO_HINGE_KINK, kink=True,
      notes={"why": "pair 0: 1 - beta*(c - r) == 0 exactly"}),
    S("cpo_hinge_label_smoothing_ignored", "cpo", {"loss_type": "hinge", "label_smoothing": 0.1},
      random_batch(205, 3, 6), notes={"why": "TRL warns and ignores label_smoothing: same as cpo_hinge"}),
    S("cpo_ipo", "cpo", {"loss_type": "ipo"}, random_batch(206, 3, 6)),
    S("cpo_simpo_defaults", "cpo", {"loss_type": "simpo"}, random_batch(207, 3, 6)),
    S("cpo_simpo_beta_2_gamma_1_no_nll", "cpo",
      {"loss_type": "simpo", "beta": 2.0, "simpo_gamma": 1.0, "cpo_alpha": 0.0}, random_batch(208, 4, 7)),
    S("cpo_simpo_label_smoothing_0.2", "cpo",
      {"loss_type": "simpo", "beta": 2.5, "simpo_gamma": 1.375, "label_smoothing": 0.2}, random_batch(209, 3, 5)),
    S("cpo_alphapo_sugar_alpha_0", "cpo", {"loss_type": "alphapo"}, random_batch(210, 3, 5),
      notes={"why": "loss_type 'alphapo' becomes simpo with cpo_alpha 0; alpha stays 0 (plain SimPO, no NLL)"}),
    S("cpo_alphapo_alpha_0.25", "cpo", {"loss_type": "alphapo", "alpha": 0.25, "beta": 2.0}, random_batch(211, 3, 6)),
    S("cpo_simpo_alpha_-0.5_with_nll", "cpo", {"loss_type": "simpo", "alpha": -0.5, "beta": 1.0},
      random_batch(212, 3, 5)),
    S("cpo_sigmoid_alpha_0.1_sum", "cpo", {"loss_type": "sigmoid", "alpha": 0.1}, random_batch(213, 2, 4),
      notes={"why": "AlphaPO reward on summed log-probs (sigmoid averages nothing)"}),
    S("cpo_hinge_alpha_0.5", "cpo", {"loss_type": "hinge", "alpha": 0.5, "beta": 1.0}, random_batch(214, 3, 4)),
    S("cpo_ipo_alpha_0.2", "cpo", {"loss_type": "ipo", "alpha": 0.2}, random_batch(215, 2, 5)),
]

ORPO_CASES = [
    S("orpo_defaults", "orpo", {}, random_batch(301, 3, 6)),
    S("orpo_b1", "orpo", {"beta": 0.1}, random_batch(302, 1, 5)),
    S("orpo_b4_beta_0.25", "orpo", {"beta": 0.25}, random_batch(303, 4, 7)),
    S("orpo_near_zero_logps", "orpo", {"beta": 0.5}, ORPO_NEAR_ZERO,
      notes={"why": "averaged log-probs above and below -ln 2 (both branches of log1mexp)"}),
]


def kto_batch(seed, labels, T, ref="per_token", kl=True, kl_gap=0.4):
    """Completions labelled desirable (True) or undesirable, reference per-token log-probs near the policy's and,
    with `kl`, as many KL completions (TRL's collator makes one per completion) whose policy log-probs exceed the
    reference's by about `kl_gap` (a negative gap lowers the policy's). `ref="sequence"` sends the references as
    sequences, which TRL's own compute_ref_log_probs makes from the per-token ones."""
    gen = torch.Generator().manual_seed(seed)
    rows, masks = random_rows(gen, len(labels), T)
    w = {"labels": labels, "per_token_logps": rows, "mask": masks, "reference_per_token_logps": near(gen, rows)}
    if kl:
        k_rows, k_masks = random_rows(gen, len(labels), T)
        k_ref = near(gen, k_rows)
        if kl_gap >= 0:
            k_ref = [[round(v - kl_gap, 4) for v in row] for row in k_ref]
        else:
            k_rows = [[round(v + kl_gap, 4) for v in row] for row in k_rows]
        w.update(kl_per_token_logps=k_rows, kl_mask=k_masks, reference_kl_per_token_logps=k_ref)
    if ref == "sequence":
        w["_ref_to_sequence"] = True
    return w


_T, _F = True, False
KTO_CASES = [
    S("kto_defaults", "kto", {}, kto_batch(501, [_T, _F, _T, _F], 5)),
    S("kto_precomputed_reference", "kto", {"loss_type": "kto"},
      kto_batch(502, [_T, _T, _F, _F, _T], 6, ref="sequence")),
    S("kto_beta_0.5_weights", "kto", {"beta": 0.5, "desirable_weight": 1.33, "undesirable_weight": 0.75},
      kto_batch(503, [_T, _F, _F, _T, _F], 6)),
    S("kto_large_beta", "kto", {"beta": 5.0}, kto_batch(509, [_T, _F, _T, _F], 4)),
    S("kto_only_desirable", "kto", {}, kto_batch(504, [_T, _T, _T], 5),
      notes={"why": "no undesirable completion: TRL's empty-side branch; rewards/rejected, logps/rejected and "
                    "rewards/margins are not logged"}),
    S("kto_only_undesirable", "kto", {"beta": 0.3}, kto_batch(505, [_F, _F], 5, ref="sequence"),
      notes={"why": "no desirable completion"}),
    S("kto_kl_clamped_at_zero", "kto", {}, kto_batch(506, [_T, _F, _T], 5, kl_gap=-1.0),
      notes={"why": "the KL completions' policy log-probs are below the reference's: clamp(min=0) gives 0"}),
    S("kto_kl_gathered_over_ranks", "kto", {"beta": 0.2}, kto_batch(507, [_T, _F, _F, _T], 5),
      other_ranks_kl=[0.9, 0.1], notes={"why": "KL gathered over 3 ranks as TRL gathers it; the request sends "
                                                "kl_value, the mean of the gathered per-rank KLs"}),
    S("kto_kl_gathered_over_ranks_clamped", "kto", {}, kto_batch(508, [_F, _T, _T], 5, ref="sequence"),
      other_ranks_kl=[-2.5], notes={"why": "the gathered mean is negative: clamped to 0"}),
    S("kto_apo_zero_unpaired", "kto", {"loss_type": "apo_zero_unpaired"},
      kto_batch(510, [_T, _F, _T, _F], 5, kl=False)),
    S("kto_apo_zero_unpaired_weights_sequence", "kto",
      {"loss_type": "apo_zero_unpaired", "beta": 0.5, "desirable_weight": 0.5, "undesirable_weight": 2.0},
      kto_batch(511, [_F, _T, _F], 5, ref="sequence", kl=False)),
    S("kto_apo_zero_unpaired_only_undesirable", "kto", {"loss_type": "apo_zero_unpaired"},
      kto_batch(512, [_F, _F, _F], 4, kl=False)),
    S("kto_beta_0_unvalidated", "kto", {"beta": 0.0}, kto_batch(513, [_T, _F], 4),
      notes={"why": "TRL does not check beta: every loss is w/2 and every gradient 0"}),
    S("kto_negative_weight_unvalidated", "kto", {"desirable_weight": -1.0}, kto_batch(514, [_T, _F], 4),
      notes={"why": "TRL does not check the weights: a negative one rewards raising the loss"}),
]

# Pairs of cases TRL must treat identically (same loss, per-pair values and gradients, to 1e-14 relative).
TWINS = [
    ("dpo_sigmoid_label_smoothing_ignored", "dpo_sigmoid_b3"),
    ("dpo_alpha_divergence_coef_1_fallback", "dpo_alpha_divergence_coef_1_reverse_kl"),
    ("dpo_ld_alpha_1", "dpo_sigmoid_ld_alpha_none"),
    ("cpo_hinge_label_smoothing_ignored", "cpo_hinge"),
]


def assert_twins(by_name):
    def flat(x):
        if isinstance(x, dict):
            return [v for k in sorted(x) for v in flat(x[k])]
        if isinstance(x, list):
            return [v for item in x for v in flat(item)]
        return [x]

    for a, b in TWINS:
        ea, eb = by_name[a]["expected"], by_name[b]["expected"]
        keys = ["loss", "losses", "metrics", "chosen_logps", "rejected_logps", "grads"]
        va, vb = flat([ea.get(k) for k in keys]), flat([eb.get(k) for k in keys])
        assert len(va) == len(vb), (a, b)
        for x, y in zip(va, vb):
            assert x == y or abs(x - y) <= 1e-14 * max(abs(x), abs(y), 1e-300), (a, b, x, y)
        print(f"twins agree: {a} == {b}")


_R = seq(401, 2, 4)
REFUSALS = [
    S("dpo_refuse_loss_weights_length", "dpo", {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0]}, _R,
      key="loss_weights"),
    S("dpo_refuse_loss_weights_for_single_loss", "dpo", {"loss_type": "sigmoid", "loss_weights": [0.5, 0.5]}, _R,
      key="loss_weights"),
    S("dpo_refuse_exo_pair_without_label_smoothing", "dpo", {"loss_type": "exo_pair"}, _R, key="label_smoothing"),
    S("dpo_refuse_f_divergence_with_bco_pair", "dpo", {"loss_type": "bco_pair", "f_divergence_type": "forward_kl"},
      _R, key="f_divergence_type"),
    S("dpo_refuse_f_divergence_with_aot", "dpo", {"loss_type": "aot", "f_divergence_type": "js_divergence"}, _R,
      key="f_divergence_type"),
    S("dpo_refuse_f_divergence_list_with_sppo_hard", "dpo",
      {"loss_type": ["sigmoid", "sppo_hard"], "f_divergence_type": "alpha_divergence"}, _R,
      key="f_divergence_type"),
    S("dpo_refuse_use_weighting_with_aot_unpaired", "dpo", {"loss_type": "aot_unpaired", "use_weighting": True},
      _R, key="use_weighting"),
    # TRL 1.16 accepts these at __init__ but cannot train them: sft's loss is an expanded view that WPO multiplies
    # in place (forward), hinge's is relu's output, which its backward needs.
    S("dpo_refuse_use_weighting_with_sft", "dpo", {"loss_type": ["sigmoid", "sft"], "use_weighting": True},
      seq(403, 2, 4, weighting=True), key="use_weighting", at_compute=True),
    S("dpo_refuse_use_weighting_with_hinge", "dpo", {"loss_type": "hinge", "use_weighting": True},
      seq(404, 2, 4, weighting=True), key="use_weighting", at_compute=True, at_backward=True),
    S("dpo_refuse_use_weighting_with_aot", "dpo", {"loss_type": ["sigmoid", "aot"], "use_weighting": True},
      _R, key="use_weighting"),
    S("dpo_refuse_unknown_loss_type", "dpo", {"loss_type": "kto_pair"}, _R, key="loss_type", at_compute=True),
    S("dpo_refuse_unknown_f_divergence_type", "dpo", {"loss_type": "sigmoid", "f_divergence_type": "chi2"}, _R,
      key="f_divergence_type", at_compute=True),
    S("cpo_refuse_kto_pair", "cpo", {"loss_type": "kto_pair"}, random_batch(402, 2, 4), key="loss_type"),
    S("cpo_refuse_unknown_loss_type", "cpo", {"loss_type": "dpo"}, random_batch(402, 2, 4), key="loss_type",
      at_compute=True),
    S("kto_refuse_unknown_loss_type", "kto", {"loss_type": "kto_pair"}, kto_batch(515, [_T, _F], 4),
      key="loss_type", at_compute=True),
]


def sanitize(x):
    if isinstance(x, float):
        if math.isnan(x):
            return "NaN"
        if math.isinf(x):
            return "Infinity" if x > 0 else "-Infinity"
        return x
    if isinstance(x, dict):
        return {k: sanitize(v) for k, v in x.items() if not k.startswith("_")}
    if isinstance(x, (list, tuple)):
        return [sanitize(v) for v in x]
    return x


def main(path):
    cases = []
    for spec in DPO_CASES + CPO_CASES + ORPO_CASES + KTO_CASES:
        if spec["objective"] == "dpo":
            result = evaluate_dpo(spec)
        elif spec["objective"] == "kto":
            result = evaluate_kto(spec)
        else:
            result = evaluate_cpo_like(spec["objective"], spec)
        case = {"name": spec["name"], "objective": spec["objective"], "config": result["config"],
                "config_given": spec["config"], "trl_call": result["trl_call"], "inputs": result["inputs"],
                "expected": result["expected"], "fd_checked": result["fd_checked"]}
        if spec.get("kink"):
            case["kink"] = True
        if result["warnings"]:
            case["trl_warnings"] = result["warnings"]
        if result["notes"]:
            case["notes"] = result["notes"]
        cases.append(case)
    for spec in REFUSALS:
        result = evaluate_refusal(spec)
        case = {"name": spec["name"], "objective": spec["objective"], "config": result["config"],
                "config_given": spec["config"], "error": result["error"]}
        if "warnings" in result:
            case["trl_warnings"] = result["warnings"]
        cases.append(case)

    names = [c["name"] for c in cases]
    assert len(names) == len(set(names))
    text = "[\n" + ",\n".join(json.dumps(sanitize(c), separators=(",", ":"), allow_nan=False) for c in cases) + "\n]\n"
    with open(path, "w") as f:
        f.write(text)

    # ---- summary ----
    by_name = {c["name"]: c for c in cases}
    print(f"trl {trl.__version__}, torch {torch.__version__}; wrote {path} ({len(text)} bytes)")
    print(f"{len(cases)} cases: " + ", ".join(f"{o} {sum(1 for c in cases if c['objective'] == o and 'error' not in c)}"
                                               for o in ("dpo", "cpo", "orpo", "kto"))
          + f", refusals {sum(1 for c in cases if 'error' in c)}")
    print(f"finite differences (h={H}): {FD_STATS['cases']} cases, {FD_STATS['values']} token gradients; "
          f"max |autograd - fd| = {FD_STATS['max_abs']:.2e}, max relative (|g| > 1e-3) = {FD_STATS['max_rel']:.2e}")
    for c in cases:
        if "error" in c:
            print(f"  refusal {c['name']}: [{c['error']['key']}] {c['error']['exception']} in "
                  f"{c['error']['raised_in']}: {c['error']['message'][:110]}")
        else:
            e = c["expected"]
            flag = "" if c["fd_checked"] else ("  (kink: no FD)" if c.get("kink") else "  (non-finite: no FD)")
            print(f"  {c['name']}: loss {e['loss']!r}{flag}")
    assert_twins(by_name)
    sig = by_name["dpo_sigmoid_equal_policy_reference"]["expected"]["loss"]
    assert sig == math.log(2)
    print(f"equal policy/reference sigmoid loss {sig!r} vs ln 2 {math.log(2)!r}")
    for name in ("dpo_alpha_divergence_sigmoid", "dpo_alpha_divergence_0.3_sigmoid_norm"):
        n = by_name[name]["notes"]
        print(f"{name}: float64 (patched) {by_name[name]['expected']['loss']!r}, as shipped float32 "
              f"{n['as_shipped_float32_loss']!r}, as shipped float64: {n['as_shipped_float64']}")
    for c in cases:
        if c["objective"] == "orpo":
            print(f"{c['name']}: float64 {c['expected']['loss']!r}, as shipped (float32 odds ratio) "
                  f"{c['notes']['loss_as_shipped_float32_cast']!r}")
    for name in ("dpo_aot_ties", "dpo_aot_unpaired_ties", "dpo_hinge_at_kink", "cpo_hinge_at_kink"):
        g = by_name[name]["expected"]["grads"]
        print(f"{name}: grads chosen {g['chosen_per_token_logps']}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python make_trl_reference.py OUT.json")
    try:
        main(sys.argv[1])
    finally:
        import shutil

        shutil.rmtree(_TMP, ignore_errors=True)
