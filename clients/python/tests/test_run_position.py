"""RunPosition: a loss request's place in its run goes as X-Run-Step, X-Run-Part and X-Run-Phase,
with the run id; a position out of range is refused before anything is sent."""
import numpy as np
import pytest

from prefloss import LossProblem, RunPosition

HEADERS = ("X-Run-Step", "X-Run-Part", "X-Run-Phase")


def sent_with(client, handler, position):
    """The run headers the server received with a loss request at `position`."""
    with pytest.raises(LossProblem):
        client.loss(np.array([-1.0]), np.array([-2.0]), position=position)
    return {name: handler.headers_sent[-1].get(name) for name in HEADERS}


def test_a_position_goes_as_three_headers(capturing):
    client, handler = capturing
    client.run_id = "run"
    assert sent_with(client, handler, RunPosition(step=12, rank=1, ranks=2, micro=0, micros=4)) == {
        "X-Run-Step": "12", "X-Run-Part": "1/2 0/4", "X-Run-Phase": "train"}
    assert sent_with(client, handler, RunPosition(step=999_999_999_999_999, micro=6, micros=7, phase="eval")) == {
        "X-Run-Step": "999999999999999", "X-Run-Part": "0/1 6/7", "X-Run-Phase": "eval"}
    assert sent_with(client, handler, None) == dict.fromkeys(HEADERS)


def test_a_position_goes_only_with_a_run_id(capturing):
    client, handler = capturing
    assert sent_with(client, handler, RunPosition(step=3)) == dict.fromkeys(HEADERS)
    assert handler.headers_sent[-1].get("X-Run-Id") is None


def test_integers_of_any_type_are_taken():
    assert RunPosition(step=np.int64(4), rank=np.int32(1), ranks=2).headers()["X-Run-Part"] == "1/2 0/1"


@pytest.mark.parametrize("fields, named", [
    ({"step": -1}, "step"), ({"step": 10**15}, "step"), ({"step": 1.0}, "step"), ({"step": True}, "step"),
    ({"step": "1"}, "step"), ({"step": 0, "ranks": 0}, "ranks"), ({"step": 0, "rank": 2, "ranks": 2}, "rank"),
    ({"step": 0, "rank": -1}, "rank"), ({"step": 0, "micros": 10**15}, "micros"), ({"step": 0, "micro": 1}, "micro"),
    ({"step": 0, "phase": "test"}, "phase"),
])
def test_a_position_out_of_range_is_refused_naming_its_field(fields, named):
    with pytest.raises(ValueError, match=rf"^RunPosition\.{named}:"):
        RunPosition(**fields)


def test_a_position_of_another_type_is_refused_before_sending(capturing):
    client, handler = capturing
    client.run_id = "run"
    with pytest.raises(TypeError, match="position"):
        client.loss(np.array([-1.0]), np.array([-2.0]), position={"step": 1})
    assert handler.bodies == []
