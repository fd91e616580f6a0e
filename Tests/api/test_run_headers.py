"""X-Run-Step, X-Run-Part and X-Run-Phase through real HTTP: a malformed, repeated or orphaned
header is a 400 malformed-header problem that names it; well-formed ones are served, and a run
split over ranks is published per closed step and phase."""
import uuid
from urllib.parse import urlsplit

import pytest
import requests

from raw_http import SMALL_BODY, post_loss, problem_of, status_of

BODY = {"chosen": {"logps": [-1.0, -1.2]}, "rejected": {"logps": [-2.0, -2.5]}}


def new_run() -> str:
    return f"api-{uuid.uuid4().hex[:8]}"


def refusal(answer: requests.Response) -> dict:
    assert answer.status_code == 400 and answer.headers["Content-Type"] == "application/problem+json", answer.text
    problem = answer.json()
    assert problem["type"] == "urn:prefloss:problem:malformed-header", problem
    return problem


@pytest.mark.parametrize("headers, named", [
    ({"X-Run-Step": "-1"}, "X-Run-Step"),
    ({"X-Run-Step": "1000000000000000"}, "X-Run-Step"),
    ({"X-Run-Step": "1.5"}, "X-Run-Step"),
    ({"X-Run-Step": "0x10"}, "X-Run-Step"),
    ({"X-Run-Step": "1", "X-Run-Part": "2/2 0/4"}, "X-Run-Part"),
    ({"X-Run-Step": "1", "X-Run-Part": "0/2 4/4"}, "X-Run-Part"),
    ({"X-Run-Step": "1", "X-Run-Part": "0/0 0/1"}, "X-Run-Part"),
    ({"X-Run-Step": "1", "X-Run-Part": "0/65537 0/1"}, "X-Run-Part"),
    ({"X-Run-Step": "1", "X-Run-Part": "0/2"}, "X-Run-Part"),
    ({"X-Run-Step": "1", "X-Run-Part": "0/2  0/4"}, "X-Run-Part"),
    ({"X-Run-Step": "1", "X-Run-Part": "0/2,0/4"}, "X-Run-Part"),
    ({"X-Run-Step": "1", "X-Run-Phase": "test"}, "X-Run-Phase"),
    ({"X-Run-Step": "1", "X-Run-Phase": "TRAIN"}, "X-Run-Phase"),
    ({"X-Run-Part": "0/1 0/1"}, "X-Run-Part"),
    ({"X-Run-Phase": "eval"}, "X-Run-Phase"),
])
def test_a_malformed_or_orphaned_step_header_is_a_400_naming_it(server_url, headers, named):
    answer = requests.post(f"{server_url}/v1/loss", json=BODY, headers={"X-Run-Id": new_run(), **headers}, timeout=10)
    assert refusal(answer)["header"] == named


def test_a_step_needs_a_run_id(server_url):
    answer = requests.post(f"{server_url}/v1/loss", json=BODY, headers={"X-Run-Step": "3"}, timeout=10)
    problem = refusal(answer)
    assert problem["header"] == "X-Run-Step" and "needs X-Run-Id" in problem["detail"]


@pytest.mark.parametrize("name, value", [("X-Run-Step", "1"), ("X-Run-Part", "0/1 0/1"), ("X-Run-Phase", "eval")])
def test_a_step_header_in_two_lines_is_a_400_naming_it(server_url, name, value):
    port = urlsplit(server_url).port
    headers = [("X-Run-Id", new_run())] + ([] if name == "X-Run-Step" else [("X-Run-Step", "1")])
    status_line, answer_headers, body = post_loss(port, SMALL_BODY, headers + [(name, value), (name, value)])
    assert status_of(status_line) == 400
    problem = problem_of(answer_headers, body)
    assert problem["header"] == name and "not several" in problem["detail"]


def test_a_run_split_over_ranks_is_published_per_step_and_phase(server_url):
    run = new_run()

    def send(step: int, part: str, phase: str = "train"):
        headers = {"X-Run-Id": run, "X-Run-Step": f"{step:03d}", "X-Run-Part": part, "X-Run-Phase": phase}
        answer = requests.post(f"{server_url}/v1/loss", json=BODY, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text

    for step in range(3):
        for part in ("1/2 0/2", "0/2 1/2", "0/2 0/2", "1/2 1/2"):
            send(step, part)
    for part in ("0/2 0/1", "1/2 0/1", "1/2 0/1"):  # the last one comes after its eval step closed
        send(3, part, "eval")
    metrics = requests.get(f"{server_url}/metrics", timeout=10).text
    assert f'prefloss_run_steps_total{{run="{run}",phase="train"}} 3' in metrics
    assert f'prefloss_run_step{{run="{run}",phase="train"}} 2' in metrics
    assert f'prefloss_run_steps_total{{run="{run}",phase="eval"}} 1' in metrics
    assert f'prefloss_run_parts_ignored_total{{run="{run}",phase="eval",reason="late"}} 1' in metrics
