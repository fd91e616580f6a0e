"""A flood of large requests at high concurrency: the server answers only 200 or 503, and
what it reserves for them stays within its in-flight bytes, because past its in-flight bounds
it sheds load. (Its peak resident memory under this flood is `make limits`'s to report.)"""
import concurrent.futures

import requests

from edge_payloads import shedding_body  # on sys.path through conftest.py
from polling import WAIT, wait_for
from prefloss_process import running_server
from server_metrics import largest_reservation_during, reserved_bytes

MIB = 1 << 20


def test_flood_gets_only_200_and_503_within_the_memory_bound():
    body = shedding_body(0)
    assert len(body) > 2_000_000
    # Each 2.5 MB body reserves about 20 MiB while parsed, so 64 MiB holds three at once.
    with running_server("--max-in-flight-requests", "4", "--max-in-flight-bytes", "64MiB") as server:
        def post(_):
            response = requests.post(f"{server.url}/v1/loss", data=body, headers={"Content-Type": "application/json"},
                                     timeout=120)
            return response.status_code, response.headers.get("Retry-After")

        def flood():
            with concurrent.futures.ThreadPoolExecutor(32) as pool:
                return list(pool.map(post, range(96)))

        results, reserved = largest_reservation_during(server, flood)
        statuses = [status for status, _ in results]
        served, shed = statuses.count(200), statuses.count(503)
        assert served + shed == len(statuses), f"only 200 and 503: {sorted(set(statuses))}"
        assert served > 0 and shed > 0, (served, shed)
        assert all(retry == "1" for status, retry in results if status == 503)
        assert reserved <= 64 * MIB, f"{reserved / MIB:.0f} MiB reserved"
        wait_for(lambda: reserved_bytes(server) == 0, WAIT, "reserved bytes back to 0")
