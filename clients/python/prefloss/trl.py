"""TRL 1.16's preference trainers with the loss evaluated by prefloss-server.

    from prefloss import LossClient
    from prefloss.trl import RemoteDPOTrainer

    trainer = RemoteDPOTrainer(model=model, args=DPOConfig(...), train_dataset=dataset,
                               processing_class=tokenizer, loss_client=LossClient("http://127.0.0.1:8080"))
    trainer.train()

Each trainer is TRL's own, with the same constructor plus ``loss_client``. It computes the
model's per-token log-probs as TRL does, sends them (as safetensors) with the loss config read
from its ``args``, and backpropagates the per-token gradients the server returns: the step's
loss tensor has the server's value and the server's gradients. It logs TRL's metrics: the
server's per-pair (KTO: per-completion) rewards and log-probs and its NLL and odds means, and
the model-side ones (logits, entropy, token accuracy) computed locally, each gathered across
processes exactly as TRL gathers it (`gather` or `gather_for_metrics`), so a distributed run logs
TRL's numbers. KTO's KL point is gathered so too, and sent as ``kl_value``. Gradient
accumulation and evaluation are the HF Trainer's, as in TRL.

Each loss request says where it sits in the run (`RunPosition`): ``X-Run-Step`` (the trainer's
``state.global_step``: the optimizer steps done, so 0 for the first step's micro-batches, and the
step after which an evaluation runs), ``X-Run-Part`` (this rank of the processes; the micro-batch
among the step's accumulated ones, or among the evaluation's batches on this rank) and
``X-Run-Phase`` (``train`` or ``eval``).

A refused batch raises `LossProblem` (with the pointer to the offending row); an overloaded or
unreachable server is retried within the client's budget, then raises. No batch is skipped.

Unless the client has a ``run_id`` already, the trainer gives it the run's name (``args.run_name``,
else the output folder's name, made to fit the header's grammar), so the server follows the run's
trend and exports its metrics under that name.
"""

from pathlib import Path
from typing import Any, Dict, Literal, Optional, Tuple

from ._extras import missing_extra
from .client import LossResult, LossClient, sanitize_run_id
from .position import RunPosition

try:
    import torch
    from accelerate.utils import is_peft_model
    from torch import nn
    from trl import DPOTrainer, KTOTrainer
    from trl.experimental.cpo import CPOTrainer
    from trl.experimental.orpo import ORPOTrainer
    from trl.models.utils import disable_gradient_checkpointing
    from trl.trainer.utils import selective_log_softmax, use_adapter

    from .torch import _gradient
except ImportError as error:
    raise missing_extra(__name__, "trl", error) from error


def _name_the_run(client: LossClient, args: Any) -> None:
    """Sets ``client.run_id`` from ``args.run_name``, else the output folder's name, unless it has one."""
    name = args.run_name or Path(args.output_dir or "").name
    if not client.run_id and name:
        client.run_id = sanitize_run_id(name)


def _with_server_gradients(result: LossResult, pieces: Tuple[Tuple[torch.Tensor, str], ...]) -> torch.Tensor:
    """A scalar whose value is the server's loss and whose gradient with respect to each
    per-token log-prob tensor is the server's gradient for that side."""
    surrogate = sum(
        (logps * torch.from_numpy(_gradient(result, side, logps)).to(dtype=logps.dtype, device=logps.device)).sum()
        for logps, side in pieces)
    return surrogate + (torch.tensor(result.loss, dtype=surrogate.dtype, device=surrogate.device) - surrogate.detach())


