"""wrk runs (one wrk thread, a fixed duration) parsed into req/s, p50/p99 ms and error counts."""
import os
import re
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: What prefloss asks for: the answer as safetensors, in the F32 of its inputs.
ACCEPT = {"application/json": "application/json", "application/vnd.safetensors": "application/vnd.safetensors;dtype=F32"}


def to_ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def wrk(url, duration, connections, payload=None, content_type="application/json", run_id=None):
    """GET `url`, or POST the file `payload` as `content_type` (with `run_id` as X-Run-Id, if
    given), for `duration` seconds."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "30s"]
    env = dict(os.environ)
    if payload:
        command += ["-s", str(HERE / "post.lua")]
        env.update(PAYLOAD=str(payload), CONTENT_TYPE=content_type, ACCEPT=ACCEPT[content_type])
        if run_id:
            env["RUN_ID"] = run_id
    output = subprocess.run(command + [url], capture_output=True, text=True, env=env, timeout=duration + 60).stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    if requests == 0:
        raise RuntimeError(f"no request to {url} finished in {duration} s: raise the duration\n{output}")
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", output, re.M))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": to_ms(latency["50"]),
        "p99": to_ms(latency["99"]),
        "errors": (int(non2xx.group(1)) if non2xx else 0, sum(map(int, errors.groups())) if errors else 0),
    }
