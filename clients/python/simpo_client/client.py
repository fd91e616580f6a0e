"""SimPOClient: numpy arrays or torch tensors in, safetensors on the wire, numpy out."""

import json
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Union

import numpy as np
import requests
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors

from .errors import SimPOConnectionError, SimPOProblem

SAFETENSORS = "application/vnd.safetensors"
_FLOAT_TYPES = (np.float16, np.float32, np.float64)
_MASK_TYPES = (np.bool_, np.uint8, np.int64)

#: Log-probs, masks or labels: a numpy array, a torch tensor, or nested sequences.
ArrayLike = Any


@dataclass
class LossResult:
    """One loss evaluation, as the server's JSON response names it (arrays in the inputs'
    precision: float32 unless a side was float64)."""

    loss: float
    preference_loss: float
    sft_loss: float
    losses: np.ndarray
    logits: np.ndarray
    chosen_logps: np.ndarray
    rejected_logps: np.ndarray
    chosen_rewards: np.ndarray
    rejected_rewards: np.ndarray
    #: ``chosen_logps``, ``rejected_logps`` [B] and, when asked, ``chosen_per_token_logps``,
    #: ``rejected_per_token_logps`` [B, T]: gradients of ``loss``.
    grads: Dict[str, np.ndarray] = field(default_factory=dict)
    #: ``rewards/chosen``, ``rewards/accuracies``, ``logps/chosen``, ... as TRL logs them.
    metrics: Dict[str, float] = field(default_factory=dict)
    warnings: List[Dict[str, str]] = field(default_factory=list)


