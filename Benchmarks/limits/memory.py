"""The server's peak resident memory (VmHWM, since it started) under floods against its memory
budget and a gzip bomb: the budget, plus a margin for the allocator and the resting set."""
import concurrent.futures
from pathlib import Path

import requests

from edge_payloads import gzip_bomb, gzip_flood_past_budget, gzip_flood_within_budget, shedding_body
from limit import Limit
from prefloss_process import running_server
from raw_http import flood, post_loss, request_bytes, status_of


def peak_mib(server) -> float:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def gzip_floods():
    for budget, body, count in [(256, gzip_flood_past_budget(), 24), (64, gzip_flood_within_budget(), 32)]:
        # Without the inflation ratio, which would refuse the first at 64 times its size.
        with running_server("--max-in-flight-bytes", f"{budget}MiB", "--max-inflation-ratio", "0") as server:
            data = request_bytes("POST", "/v1/loss", body, [("Content-Encoding", "gzip")])
            statuses = {status for status, _ in flood(server.port, data, count)}
            assert statuses <= {200, 413, 503}, statuses
            yield Limit(f"peak RSS, {count} gzip bodies at once, {budget} MiB budget", peak_mib(server), budget + 150,
                        "MiB")


def bomb():
    with running_server("--max-body-size", "1MiB") as server:
        status_line, _, _ = post_loss(server.port, gzip_bomb(), headers=[("Content-Encoding", "gzip")], timeout=60)
        assert status_of(status_line) == 413, status_line
        yield Limit("peak RSS, a 100 MB gzip bomb past a 1 MiB limit", peak_mib(server), 150, "MiB")


def shedding():
    """96 bodies of 2.5 MB, 32 at once, against 4 requests and 64 MiB in flight."""
    body = shedding_body(0)
    with running_server("--max-in-flight-requests", "4", "--max-in-flight-bytes", "64MiB") as server:
        def post(_):
            return requests.post(f"{server.url}/v1/loss", data=body, headers={"Content-Type": "application/json"},
                                 timeout=120).status_code

        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            statuses = set(pool.map(post, range(96)))
        assert statuses <= {200, 503}, statuses
        yield Limit("peak RSS, 96 x 2.5 MB, 32 at once, 64 MiB budget", peak_mib(server), 64 * 1.5 + 100, "MiB")


CHECKS = [gzip_floods, bomb, shedding]
