"""`remote_loss`: the server's loss as a torch.autograd.Function.

    loss = remote_loss(client, policy_chosen_logps, policy_rejected_logps,
                      chosen_mask=mask_c, rejected_mask=mask_r, beta=2.0, gamma_beta_ratio=0.25)
    loss.backward()   # d loss / d logps from the server, times grad_output

The forward pass asks the server for the loss and its per-token (or per-sequence) gradients;
the backward pass returns those gradients, scaled by the incoming gradient, on the inputs'
device and dtype. Masks and the reference log-probs get no gradient.
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
    def forward(ctx, chosen, rejected, client, chosen_mask, rejected_mask, reference_chosen, reference_rejected, config, holder):
        result = client.loss(
            chosen, rejected, chosen_mask=chosen_mask, rejected_mask=rejected_mask,
            reference_chosen=reference_chosen, reference_rejected=reference_rejected,
            return_token_grads=True, **config)
        holder["result"] = result
        ctx.sides = [(_gradient(result, "chosen", chosen), chosen.dtype, chosen.device),
                     (_gradient(result, "rejected", rejected), rejected.dtype, rejected.device)]
        return torch.tensor(result.loss, dtype=chosen.dtype, device=chosen.device)

    @staticmethod
    def backward(ctx, grad_output):
        scale = float(grad_output)
        return tuple(_scaled(grad, scale, dtype, device) for grad, dtype, device in ctx.sides) + (None,) * 7


_NUMPY_FLOATS = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}


def _gradient(result: LossResult, side: str, like: torch.Tensor) -> np.ndarray:
    return result.grads[f"{side}_per_token_logps" if like.dim() == 2 else f"{side}_logps"]


def _scaled(grad: np.ndarray, scale: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``scale`` × the server's gradient as a new tensor of the input's dtype and device. numpy
    makes it in one pass; autograd then takes it as the input's ``.grad`` without a copy."""
    scaled = np.multiply(grad, scale, dtype=_NUMPY_FLOATS.get(dtype, np.float32))
    return torch.from_numpy(scaled).to(dtype=dtype, device=device)


def remote_loss(client: LossClient, chosen: torch.Tensor, rejected: torch.Tensor, *,
               chosen_mask: Optional[torch.Tensor] = None, rejected_mask: Optional[torch.Tensor] = None,
               reference_chosen: Optional[torch.Tensor] = None, reference_rejected: Optional[torch.Tensor] = None,
               return_result: bool = False, **config):
    """The mean total loss of the batch as a scalar tensor that backpropagates into
    ``chosen`` and ``rejected`` (per-token [B, T] or per-sequence [B] log-probs).

    With ``return_result=True`` returns ``(loss, LossResult)``, for logging the metrics.
    """
    holder = {}
    loss = _RemoteLoss.apply(chosen, rejected, client, chosen_mask, rejected_mask, reference_chosen, reference_rejected, config, holder)
    return (loss, holder["result"]) if return_result else loss