class _RemoteTrainer:
    """What the Remote trainers share: the client, named after the run, and each loss request's
    place in the run (`RunPosition`), read from the trainer's state."""

    loss_client: LossClient
    #: (global step, training requests sent at it) in the training under way.
    _train_requests: Tuple[int, int] = (0, 0)
    #: (requests sent, batches on this rank) in the evaluation under way; None outside one.
    _eval_requests: Optional[Tuple[int, Optional[int]]] = None

    def __init__(self, *args: Any, loss_client: LossClient, **kwargs: Any):
        self.loss_client = loss_client
        super().__init__(*args, **kwargs)
        _name_the_run(loss_client, self.args)

    def train(self, *args: Any, **kwargs: Any):
        # A training again, after one that failed mid-step, counts afresh.
        self._train_requests = _RemoteTrainer._train_requests
        return super().train(*args, **kwargs)

    def evaluation_loop(self, dataloader: Any, *args: Any, **kwargs: Any):
        try:
            batches = len(dataloader)  # this rank's
        except TypeError:  # an iterable dataset of unknown length
            batches = None
        self._eval_requests = (0, batches)
        try:
            return super().evaluation_loop(dataloader, *args, **kwargs)
        finally:
            self._eval_requests = None

    def _position(self, phase: Literal["train", "eval"]) -> Optional[RunPosition]:
        """The next request's place: the optimizer step, this rank, and its micro-batch among the
        step's (the Trainer's count, fewer in an epoch's last step) or among the evaluation's batches
        on this rank. None outside the Trainer's loops, where there is no such count."""
        step = self.state.global_step
        if phase == "train":
            micro = self._train_requests[1] if self._train_requests[0] == step else 0
            self._train_requests = (step, micro + 1)
            micros = getattr(self, "current_gradient_accumulation_steps", None)
        elif self._eval_requests is not None:
            micro, micros = self._eval_requests
            self._eval_requests = (micro + 1, micros)
        else:
            return None
        if micros is None or micro >= micros:
            return None
        return RunPosition(step=step, rank=self.accelerator.process_index, ranks=self.accelerator.num_processes,
                           micro=micro, micros=micros, phase=phase)

    def _ask(self, phase: Literal["train", "eval"], chosen: torch.Tensor, rejected: torch.Tensor,
             **arguments: Any) -> LossResult:
        """The server's loss, with per-token gradients, for this batch at its place in the run."""
        return self.loss_client.loss(chosen, rejected, return_token_grads=True, position=self._position(phase),
                                     **arguments)

    def _tensor(self, values: Any, dtype: torch.dtype) -> torch.Tensor:
        """The server's per-pair array, or scalar, as a tensor of `dtype` on the trainer's device:
        what TRL gathers."""
        return torch.as_tensor(values, dtype=dtype, device=self.accelerator.device)


