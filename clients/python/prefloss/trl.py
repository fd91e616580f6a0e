"""TRL 1.16's preference trainers with the loss evaluated by prefloss-server.

    from prefloss import LossClient
    from prefloss.trl import RemoteDPOTrainer

    trainer = RemoteDPOTrainer(model=model, args=DPOConfig(...), train_dataset=dataset,
                               processing_class=tokenizer, loss_client=LossClient("http://127.0.0.1:8080"))
    trainer.train()

Each trainer is TRL's own, with the same constructor plus ``loss_client``. It computes the
model's per-token log-probs as TRL does, sends them (as safetensors) with the loss config read
from its ``args``, and backpropagates the per-token gradients the server returns: the step's
loss tensor has the server's value and the server's gradients. It logs TRL's metric names: the
server's rewards, log-probs, NLL and odds metrics, and the model-side ones (logits, entropy,
token accuracy) computed locally as TRL computes them.

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

try:
    import torch
    from torch import nn
    from trl import DPOTrainer
    from trl.experimental.cpo import CPOTrainer
    from trl.experimental.orpo import ORPOTrainer
    from trl.trainer.utils import selective_log_softmax
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
        (logps * torch.from_numpy(result.grads[f"{side}_per_token_logps"]).to(dtype=logps.dtype, device=logps.device)).sum()
        for logps, side in pieces)
    return surrogate + (torch.tensor(result.loss, dtype=surrogate.dtype, device=surrogate.device) - surrogate.detach())


class RemoteDPOTrainer(DPOTrainer):
    """`trl.DPOTrainer` whose loss (every `loss_type`, `loss_weights`, f-divergence and
    `ld_alpha`) is evaluated by prefloss-server."""

    def __init__(self, *args: Any, loss_client: LossClient, **kwargs: Any):
        self.loss_client = loss_client
        super().__init__(*args, **kwargs)
        _name_the_run(loss_client, self.args)

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

        result = self.loss_client.loss(chosen, rejected, chosen_mask=chosen_mask, rejected_mask=rejected_mask,
                                       return_token_grads=True, **references, **self.loss_config())
        loss = _with_server_gradients(result, ((chosen, "chosen"), (rejected, "rejected")))
        if self.aux_loss_enabled:
            # A mixture-of-experts router's balancing loss belongs to the model, as in TRL: added here.
            loss = loss + self.router_aux_loss_coef * outputs.aux_loss
            self._metrics[mode]["aux_loss"].append(self.accelerator.gather_for_metrics(outputs.aux_loss).mean().item())
        self._log_model_metrics(mode, inputs, outputs, shift_mask, seq_len)
        for name in ("rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen", "logps/rejected"):
            self._metrics[mode][name].append(result.metrics[name])
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


class _RemotePairTrainerMixin:
    """CPO and ORPO: the per-token log-probs TRL's `get_batch_logps` reduces, sent to the server."""

    loss_client: LossClient
    #: The server's metrics that TRL's CPO and ORPO log; the server's others (ties, token counts) are left out.
    _trl_metrics = ("rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen",
                    "logps/rejected", "nll_loss", "log_odds_ratio", "log_odds_chosen")

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
                     train_eval: str, nll_over_attention: bool = False, logged_positions: slice = slice(None)):
        per_token_logps, completion, attended, outputs, size = self._forward_tokens(model, batch, padding_value)
        logits = outputs.logits
        chosen, rejected = per_token_logps[:size], per_token_logps[size:]
        extra = {}
        if nll_over_attention:
            extra["chosen_nll_mask"] = attended[:size]
        result = self.loss_client.loss(chosen, rejected, chosen_mask=completion[:size], rejected_mask=completion[size:],
                                       return_token_grads=True, **extra, **config)
        loss = _with_server_gradients(result, ((chosen, "chosen"), (rejected, "rejected")))
        if self.aux_loss_enabled:
            loss = loss + self.aux_loss_coef * outputs.aux_loss  # the router's balancing loss, as in TRL
        prefix = "eval_" if train_eval == "eval" else ""
        metrics = {f"{prefix}{name}": result.metrics[name] for name in self._trl_metrics if name in result.metrics}
        logged = logits[:, logged_positions].detach()
        metrics[f"{prefix}logits/rejected"] = self.accelerator.gather_for_metrics(logged[size:].mean()).mean().item()
        metrics[f"{prefix}logits/chosen"] = self.accelerator.gather_for_metrics(logged[:size].mean()).mean().item()
        return loss, metrics


class RemoteCPOTrainer(_RemotePairTrainerMixin, CPOTrainer):
    """`trl.experimental.cpo.CPOTrainer` (CPO, SimPO, AlphaPO) whose loss is evaluated by prefloss-server."""

    def __init__(self, *args: Any, loss_client: LossClient, **kwargs: Any):
        self.loss_client = loss_client
        super().__init__(*args, **kwargs)
        _name_the_run(loss_client, self.args)

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

    def __init__(self, *args: Any, loss_client: LossClient, **kwargs: Any):
        self.loss_client = loss_client
        super().__init__(*args, **kwargs)
        _name_the_run(loss_client, self.args)

    def loss_config(self) -> Dict[str, Any]:
        """The request's ``config``: TRL's own keys, from the trainer's settings."""
        return {"objective": "orpo", "beta": self.beta}

    def get_batch_loss_metrics(self, model: nn.Module, batch: Dict[str, Any], train_eval: Literal["train", "eval"] = "train"):
        # ORPO logs the logits of the predicting positions only (all but the last).
        return self._remote_loss(model, batch, self.loss_config(), self.padding_value, train_eval,
                                 nll_over_attention=True, logged_positions=slice(None, -1))
