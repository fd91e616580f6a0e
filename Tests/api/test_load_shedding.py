"""A flood of large requests at high concurrency: the server answers only 200 or 503,
and its memory stays bounded, because past its in-flight bounds it sheds load."""
import concurrent.futures
import json
import random

import requests

from prefloss_process import running_server  # on sys.path through conftest.py


def large_body(seed: int) -> bytes:
    rng = random.Random(seed)
    side = lambda: {"per_token_logps": [[-rng.random() * 5 for _ in range(2048)] for _ in range(32)]}  # noqa: E731
    return json.dumps({"chosen": side(), "rejected": side(), "return_token_grads": True}).encode()


def test_flood_gets_only_200_and_503_within_the_memory_bound():
    body = large_body(0)
    assert len(body) > 2_000_000
    # Each 2.5 MB body reserves about 20 MiB while parsed, so 64 MiB holds three at once.
    with running_server("--max-in-flight-requests", "4", "--max-in-flight-bytes", "64MiB") as server:
        def post(_):
            response = requests.post(f"{server.url}/v1/loss", data=body, headers={"Content-Type": "application/json"}, timeout=120)
            return response.status_code, response.headers.get("Retry-After")

        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            results = list(pool.map(post, range(96)))
        statuses = [status for status, _ in results]
        served, shed = statuses.count(200), statuses.count(503)
        assert served + shed == len(statuses), f"only 200 and 503: {sorted(set(statuses))}"
        assert served > 0 and shed > 0, (served, shed)
        assert all(retry == "1" for status, retry in results if status == 503)
        peak = server.peak_rss_mib()
        print(f"flood: {served} served, {shed} shed, peak RSS {peak:.0f} MiB")
        assert peak < 64 * 1.5 + 100, "the budget, a margin for the allocator, and the resting set"