class RemoteDPOTrainer(_RemoteTrainer, DPOTrainer):
    """`trl.DPOTrainer` whose loss (every `loss_type`, `loss_weights`, f-divergence, `ld_alpha`
    and `use_weighting`) is evaluated by prefloss-server. With `use_weighting` it sends the fused
    LM head's per-token log Σ p² (TRL's `log_sum_sq_probs`), from which the server computes WPO's
    weights as TRL does."""

    def loss_config(self) -> Dict[str, Any]:
        """The request's ``config``: TRL's own keys, from the trainer's settings."""
        return {
            "objective": "dpo", "loss_type": list(self.loss_types), "loss_weights": list(self.loss_weights),
            "beta": self.beta, "label_smoothing": self.label_smoothing, "discopop_tau": self.args.discopop_tau,
            "f_divergence_type": self.f_divergence_type, "f_alpha_divergence_coef": self.f_alpha_divergence_coef,
            "ld_alpha": self.ld_alpha, "use_weighting": self.use_weighting,
        }

    def _compute_loss(self, model: nn.Module, inputs: Dict[str, Any], return_outputs: bool):
        mode = "train" if self.model.training else "eval"
        model_kwargs = {k: v for k, v in inputs.items() if k not in {"completion_mask", "ref_chosen_logps", "ref_rejected_logps"}}
        model_kwargs["use_cache"] = False
        if self.aux_loss_enabled:
            model_kwargs["output_router_logits"] = True
        completion_mask = inputs["completion_mask"]
        shift_mask = completion_mask[..., 1:]
        labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
        outputs = model(**model_kwargs, labels=labels, fused_lm_head=True)
        seq_len = shift_mask.size(1)
        per_token_logps = outputs.log_probs[:, -seq_len:]
        chosen, rejected = per_token_logps.chunk(2, dim=0)
        chosen_mask, rejected_mask = shift_mask.chunk(2, dim=0)

        if self.precompute_ref_logps:
            references = dict(reference_chosen=inputs["ref_chosen_logps"], reference_rejected=inputs["ref_rejected_logps"])
        else:
            ref_kwargs = {k: v for k, v in model_kwargs.items() if k != "output_router_logits"}
            with torch.no_grad():
                ref_outputs = self.ref_model(**ref_kwargs, labels=labels, fused_lm_head=True)
            ref_chosen, ref_rejected = ref_outputs.log_probs[:, -seq_len:].chunk(2, dim=0)
            references = dict(reference_chosen=ref_chosen, reference_rejected=ref_rejected,
                              reference_chosen_mask=chosen_mask, reference_rejected_mask=rejected_mask)

        if self.use_weighting:
            # WPO's weights, as TRL reads them: the fused head's per-token log Σ p², no gradient.
            chosen_sq, rejected_sq = outputs.log_sum_sq_probs[:, -seq_len:].detach().chunk(2, dim=0)
            references.update(chosen_log_sum_sq_probs=chosen_sq, rejected_log_sum_sq_probs=rejected_sq)
        result = self._ask(mode, chosen, rejected, chosen_mask=chosen_mask, rejected_mask=rejected_mask,
                           **references, **self.loss_config())
        loss = _with_server_gradients(result, ((chosen, "chosen"), (rejected, "rejected")))
        if self.aux_loss_enabled:
            # A mixture-of-experts router's balancing loss belongs to the model, as in TRL: added here.
            loss = loss + self.router_aux_loss_coef * outputs.aux_loss
            self._metrics[mode]["aux_loss"].append(self.accelerator.gather_for_metrics(outputs.aux_loss).mean().item())
        self._log_model_metrics(mode, inputs, outputs, shift_mask, seq_len)
        # TRL's rewards are beta × (policy − reference) log-probs, in the dtype that difference has.
        rewards_dtype = torch.promote_types(chosen.dtype, references["reference_chosen"].dtype)
        self._log_reward_metrics(mode, result, chosen.dtype, rewards_dtype)
        if return_outputs:
            # As TRL 1.16 does for `compute_metrics` (deprecated there): the logits need a plain forward.
            with torch.no_grad():
                outputs = model(**{k: v for k, v in model_kwargs.items() if k != "output_router_logits"})
            return loss, outputs
        return loss

    def _log_model_metrics(self, mode: str, inputs: Dict[str, Any], outputs: Any, shift_mask: torch.Tensor, seq_len: int) -> None:
        """Entropy, token counts, mean logits and token accuracy: what TRL logs about the model itself."""
        gather = self.accelerator.gather_for_metrics
        total_tokens = gather(shift_mask.sum()).sum()
        entropy_sum = gather((outputs.entropy[:, -seq_len:].detach() * shift_mask).sum()).sum()
        self._metrics[mode]["entropy"].append((entropy_sum / total_tokens).item() if total_tokens > 0 else 0.0)
        if mode == "train":
            self._total_train_tokens += gather(inputs["attention_mask"].sum()).sum().item() // self._tp_size
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        chosen_logits, rejected_logits = outputs.mean_logits[:, -seq_len:].chunk(2, dim=0)
        chosen_mask, rejected_mask = shift_mask.chunk(2, dim=0)
        for name, logits, mask in (("logits/chosen", chosen_logits, chosen_mask), ("logits/rejected", rejected_logits, rejected_mask)):
            total = gather(logits[mask.bool()].sum()).sum().item()
            count = gather(mask.sum()).sum().item()
            self._metrics[mode][name].append(total / count if count > 0 else 0.0)
        chosen_top1, _ = outputs.is_top1[:, -seq_len:].chunk(2, dim=0)
        correct = gather((chosen_top1 & chosen_mask.bool()).sum())
        chosen_total = gather(chosen_mask.sum()).sum()
        self._metrics[mode]["mean_token_accuracy"].append((correct.sum() / chosen_total).item() if chosen_total > 0 else 0.0)

    def _log_reward_metrics(self, mode: str, result: LossResult, logps_dtype: torch.dtype,
                            rewards_dtype: torch.dtype) -> None:
        """Rewards, accuracies, margins and log-probs of every pair on every rank, from the server's
        per-pair arrays: TRL's DPO gathers them with `gather` (an epoch's padding repeats included)."""
        gather = self.accelerator.gather
        chosen_rewards = self._tensor(result.chosen_rewards, rewards_dtype)
        rejected_rewards = self._tensor(result.rejected_rewards, rewards_dtype)
        metrics = self._metrics[mode]
        metrics["rewards/chosen"].append(gather(chosen_rewards).mean().item())
        metrics["rewards/rejected"].append(gather(rejected_rewards).mean().item())
        metrics["rewards/accuracies"].append(gather((chosen_rewards > rejected_rewards).float()).mean().item())
        metrics["rewards/margins"].append(gather(chosen_rewards - rejected_rewards).mean().item())
        metrics["logps/chosen"].append(gather(self._tensor(result.chosen_logps, logps_dtype)).mean().item())
        metrics["logps/rejected"].append(gather(self._tensor(result.rejected_logps, logps_dtype)).mean().item())


