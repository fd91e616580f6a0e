"""GET /metrics read by the tests: a sample's value, and the memory reservation's peak while
something runs."""
import contextlib
import threading
import urllib.request

# What a plain body reserves per byte while it arrives (the README's "Memory": the least its
# parsing holds, the bytes and as much again).
RESERVED_PER_BODY_BYTE = 2


def metrics_text(server, token: str = None) -> str:
    request = urllib.request.Request(f"{server.url}/metrics")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


def metric_value(text: str, name: str) -> float:
    """The value of the unlabelled sample `name` (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def reserved_bytes(server) -> float:
    """What the server has reserved from its memory budget for the requests it holds."""
    return metric_value(metrics_text(server), "prefloss_memory_reserved_bytes")


def largest_reservation_during(server, action):
    """(action(), the largest reservation seen while it ran): /metrics is polled throughout. The
    samples can miss a moment, but a correct server shows none above its budget."""
    done, seen = threading.Event(), []

    def poll():
        while not done.is_set():
            with contextlib.suppress(OSError):  # a /metrics answer slower than its timeout: poll again
                seen.append(reserved_bytes(server))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        result = action()
    finally:
        done.set()
        poller.join()
    assert seen, "no /metrics answer while it ran"
    return result, max(seen)