class SimPOClient:
    """A connection to one simpo-server.

    Responses come back in the precision of the inputs (float32 tensors for float32, float16 or
    bfloat16 log-probs; float64 when any side is float64) and uncompressed, since tensors barely
    compress and a trainer usually talks to a server on the same host or cluster; pass
    ``compress_responses=True`` across slow links. The connection is kept open between calls.

    Requests that meet a 503 or a connection error are retried up to ``retries`` times with
    exponential backoff (honouring ``Retry-After``), and never past ``retry_budget`` seconds
    in all; a loss evaluation is safe to repeat. Any other refusal raises `SimPOProblem` at
    once, so no batch is ever skipped silently.
    """

    def __init__(self, base_url: str, token: Optional[str] = None, timeout: float = 60.0,
                 retries: int = 3, backoff: float = 0.2, retry_budget: float = 60.0, compress_responses: bool = False):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.retry_budget = retry_budget
        self._session = requests.Session()
        self._session.headers["Accept-Encoding"] = "gzip" if compress_responses else "identity"
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"

    def health(self) -> Dict[str, Any]:
        """``GET /health``: ``{"status": "ok"}`` from a live server."""
        response = self._request("GET", "/health")
        return response.json()

    def loss(self, chosen: ArrayLike, rejected: ArrayLike, *,
             chosen_mask: Optional[ArrayLike] = None, rejected_mask: Optional[ArrayLike] = None,
             chosen_labels: Optional[ArrayLike] = None, rejected_labels: Optional[ArrayLike] = None,
             reference_chosen: Optional[ArrayLike] = None, reference_rejected: Optional[ArrayLike] = None,
             reference_chosen_mask: Optional[ArrayLike] = None, reference_rejected_mask: Optional[ArrayLike] = None,
             chosen_nll_mask: Optional[ArrayLike] = None, return_token_grads: bool = False, **config: Any) -> LossResult:
        """Evaluates the loss of one batch.

        ``chosen``/``rejected`` are per-token log-probs [B, T] or per-sequence log-probs [B];
        numpy arrays or torch tensors. A per-token side selects its tokens with a 0/1 ``mask``
        or with ``labels`` (TRL's convention: tokens labelled ``label_pad_token_id``, -100 by
        default, are not selected), or selects every token. Reference sides (DPO) have masks
        of their own: nothing is borrowed from the policy's. ``chosen_nll_mask`` [B, T] says which
        chosen tokens an SFT or NLL term averages over, when not the chosen selection (TRL's
        ORPO takes its NLL over the prompt's tokens too). Keyword arguments such as
        ``objective="dpo", loss_type=["sigmoid", "sft"], loss_weights=[1, 0.3]`` are the
        server's ``config``. Raises `SimPOProblem` when the server refuses the batch.
        """
        tensors: Dict[str, np.ndarray] = {}
        _add_side(tensors, "chosen", chosen, chosen_mask, chosen_labels)
        if chosen_nll_mask is not None:
            tensors["chosen.nll_mask"] = _as_numpy(chosen_nll_mask, _MASK_TYPES, np.int64)
        _add_side(tensors, "rejected", rejected, rejected_mask, rejected_labels)
        if reference_chosen is not None:
            _add_side(tensors, "reference_chosen", reference_chosen, reference_chosen_mask)
        if reference_rejected is not None:
            _add_side(tensors, "reference_rejected", reference_rejected, reference_rejected_mask)
        metadata = {"return_token_grads": "true" if return_token_grads else "false"}
        if config:
            metadata["config"] = json.dumps(config)
        body = save_safetensors(tensors, metadata=metadata)
        precision = "F64" if any(t.dtype == np.float64 for t in tensors.values()) else "F32"
        response = self._request(
            "POST", "/v1/loss", data=body,
            headers={"Content-Type": SAFETENSORS, "Accept": f"{SAFETENSORS};dtype={precision}"})
        return _parse_result(response.content)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "SimPOClient":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = self.base_url + path
        deadline = time.monotonic() + self.retry_budget
        for attempt in range(self.retries + 1):
            delay = self.backoff * (2 ** attempt)
            try:
                response = self._session.request(method, url, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as error:
                if attempt == self.retries or time.monotonic() + delay > deadline:
                    raise SimPOConnectionError(f"{method} {url}: {error}", error) from error
            else:
                retry_after = max(delay, _retry_after(response)) if response.status_code == 503 else delay
                if response.status_code == 503 and attempt < self.retries and time.monotonic() + retry_after <= deadline:
                    delay = retry_after
                elif response.ok:
                    return response
                else:
                    raise SimPOProblem(response.status_code, _problem(response))
            time.sleep(delay)
        raise AssertionError("unreachable")


def _as_numpy(value: ArrayLike, allowed: tuple, fallback: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor; numpy has no bfloat16, and bf16 → f32 is exact
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            value = value.float()
        value = value.numpy()
    array = np.asarray(value)
    if array.dtype.type not in allowed:
        array = array.astype(fallback)
    return np.ascontiguousarray(array)


def _add_side(tensors: Dict[str, np.ndarray], side: str, logps: ArrayLike, mask: Optional[ArrayLike],
              labels: Optional[ArrayLike] = None) -> None:
    values = _as_numpy(logps, _FLOAT_TYPES, np.float64)
    if mask is not None and labels is not None:
        raise ValueError(f"{side}: give a mask or labels, not both")
    if values.ndim == 1:
        if mask is not None or labels is not None:
            raise ValueError(f"{side}: a mask or labels go with per-token log-probs [B, T], not per-sequence [B]")
        tensors[f"{side}.logps"] = values
    elif values.ndim == 2:
        tensors[f"{side}.per_token_logps"] = values
        if mask is not None:
            tensors[f"{side}.mask"] = _as_numpy(mask, _MASK_TYPES, np.int64)
        if labels is not None:
            tensors[f"{side}.labels"] = _as_numpy(labels, (np.int64,), np.int64)
    else:
        raise ValueError(f"{side}: expected [B] or [B, T] log-probs, got shape {values.shape}")


def _metadata(data: bytes) -> Dict[str, str]:
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + length]).get("__metadata__", {})


def _parse_result(data: bytes) -> LossResult:
    tensors = load_safetensors(data)
    metadata = _metadata(data)
    grads = {name[len("grads."):]: array for name, array in tensors.items() if name.startswith("grads.")}
    return LossResult(
        loss=float(json.loads(metadata["loss"])),
        preference_loss=float(json.loads(metadata["preference_loss"])),
        sft_loss=float(json.loads(metadata["sft_loss"])),
        losses=tensors["losses"], logits=tensors["logits"],
        chosen_logps=tensors["chosen_logps"], rejected_logps=tensors["rejected_logps"],
        chosen_rewards=tensors["chosen_rewards"], rejected_rewards=tensors["rejected_rewards"],
        grads=grads, metrics=json.loads(metadata["metrics"]), warnings=json.loads(metadata["warnings"]))


def _problem(response: requests.Response) -> Mapping[str, Any]:
    try:
        problem = response.json()
        if isinstance(problem, dict):
            return problem
    except ValueError:
        pass
    return {"title": response.reason, "detail": response.text[:500]}


def _retry_after(response: requests.Response) -> float:
    try:
        return min(float(response.headers.get("Retry-After", 0)), 30.0)
    except ValueError:
        return 0.0
