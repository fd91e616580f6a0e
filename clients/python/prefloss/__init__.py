"""Client for prefloss-server: preference-optimisation losses (SimPO, DPO with TRL's loss types and
WPO, CPO/AlphaPO, ORPO, KTO, SimPER and DPO-Positive), their gradients and reward metrics, over HTTP.

    from prefloss import LossClient
    client = LossClient("http://127.0.0.1:8080")
    result = client.loss(chosen_logps, rejected_logps, chosen_mask=m1, rejected_mask=m2, beta=2.0)
    result.loss, result.metrics["rewards/accuracies"], result.grads["chosen_per_token_logps"]

`prefloss.torch.remote_loss` wraps the same call in a torch.autograd.Function.
"""

from .client import LossResult, LossClient, sanitize_run_id
from .errors import LossConnectionError, LossError, LossProblem
from .position import RunPosition

__all__ = ["LossClient", "LossResult", "LossError", "LossProblem", "LossConnectionError", "RunPosition",
           "sanitize_run_id"]
