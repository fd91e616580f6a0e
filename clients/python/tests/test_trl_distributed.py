"""Under torch.distributed (2 ranks on gloo, CPU), with gradient accumulation, an epoch's uneven
last batches and evaluations, TRL's trainers and their Remote twins end with the same parameters
and log the same metrics, gathered across ranks as TRL gathers them; and each loss request carries
its place in the run (X-Run-Step, X-Run-Part, X-Run-Phase) as the trainer's state says.

One `torchrun` (distributed_parity.py) trains every pair, through a proxy that records the headers.
"""
import http.client
import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import client_environment

pytest.importorskip("trl")
from tiny_trl import assert_same_logs, assert_same_parameters  # noqa: E402

SCRIPT = Path(__file__).with_name("distributed_parity.py")
RANKS = 2
OBJECTIVES = ("dpo", "cpo", "orpo", "kto")
PARAMETERS_RELATIVE = 1e-4
METRICS_RELATIVE = 1e-3
RUN_HEADERS = ("X-Run-Id", "X-Run-Step", "X-Run-Part", "X-Run-Phase")
#: (phase, step, micro-batch) of each loss request a rank sends, in order: distributed_parity.py's
#: 3 steps of 2 micro-batches, but 1 in the epoch's last step, and evaluations of 2 batches a rank
#: after step 2 (`eval_steps=2`) and after the last step.
SEQUENCE = [
    ("train", "0", "0/2"), ("train", "0", "1/2"),
    ("train", "1", "0/1"),
    ("eval", "2", "0/2"), ("eval", "2", "1/2"),
    ("train", "2", "0/2"), ("train", "2", "1/2"),
    ("eval", "3", "0/2"), ("eval", "3", "1/2"),
]


class RecordingProxy(http.server.BaseHTTPRequestHandler):
    """Forwards each POST to `upstream` (host:port) and keeps its run headers in `recorded`."""

    protocol_version = "HTTP/1.1"
    upstream = ""
    recorded = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).recorded.append({name: self.headers.get(name) for name in RUN_HEADERS})
        connection = http.client.HTTPConnection(self.upstream, timeout=60)
        try:
            connection.request("POST", self.path, body, {k: v for k, v in self.headers.items() if k.lower() != "host"})
            answer = connection.getresponse()
            data = answer.read()
        finally:
            connection.close()
        self.send_response_only(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("connection", "content-length", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def distributed_run(server, tmp_path_factory):
    """({rank: that rank's results}, the headers of every loss request) of one 2-rank torchrun."""
    url, token = server
    folder = tmp_path_factory.mktemp("distributed")
    RecordingProxy.upstream, RecordingProxy.recorded = urlsplit(url).netloc, []
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RecordingProxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    environment = {**client_environment(), "PREFLOSS_URL": f"http://127.0.0.1:{proxy.server_port}"}
    if token:
        environment["PREFLOSS_TOKEN"] = token
    try:
        run = subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(RANKS),
             str(SCRIPT), str(folder)], env=environment, capture_output=True, text=True, timeout=600)
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    results = {rank: json.loads((folder / f"rank-{rank}.json").read_text()) for rank in range(RANKS)}
    return results, RecordingProxy.recorded


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("rank", range(RANKS))
def test_each_rank_trains_and_logs_as_trl(distributed_run, objective, rank):
    result = distributed_run[0][rank][objective]
    assert result["moved"] > 1e-3
    assert_same_parameters(result["parameters"], PARAMETERS_RELATIVE)
    logs = result["local_logs"]
    assert sum("eval_rewards/margins" in entry for entry in logs) == 2, logs
    assert_same_logs(logs, result["remote_logs"], METRICS_RELATIVE)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_each_request_says_its_place_in_the_run(distributed_run, objective):
    run_id = f"{objective}-remote"
    assert sum(headers["X-Run-Id"] == run_id for headers in distributed_run[1]) == RANKS * len(SEQUENCE)
    for rank in range(RANKS):
        sent = [(headers["X-Run-Phase"], headers["X-Run-Step"], headers["X-Run-Part"])
                for headers in distributed_run[1]
                if headers["X-Run-Id"] == run_id and (headers["X-Run-Part"] or "").startswith(f"{rank}/")]
        assert sent == [(phase, step, f"{rank}/{RANKS} {micro}") for phase, step, micro in SEQUENCE]