class _RemotePairTrainerMixin(_RemoteTrainer):
    """CPO and ORPO: the per-token log-probs TRL's `get_batch_logps` reduces, sent to the server."""

    #: ORPO's odds metrics, the server's batch means: TRL computes them in float32.
    _odds_metrics = ("log_odds_ratio", "log_odds_chosen")

    def _forward_tokens(self, model: nn.Module, batch: Dict[str, Any], padding_value: int):
        """(per-token log-probs [2B, T-1] of every next token, completion mask, attention mask of
        the predicted tokens, model outputs, B). At completion tokens the log-probs are `get_batch_logps`'s;
        elsewhere they are the input tokens', which ORPO's NLL reads over the prompt."""
        if self.is_encoder_decoder:
            raise NotImplementedError("the Remote trainers support decoder-only models")
        concatenated = self.concatenated_inputs(batch, is_encoder_decoder=False, padding_value=padding_value, device=self.accelerator.device)
        input_ids = concatenated["concatenated_input_ids"]
        router = {"output_router_logits": True} if self.aux_loss_enabled else {}
        outputs = model(input_ids, attention_mask=concatenated["concatenated_attention_mask"], use_cache=False, **router)
        logits = outputs.logits
        completion = concatenated["concatenated_labels"][:, 1:] != -100
        per_token_logps = selective_log_softmax(logits[:, :-1, :], input_ids[:, 1:])
        attended = concatenated["concatenated_attention_mask"][:, 1:] == 1
        return per_token_logps, completion, attended, outputs, batch["chosen_labels"].shape[0]

    def _remote_loss(self, model: nn.Module, batch: Dict[str, Any], config: Dict[str, Any], padding_value: int,
                     train_eval: Literal["train", "eval"], nll_over_attention: bool = False,
                     logged_positions: slice = slice(None), rewards_dtype: Optional[torch.dtype] = None):
        per_token_logps, completion, attended, outputs, size = self._forward_tokens(model, batch, padding_value)
        chosen, rejected = per_token_logps[:size], per_token_logps[size:]
        extra = {}
        if nll_over_attention:
            extra["chosen_nll_mask"] = attended[:size]
        result = self._ask(train_eval, chosen, rejected, chosen_mask=completion[:size], rejected_mask=completion[size:],
                           **extra, **config)
        loss = _with_server_gradients(result, ((chosen, "chosen"), (rejected, "rejected")))
        if self.aux_loss_enabled:
            loss = loss + self.aux_loss_coef * outputs.aux_loss  # the router's balancing loss, as in TRL
        metrics = self._gathered_metrics(result, outputs.logits[:, logged_positions].detach(), size,
                                         per_token_logps.dtype, rewards_dtype or per_token_logps.dtype)
        prefix = "eval_" if train_eval == "eval" else ""
        return loss, {f"{prefix}{name}": value for name, value in metrics.items()}

    def _gathered_metrics(self, result: LossResult, logits: torch.Tensor, size: int, logps_dtype: torch.dtype,
                          rewards_dtype: torch.dtype) -> Dict[str, float]:
        """TRL's metrics of the batch on every rank, gathered with `gather_for_metrics` as TRL's CPO
        and ORPO do: the server's per-pair arrays pair by pair; its batch means (NLL, odds) and the
        model's mean logits as one value a rank. At an epoch's end that drops the padding repeats,
        and with them every value past the dataset's remainder (all but rank 0's, for a remainder of 1)."""
        gather = self.accelerator.gather_for_metrics
        chosen_rewards = self._tensor(result.chosen_rewards, rewards_dtype)
        rejected_rewards = self._tensor(result.rejected_rewards, rewards_dtype)
        metrics = {
            "rewards/chosen": gather(chosen_rewards).mean().item(),
            "rewards/rejected": gather(rejected_rewards).mean().item(),
            "rewards/accuracies": gather((chosen_rewards > rejected_rewards).float()).mean().item(),
            "rewards/margins": gather(chosen_rewards - rejected_rewards).mean().item(),
            "logps/rejected": gather(self._tensor(result.rejected_logps, logps_dtype)).mean().item(),
            "logps/chosen": gather(self._tensor(result.chosen_logps, logps_dtype)).mean().item(),
            "logits/rejected": gather(logits[size:].mean()).mean().item(),
            "logits/chosen": gather(logits[:size].mean()).mean().item(),
            "nll_loss": gather(self._tensor(result.metrics["nll_loss"], logps_dtype)).mean().item(),
        }
        for name in self._odds_metrics:
            if name in result.metrics:
                metrics[name] = gather(self._tensor(result.metrics[name], torch.float32)).mean().item()
        return metrics


