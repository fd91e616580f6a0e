"""LossClient: numpy arrays or torch tensors in, safetensors on the wire, numpy out."""

import gzip
import http.client
import json
import logging
import re
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

import numpy as np

from ._send import send_request
from .errors import LossConnectionError, LossProblem
from .position import RunPosition

SAFETENSORS = "application/vnd.safetensors"
_log = logging.getLogger("prefloss")
_FLOAT_TYPES = (np.float16, np.float32, np.float64)
#: safetensors' dtype names and the (little-endian) numpy dtypes they read as.
_NUMPY_DTYPES = {name: np.dtype(code) for name, code in
                 {"F16": "<f2", "F32": "<f4", "F64": "<f8", "BOOL": "?", "U8": "u1", "I64": "<i8"}.items()}
_SAFETENSORS_DTYPES = {dtype: name for name, dtype in _NUMPY_DTYPES.items()}

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


class LossClient:
    """A connection to one prefloss-server.

    Responses come back in the precision of the inputs (float32 tensors for float32, float16 or
    bfloat16 log-probs; float64 when any side is float64) and uncompressed, since tensors barely
    compress and a trainer usually talks to a server on the same host or cluster; pass
    ``compress_responses=True`` across slow links.

    The client holds one keep-alive connection (``http://`` or ``https://``; ``ssl_context``
    overrides the default TLS settings, e.g. to trust a private CA), shared by threads one request
    at a time. It connects directly: proxy environment variables are not consulted. A kept
    connection that the server has closed meanwhile (its idle timeout) is replaced at once.

    Requests that meet a 503 or a connection error are retried up to ``retries`` times with
    exponential backoff (honouring ``Retry-After``), and never past ``retry_budget`` seconds
    in all; a loss evaluation is safe to repeat. Any other refusal raises `LossProblem` at
    once, so no batch is ever skipped silently. A body over 4 MiB is sent only once the server
    has agreed to read it (``Expect: 100-continue``), so a refused one (413 past the server's
    ``--max-body-size``) costs no upload; a smaller one that the server cuts short still gets
    the server's answer.

    ``run_id`` (settable later as an attribute) is sent as ``X-Run-Id`` with every loss request:
    the server then follows that run's last batches, adds trend warnings (``chosen_logps_falling``,
    ``rewards_collapse``, ``loss_stuck``) and exports the run's metrics with the label ``run``.
    It is sent as given, so one outside the grammar (1 to 64 of letters, digits and ``-._:/``)
    is refused by the server; `sanitize_run_id` makes any name fit. With a run id, a loss request
    may also say where it sits in the run (a `RunPosition`: step, rank, micro-batch, phase).
    """

    def __init__(self, base_url: str, token: Optional[str] = None, timeout: float = 60.0,
                 retries: int = 3, backoff: float = 0.2, retry_budget: float = 60.0, compress_responses: bool = False,
                 run_id: Optional[str] = None, ssl_context: Optional[ssl.SSLContext] = None):
        self.base_url = base_url.rstrip("/")
        self.run_id = run_id
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.retry_budget = retry_budget
        url = urlsplit(self.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"expected an http:// or https:// URL, got {base_url!r}")
        self._url = url
        self._ssl_context = ssl_context
        self._headers = {"Accept-Encoding": "gzip" if compress_responses else "identity"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._connection: Optional[http.client.HTTPConnection] = None
        self._lock = threading.Lock()
        self._warned: set = set()

    def health(self) -> Dict[str, Any]:
        """``GET /health``: ``{"status": "ok"}`` from a live server."""
        _, _, body = self._request("GET", "/health")
        return json.loads(body)

    def loss(self, chosen: ArrayLike, rejected: ArrayLike, *,
             chosen_mask: Optional[ArrayLike] = None, rejected_mask: Optional[ArrayLike] = None,
             chosen_labels: Optional[ArrayLike] = None, rejected_labels: Optional[ArrayLike] = None,
             reference_chosen: Optional[ArrayLike] = None, reference_rejected: Optional[ArrayLike] = None,
             reference_chosen_mask: Optional[ArrayLike] = None, reference_rejected_mask: Optional[ArrayLike] = None,
             chosen_nll_mask: Optional[ArrayLike] = None, kl: Optional[ArrayLike] = None,
             reference_kl: Optional[ArrayLike] = None, kl_mask: Optional[ArrayLike] = None,
             reference_kl_mask: Optional[ArrayLike] = None, kl_value: Optional[float] = None,
             chosen_log_sum_sq_probs: Optional[ArrayLike] = None, rejected_log_sum_sq_probs: Optional[ArrayLike] = None,
             return_token_grads: bool = False, position: Optional[RunPosition] = None, **config: Any) -> LossResult:
        """Evaluates the loss of one batch.

        ``chosen``/``rejected`` are per-token log-probs [B, T] or per-sequence log-probs [B];
        numpy arrays or torch tensors. A per-token side selects its tokens with a 0/1 ``mask``
        or with ``labels`` (TRL's convention: tokens labelled ``label_pad_token_id``, -100 by
        default, are not selected), or selects every token. Reference sides (DPO) have masks
        of their own: nothing is borrowed from the policy's. ``chosen_nll_mask`` [B, T] says which
        chosen tokens an SFT or NLL term averages over, when not the chosen selection (TRL's
        ORPO takes its NLL over the prompt's tokens too). ``chosen_log_sum_sq_probs`` and
        ``rejected_log_sum_sq_probs`` [B, T] are the model's per-token log Σ_v p_v² (TRL's
        ``log_sum_sq_probs``), which DPO's ``use_weighting=True`` (WPO) needs; they get no gradient.

        For ``objective="kto"``, ``chosen`` holds the desirable completions and ``rejected`` the
        undesirable ones, of any sizes (one may have no rows), each with its reference side. Its
        KL reference point is either the KL completions, ``kl`` and ``reference_kl`` (the policy's
        and the reference model's log-probs, with ``kl_mask`` and ``reference_kl_mask``), or
        ``kl_value``, the point gathered over ranks; the server refuses both at once, and they
        get no gradient. Other keyword arguments such as
        ``objective="dpo", loss_type=["sigmoid", "sft"], loss_weights=[1, 0.3]`` are the
        server's ``config``. ``position`` says where the batch sits in the run (``X-Run-Step``,
        ``X-Run-Part``, ``X-Run-Phase``); it goes only with a run id, as it places the request in
        that run. Raises `LossProblem` when the server refuses the batch.

        Contiguous CPU arrays and tensors are sent as they are, without a copy; masks go as one
        byte a token.
        """
        tensors: Dict[str, np.ndarray] = {}
        _add_side(tensors, "chosen", chosen, chosen_mask, chosen_labels)
        if chosen_nll_mask is not None:
            tensors["chosen.nll_mask"] = _as_mask(chosen_nll_mask)
        _add_side(tensors, "rejected", rejected, rejected_mask, rejected_labels)
        for side, values in (("chosen", chosen_log_sum_sq_probs), ("rejected", rejected_log_sum_sq_probs)):
            if values is not None:
                tensors[f"{side}.log_sum_sq_probs"] = _as_logps(values)
        if reference_chosen is not None:
            _add_side(tensors, "reference_chosen", reference_chosen, reference_chosen_mask)
        if reference_rejected is not None:
            _add_side(tensors, "reference_rejected", reference_rejected, reference_rejected_mask)
        if kl is not None:
            _add_side(tensors, "kl", kl, kl_mask)
        if reference_kl is not None:
            _add_side(tensors, "reference_kl", reference_kl, reference_kl_mask)
        metadata = {"return_token_grads": "true" if return_token_grads else "false"}
        if kl_value is not None:
            metadata["kl_value"] = json.dumps(float(kl_value))
        if config:
            metadata["config"] = json.dumps(config)
        body = _encode_safetensors(tensors, metadata)
        precision = "F64" if any(t.dtype == np.float64 for t in tensors.values()) else "F32"
        headers = {"Content-Type": SAFETENSORS, "Accept": f"{SAFETENSORS};dtype={precision}",
                   "Content-Length": str(sum(part.nbytes for part in body))}
        if position is not None and not isinstance(position, RunPosition):
            raise TypeError(f"position: expected a RunPosition, got {type(position).__name__}")
        if self.run_id:
            headers["X-Run-Id"] = self.run_id
            if position is not None:
                headers.update(position.headers())
        _, _, data = self._request("POST", "/v1/loss", body, headers)
        result = _parse_result(data)
        self._log_new_warnings(result)
        return result

    def _log_new_warnings(self, result: "LossResult") -> None:
        """Logs each warning code the first time this client meets it (``prefloss`` logger, level
        WARNING), so a trainer's output shows what is going wrong; ``result.warnings`` has them all."""
        for warning in result.warnings:
            if warning["code"] not in self._warned:
                self._warned.add(warning["code"])
                _log.warning("prefloss-server warns %s: %s", warning["code"], warning["message"])

    def close(self) -> None:
        """Closes the connection; the next request opens a new one."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> "LossClient":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _request(self, method: str, path: str, body: Optional[List[memoryview]] = None,
                 headers: Optional[Dict[str, str]] = None) -> Tuple[int, http.client.HTTPMessage, bytearray]:
        """(status, headers, body) of a successful answer, after the retries; raises
        `LossProblem` for a refusal and `LossConnectionError` when no answer came."""
        url = self.base_url + path
        deadline = time.monotonic() + self.retry_budget
        for attempt in range(self.retries + 1):
            delay = self.backoff * (2 ** attempt)
            try:
                with self._lock:
                    status, reason, answer_headers, answer = self._exchange(method, path, body, {**self._headers, **(headers or {})})
            except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out, TLS, cut short
                if attempt == self.retries or time.monotonic() + delay > deadline:
                    raise LossConnectionError(f"{method} {url}: {error}", error) from error
            else:
                retry_after = max(delay, _retry_after(answer_headers)) if status == 503 else delay
                if status == 503 and attempt < self.retries and time.monotonic() + retry_after <= deadline:
                    delay = retry_after
                elif 200 <= status < 400:
                    return status, answer_headers, answer
                else:
                    raise LossProblem(status, _problem(reason, answer))
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _exchange(self, method: str, path: str, body: Optional[List[memoryview]],
                  headers: Dict[str, str]) -> Tuple[int, str, http.client.HTTPMessage, bytearray]:
        """One request and its whole answer over the kept connection, opened if need be. A kept
        connection the server closed while it was idle fails as soon as it is used: the request
        then goes again, once, over a new one. Any other failure closes the connection."""
        reused = self._connection is not None
        if not reused:
            connection_type = http.client.HTTPSConnection if self._url.scheme == "https" else http.client.HTTPConnection
            extra = {"context": self._ssl_context} if self._url.scheme == "https" else {}
            # http.client sets TCP_NODELAY, so each part of a body goes out at once.
            self._connection = connection_type(self._url.hostname, self._url.port, timeout=self.timeout, **extra)
        try:
            response = send_request(self._connection, method, self._url.path + path, body, headers)
            answer = _read_body(response)
        except ConnectionError:  # reset, broken pipe, or closed before the status line
            self.close()
            if reused:
                return self._exchange(method, path, body, headers)
            raise
        except BaseException:
            self.close()
            raise
        if response.will_close:
            self.close()
        return response.status, response.reason, response.headers, answer


def sanitize_run_id(name: str) -> str:
    """``name`` as a valid ``X-Run-Id``: characters other than letters, digits and ``-._:/``
    become ``_``, and it is cut to 64 characters. Raises ValueError for an empty name."""
    if not name:
        raise ValueError("a run id needs at least one character")
    return re.sub(r"[^A-Za-z0-9._:/-]", "_", name)[:64]


def _as_numpy(value: ArrayLike) -> np.ndarray:
    """``value`` as a C-contiguous little-endian array: a view of a contiguous CPU tensor or array."""
    if hasattr(value, "detach"):  # a torch tensor; numpy has no bfloat16, and bf16 → f32 is exact
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            value = value.float()
        value = value.numpy()
    array = np.asarray(value)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))


def _as_logps(value: ArrayLike) -> np.ndarray:
    array = _as_numpy(value)
    return array if array.dtype.type in _FLOAT_TYPES else array.astype(np.float64)


def _as_mask(value: ArrayLike) -> np.ndarray:
    """A 0/1 mask as BOOL or U8, one byte a token; one with other values goes as I64, for the
    server to point at them."""
    array = _as_numpy(value)
    if array.dtype.type in (np.bool_, np.uint8):
        return array
    packed = array.astype(np.uint8)
    return packed if np.array_equal(packed, array) else array.astype(np.int64)


def _add_side(tensors: Dict[str, np.ndarray], side: str, logps: ArrayLike, mask: Optional[ArrayLike],
              labels: Optional[ArrayLike] = None) -> None:
    values = _as_logps(logps)
    if mask is not None and labels is not None:
        raise ValueError(f"{side}: give a mask or labels, not both")
    if values.ndim == 1:
        if mask is not None or labels is not None:
            raise ValueError(f"{side}: a mask or labels go with per-token log-probs [B, T], not per-sequence [B]")
        tensors[f"{side}.logps"] = values
    elif values.ndim == 2:
        tensors[f"{side}.per_token_logps"] = values
        if mask is not None:
            tensors[f"{side}.mask"] = _as_mask(mask)
        if labels is not None:
            tensors[f"{side}.labels"] = _as_numpy(labels).astype("<i8", copy=False)
    else:
        raise ValueError(f"{side}: expected [B] or [B, T] log-probs, got shape {values.shape}")


def _encode_safetensors(tensors: Dict[str, np.ndarray], metadata: Dict[str, str]) -> List[memoryview]:
    """The safetensors file of ``tensors`` as buffers to send one after the other: its 8-byte
    length and JSON header, then each array's own memory, uncopied."""
    header: Dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    for name, array in tensors.items():
        header[name] = {"dtype": _SAFETENSORS_DTYPES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the format pads the header so the data starts 8-aligned
    head = memoryview(struct.pack("<Q", len(encoded)) + encoded)
    return [head] + [memoryview(array.reshape(-1).view(np.uint8)) for array in tensors.values()]


def _decode_safetensors(data: bytearray) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """(tensors, metadata) of a safetensors file; the arrays are views of ``data``."""
    (length,) = struct.unpack_from("<Q", data)
    header = json.loads(data[8:8 + length])
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        dtype = _NUMPY_DTYPES[info["dtype"]]
        start, end = info["data_offsets"]
        flat = np.frombuffer(data, dtype, count=(end - start) // dtype.itemsize, offset=8 + length + start)
        tensors[name] = flat.reshape(info["shape"])
    return tensors, metadata


def _parse_result(data: bytearray) -> LossResult:
    tensors, metadata = _decode_safetensors(data)
    grads = {name[len("grads."):]: array for name, array in tensors.items() if name.startswith("grads.")}
    return LossResult(
        loss=float(json.loads(metadata["loss"])),
        preference_loss=float(json.loads(metadata["preference_loss"])),
        sft_loss=float(json.loads(metadata["sft_loss"])),
        losses=tensors["losses"], logits=tensors["logits"],
        chosen_logps=tensors["chosen_logps"], rejected_logps=tensors["rejected_logps"],
        chosen_rewards=tensors["chosen_rewards"], rejected_rewards=tensors["rejected_rewards"],
        grads=grads, metrics=json.loads(metadata["metrics"]), warnings=json.loads(metadata["warnings"]))


def _read_body(response: http.client.HTTPResponse) -> bytearray:
    """The whole body, decompressed, in a writable buffer (so the arrays that view it are too);
    a body of known length is read straight into it."""
    if response.length is None or response.getheader("Content-Encoding") == "gzip":
        data = response.read()
        return bytearray(gzip.decompress(data) if response.getheader("Content-Encoding") == "gzip" else data)
    body = bytearray(response.length)
    with memoryview(body) as view:
        filled = 0
        while filled < len(body):
            read = response.readinto(view[filled:])
            if not read:
                raise http.client.IncompleteRead(bytes(view[:filled]), len(body) - filled)
            filled += read
    return body


def _problem(reason: str, body: bytes) -> Mapping[str, Any]:
    try:
        problem = json.loads(body)
        if isinstance(problem, dict):
            return problem
    except ValueError:
        pass
    return {"title": reason, "detail": body[:500].decode("utf-8", "replace")}


def _retry_after(headers: http.client.HTTPMessage) -> float:
    try:
        return min(float(headers.get("Retry-After", 0)), 30.0)
    except ValueError:
        return 0.0
