"""`remote_loss`: the server's loss as a torch.autograd.Function.

    loss = remote_loss(client, policy_chosen_logps, policy_rejected_logps,
                      chosen_mask=mask_c, rejected_mask=mask_r, beta=2.0, gamma_beta_ratio=0.25)
    loss.backward()   # d loss / d logps from the server, times grad_output

The forward pass asks the server for the loss and its per-token (or per-sequence) gradients;
the backward pass returns those gradients, scaled by the incoming gradient, on the inputs'
device and dtype. Masks, the reference log-probs, KTO's KL inputs and WPO's log Σ p² get no
gradient.
"""

from typing import Optional

import numpy as np

from ._extras import missing_extra
from .client import LossResult, LossClient

try:
    import torch
except ImportError as error:
    raise missing_extra(__name__, "torch", error) from error


class _RemoteLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, chosen, rejected, client, arguments, holder):
        result = client.loss(chosen, rejected, return_token_grads=True, **arguments)
        holder["result"] = result
        ctx.sides = [(_gradient(result, "chosen", chosen), chosen.dtype, chosen.device),
                     (_gradient(result, "rejected", rejected), rejected.dtype, rejected.device)]
        return torch.tensor(result.loss, dtype=chosen.dtype, device=chosen.device)

    @staticmethod
    def backward(ctx, grad_output):
        scale = float(grad_output)
        return tuple(_scaled(grad, scale, dtype, device) for grad, dtype, device in ctx.sides) + (None,) * 3


_NUMPY_FLOATS = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}


def _gradient(result: LossResult, side: str, like: torch.Tensor) -> np.ndarray:
    """The server's gradient of ``side`` in the input's shape: an empty [0, T] side (KTO's) comes back [0, 0]."""
    return result.grads[f"{side}_per_token_logps" if like.dim() == 2 else f"{side}_logps"].reshape(like.shape)


def _scaled(grad: np.ndarray, scale: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``scale`` × the server's gradient as a new tensor of the input's dtype and device. numpy
    makes it in one pass; autograd then takes it as the input's ``.grad`` without a copy."""
    scaled = np.multiply(grad, scale, dtype=_NUMPY_FLOATS.get(dtype, np.float32))
    return torch.from_numpy(scaled).to(dtype=dtype, device=device)


def remote_loss(client: LossClient, chosen: torch.Tensor, rejected: torch.Tensor, *,
               chosen_mask: Optional[torch.Tensor] = None, rejected_mask: Optional[torch.Tensor] = None,
               reference_chosen: Optional[torch.Tensor] = None, reference_rejected: Optional[torch.Tensor] = None,
               kl: Optional[torch.Tensor] = None, reference_kl: Optional[torch.Tensor] = None,
               kl_mask: Optional[torch.Tensor] = None, reference_kl_mask: Optional[torch.Tensor] = None,
               kl_value: Optional[float] = None, chosen_log_sum_sq_probs: Optional[torch.Tensor] = None,
               rejected_log_sum_sq_probs: Optional[torch.Tensor] = None, return_result: bool = False, **config):
    """The mean total loss of the batch as a scalar tensor that backpropagates into
    ``chosen`` and ``rejected`` (per-token [B, T] or per-sequence [B] log-probs). KTO's KL
    inputs (``kl``, ``reference_kl`` and their masks, or ``kl_value``) and WPO's per-token log Σ p²
    (``chosen_log_sum_sq_probs``, ``rejected_log_sum_sq_probs``, with ``use_weighting=True``) are
    constants, as in TRL.

    With ``return_result=True`` returns ``(loss, LossResult)``, for logging the metrics.
    """
    holder = {}
    arguments = dict(chosen_mask=chosen_mask, rejected_mask=rejected_mask, reference_chosen=reference_chosen,
                     reference_rejected=reference_rejected, kl=kl, reference_kl=reference_kl, kl_mask=kl_mask,
                     reference_kl_mask=reference_kl_mask, kl_value=kl_value,
                     chosen_log_sum_sq_probs=chosen_log_sum_sq_probs,
                     rejected_log_sum_sq_probs=rejected_log_sum_sq_probs, **config)
    loss = _RemoteLoss.apply(chosen, rejected, client, arguments, holder)
    return (loss, holder["result"]) if return_result else loss