class RemoteCPOTrainer(_RemotePairTrainerMixin, CPOTrainer):
    """`trl.experimental.cpo.CPOTrainer` (CPO, SimPO, AlphaPO) whose loss is evaluated by prefloss-server."""

    def loss_config(self) -> Dict[str, Any]:
        """The request's ``config``: TRL's own keys, from the trainer's settings."""
        config = {"objective": "cpo", "loss_type": self.loss_type, "beta": self.beta, "label_smoothing": self.label_smoothing,
                  "cpo_alpha": self.cpo_alpha, "alpha": self.alpha}
        if self.loss_type == "simpo":
            config["simpo_gamma"] = self.simpo_gamma
        return config

    def get_batch_loss_metrics(self, model: nn.Module, batch: Dict[str, Any], train_eval: Literal["train", "eval"] = "train"):
        return self._remote_loss(model, batch, self.loss_config(), self.pad_token_id, train_eval)


class RemoteORPOTrainer(_RemotePairTrainerMixin, ORPOTrainer):
    """`trl.experimental.orpo.ORPOTrainer` whose loss is evaluated by prefloss-server.

    TRL's ORPO takes its NLL over every attended chosen token, the prompt's included, and its
    odds over the completion: the request says so with ``chosen.nll_mask``.
    """

    def loss_config(self) -> Dict[str, Any]:
        """The request's ``config``: TRL's own keys, from the trainer's settings."""
        return {"objective": "orpo", "beta": self.beta}

    def get_batch_loss_metrics(self, model: nn.Module, batch: Dict[str, Any], train_eval: Literal["train", "eval"] = "train"):
        # ORPO logs the logits of the predicting positions only (all but the last), and its rewards in float32.
        return self._remote_loss(model, batch, self.loss_config(), self.padding_value, train_eval,
                                 nll_over_attention=True, logged_positions=slice(None, -1), rewards_dtype=torch.float32)


