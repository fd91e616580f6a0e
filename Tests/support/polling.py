"""Waiting for a state by polling it."""
import time

# Seconds to wait for something that must happen before calling it missing: a deadline for giving
# up, never a measure of speed.
WAIT = 30


def wait_for(condition, timeout: float, what: str):
    """Polls `condition()` until it returns a truthy value; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
