"""Client for simpo-server: SimPO (and DPO) losses, gradients and reward metrics over HTTP.

    from simpo_client import SimPOClient
    client = SimPOClient("http://127.0.0.1:8080")
    result = client.loss(chosen_logps, rejected_logps, chosen_mask=m1, rejected_mask=m2, beta=2.0)
    result.loss, result.metrics["rewards/accuracies"], result.grads["chosen_per_token_logps"]

`simpo_client.torch.simpo_loss` wraps the same call in a torch.autograd.Function.
"""

from .client import LossResult, SimPOClient, sanitize_run_id
from .errors import SimPOConnectionError, SimPOError, SimPOProblem

__all__ = ["SimPOClient", "LossResult", "SimPOError", "SimPOProblem", "SimPOConnectionError", "sanitize_run_id"]