def _by_side(tensor: torch.Tensor, sides: Tuple[torch.Tensor, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    """`tensor`'s rows of each side: the desirable rows, then the undesirable ones."""
    chosen, rejected = (tensor.index_select(0, rows) for rows in sides)
    return chosen, rejected


class RemoteKTOTrainer(_RemoteTrainer, KTOTrainer):
    """`trl.KTOTrainer` (``kto`` and ``apo_zero_unpaired``) whose loss is evaluated by prefloss-server.

    Each batch's desirable completions go as ``chosen`` and its undesirable ones as ``rejected``
    (either side may have none). The KL point is computed as TRL computes it, from the batch's
    mismatched KL completions, and gathered across processes as TRL gathers it: it goes as
    ``kl_value``, so every process's loss uses the same point.
    """

    #: TRL's batch keys that are not the model's inputs.
    _not_model_inputs = frozenset({"completion_mask", "KL_input_ids", "KL_attention_mask", "KL_completion_mask",
                                   "KL_token_type_ids", "KL_mm_token_type_ids", "label", "ref_logps", "ref_KL_logps"})

    def loss_config(self) -> Dict[str, Any]:
        """The request's ``config``: TRL's own keys, from the trainer's settings."""
        return {"objective": "kto", "loss_type": self.loss_type, "beta": self.beta,
                "desirable_weight": self.desirable_weight, "undesirable_weight": self.undesirable_weight}

    def _compute_loss(self, model: nn.Module, inputs: Dict[str, Any], return_outputs: bool):
        mode = "train" if self.model.training else "eval"
        batch = {k: (v.to(self.accelerator.device) if isinstance(v, torch.Tensor) else v) for k, v in inputs.items()}
        kl_logps = self._compute_kl_logps(model, batch)
        model_kwargs = {k: v for k, v in batch.items() if k not in self._not_model_inputs}
        model_kwargs["use_cache"] = False
        if self.aux_loss_enabled:
            model_kwargs["output_router_logits"] = True
        labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
        outputs = model(**model_kwargs, labels=labels, fused_lm_head=True)
        seq_len = batch["input_ids"].size(1) - 1
        per_token_logps = outputs.log_probs[:, -seq_len:]  # 0 outside the completion
        shift_mask = batch["completion_mask"][:, 1:]
        desirable = torch.as_tensor(batch["label"], dtype=torch.bool, device=per_token_logps.device)
        sides = (torch.nonzero(desirable).view(-1), torch.nonzero(~desirable).view(-1))
        chosen, rejected = _by_side(per_token_logps, sides)
        chosen_mask, rejected_mask = _by_side(shift_mask, sides)

        references, ref_kl_logps = self._references(model_kwargs, labels, batch, seq_len, sides,
                                                    (chosen_mask, rejected_mask))
        arguments = dict(chosen_mask=chosen_mask, rejected_mask=rejected_mask, **references)
        if self.calculate_KL:
            # TRL's point: each process's mean, gathered as TRL gathers it, averaged, clamped at 0.
            kl = (kl_logps - ref_kl_logps).mean().detach()
            arguments["kl_value"] = self.accelerator.gather_for_metrics(kl).mean().clamp(min=0).item()
        result = self._ask(mode, chosen, rejected, **arguments, **self.loss_config())
        loss = _with_server_gradients(result, ((chosen, "chosen"), (rejected, "rejected")))
        self._metrics[mode]["kl"].append(result.metrics["kl"])
        self._log_model_metrics(mode, batch, outputs, shift_mask, seq_len, sides)
        rewards_dtype = torch.promote_types(chosen.dtype, references["reference_chosen"].dtype)
        self._log_side_metrics(mode, result, desirable, chosen.dtype, rewards_dtype)
        if self.aux_loss_enabled:
            loss = loss + self.router_aux_loss_coef * outputs.aux_loss  # the router's balancing loss, as in TRL
            self._metrics[mode]["aux_loss"].append(self.accelerator.gather_for_metrics(outputs.aux_loss).mean().item())
        if return_outputs:
            # As TRL 1.16 does for `compute_metrics` (deprecated there): the logits need a plain forward.
            with torch.no_grad():
                outputs = model(**model_kwargs)
            return loss, outputs
        return loss

    def _references(self, model_kwargs: Dict[str, Any], labels: torch.Tensor, batch: Dict[str, Any], seq_len: int,
                    sides: Tuple[torch.Tensor, torch.Tensor], masks: Tuple[torch.Tensor, torch.Tensor]
                    ) -> Tuple[Dict[str, torch.Tensor], Optional[torch.Tensor]]:
        """The reference model's log-probs of each side (per token with the policy's `masks`, or
        precomputed per sequence), as TRL computes them, and of the KL completions (None without KL)."""
        if self.precompute_ref_logps:
            chosen, rejected = _by_side(batch["ref_logps"], sides)
            return dict(reference_chosen=chosen, reference_rejected=rejected), batch.get("ref_KL_logps")
        ref_kwargs = {k: v for k, v in model_kwargs.items() if k != "output_router_logits"}
        with torch.no_grad(), disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs):
            if is_peft_model(self.model) and self.ref_model is None:
                unwrapped = self.accelerator.unwrap_model(self.model)
                with use_adapter(unwrapped, adapter_name="ref" if "ref" in unwrapped.peft_config else None):
                    ref_kl_logps = self._compute_kl_logps(self.model, batch)
                    ref_outputs = self.model(**ref_kwargs, labels=labels, fused_lm_head=True)
            else:
                ref_kl_logps = self._compute_kl_logps(self.ref_model, batch)
                ref_outputs = self.ref_model(**ref_kwargs, labels=labels, fused_lm_head=True)
        chosen, rejected = _by_side(ref_outputs.log_probs[:, -seq_len:], sides)
        return dict(reference_chosen=chosen, reference_rejected=rejected, reference_chosen_mask=masks[0],
                    reference_rejected_mask=masks[1]), ref_kl_logps

    def _log_model_metrics(self, mode: str, batch: Dict[str, Any], outputs: Any, shift_mask: torch.Tensor,
                           seq_len: int, sides: Tuple[torch.Tensor, torch.Tensor]) -> None:
        """Entropy, token counts and mean logits: what TRL's KTO logs about the model itself, gathered
        as sums and counts with `gather_for_metrics`; a side's logits only when some process has its tokens."""
        gather = self.accelerator.gather_for_metrics
        metrics = self._metrics[mode]
        entropy_sum = gather((outputs.entropy[:, -seq_len:].detach() * shift_mask).sum()).sum()
        total_tokens = gather(shift_mask.sum()).sum()
        metrics["entropy"].append((entropy_sum / total_tokens).item() if total_tokens > 0 else 0.0)
        if mode == "train":
            self._total_train_tokens += gather(batch["attention_mask"].sum()).sum().item() // self._tp_size
        metrics["num_tokens"] = [self._total_train_tokens]
        mean_logits = outputs.mean_logits[:, -seq_len:]
        totals = []
        for rows in sides:
            mask = shift_mask.index_select(0, rows)
            totals.append((mean_logits.index_select(0, rows)[mask.bool()].sum(), mask.sum()))
        # In TRL's order: each side's logits sum, then its token count.
        gathered = [(gather(logits).sum().item(), gather(tokens).sum().item()) for logits, tokens in totals]
        for name, (logits, tokens) in zip(("logits/chosen", "logits/rejected"), gathered):
            if tokens > 0:
                metrics[name].append(logits / tokens)

    def _log_side_metrics(self, mode: str, result: LossResult, desirable: torch.Tensor, logps_dtype: torch.dtype,
                          rewards_dtype: torch.dtype) -> None:
        """Each side's mean reward and log-prob over every process, from the server's per-completion
        arrays: TRL's sums and counts gathered with `gather_for_metrics`; margins when both sides have some."""
        gather = self.accelerator.gather_for_metrics
        metrics = self._metrics[mode]
        num_chosen = desirable.sum()
        counts = {"chosen": gather(num_chosen).sum().item(),
                  "rejected": gather(len(desirable) - num_chosen).sum().item()}
        for side in ("chosen", "rejected"):
            rewards, logps = getattr(result, f"{side}_rewards"), getattr(result, f"{side}_logps")
            if counts[side] > 0:
                # TRL's empty side is a float32 `torch.Tensor([])`.
                dtype = rewards_dtype if len(rewards) else torch.float32
                metrics[f"rewards/{side}"].append(
                    gather(self._tensor(rewards, dtype).nansum()).nansum().item() / counts[side])
                metrics[f"logps/{side}"].append(
                    gather(self._tensor(logps, logps_dtype).nansum()).nansum().item() / counts[side])
        if counts["chosen"] > 0 and counts["rejected"] > 0:
            metrics["rewards/margins"].append(metrics["rewards/chosen"][-1] - metrics["rewards/rejected"][-1])
