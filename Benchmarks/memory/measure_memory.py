"""Measures what a request holds in the server's memory, per byte of body, and the peak
memory of floods against --max-in-flight-bytes: the figures behind the README's "Memory".

For each payload it starts a fresh server, warms it with the same request, resets the
peak resident set (/proc/PID/clear_refs), sends the request once, and reports the peak
over the resting set. Then it floods a server whose budget is far below what the flood
asks for and reports the peak against the budget.

Run: python3 measure_memory.py [SERVER_BINARY]   (default .build/stage/prefloss-server)
"""
import concurrent.futures
import gzip
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Tests" / "support"))
sys.path.insert(0, str(ROOT / "Benchmarks" / "loadtest"))
import prefloss_process  # noqa: E402
from make_payloads import payload, safetensors_payload  # noqa: E402

MIB = 1 << 20


def post(url, body, headers):
    request = urllib.request.Request(f"{url}/v1/loss", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        error.read()
        return error.code


def status_kib(pid, field):
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith(field))
    return int(line.split()[1]) * 1024


def single_request_peak(body, headers):
    with prefloss_process.running_server("--max-body-size", "256MiB") as server:
        assert post(server.url, body, headers) == 200
        pid = server.process.pid
        resting = status_kib(pid, "VmRSS:")
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        assert post(server.url, body, headers) == 200
        return status_kib(pid, "VmHWM:") - resting


def payloads():
    large = payload("large")
    sequences = {"chosen": {"logps": [-1.5] * 1_000_000}, "rejected": {"logps": [-2.5] * 1_000_000}}
    json_headers = {"Content-Type": "application/json"}
    st_headers = {"Content-Type": "application/vnd.safetensors", "Accept": "application/vnd.safetensors"}
    yield "large 64x2048 JSON, token grads", json.dumps(large).encode(), json_headers
    yield "same, gzip body", gzip.compress(json.dumps(large).encode(), 6), {**json_headers, "Content-Encoding": "gzip"}
    yield "large safetensors F32, F32 answer", safetensors_payload("large"), st_headers
    yield "same, F64 answer", safetensors_payload("large"), {**st_headers, "Accept": "application/vnd.safetensors;dtype=F64"}
    yield "1M short sequence log-probs per side, JSON", json.dumps(sequences).encode(), json_headers


def flood(budget_mib, body, headers, count=48, workers=24):
    with prefloss_process.running_server("--max-in-flight-bytes", f"{budget_mib}MiB", "--max-body-size", "256MiB") as server:
        post(server.url, body, headers)
        resting = status_kib(server.process.pid, "VmRSS:")
        Path(f"/proc/{server.process.pid}/clear_refs").write_text("5")
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            statuses = list(pool.map(lambda _: post(server.url, body, headers), range(count)))
        peak = status_kib(server.process.pid, "VmHWM:") - resting
        return peak, {code: statuses.count(code) for code in sorted(set(statuses))}


def main():
    if len(sys.argv) > 1:
        prefloss_process.BINARY = Path(sys.argv[1])
    elif (ROOT / ".build/stage/prefloss-server").exists():
        prefloss_process.BINARY = ROOT / ".build/stage/prefloss-server"
    print(f"server: {prefloss_process.BINARY}\n")
    print("| request | body | peak over resting | bytes held per body byte |")
    print("|---|---|---|---|")
    for name, body, headers in payloads():
        held = single_request_peak(body, headers)
        print(f"| {name} | {len(body) / MIB:.2f} MiB | {held / MIB:.1f} MiB | {held / len(body):.1f} |")
    print("\n| flood (48 requests, 24 at once) | --max-in-flight-bytes | peak over resting | statuses |")
    print("|---|---|---|---|")
    large = json.dumps(payload("large")).encode()
    cases = [
        ("large JSON", large, {"Content-Type": "application/json"}),
        ("large JSON, gzip", gzip.compress(large, 6), {"Content-Type": "application/json", "Content-Encoding": "gzip"}),
        ("large safetensors", safetensors_payload("large"), {"Content-Type": "application/vnd.safetensors", "Accept": "application/vnd.safetensors"}),
    ]
    for name, body, headers in cases:
        for budget in (64, 256):
            peak, statuses = flood(budget, body, headers)
            print(f"| {name} | {budget} MiB | {peak / MIB:.0f} MiB ({peak / (budget * MIB):.2f}x) | {statuses} |")


if __name__ == "__main__":
    main()
