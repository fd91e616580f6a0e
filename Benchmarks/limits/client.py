"""The Python client's own waits: a Retry-After past its retry budget is not waited for, and a
kept connection the server closed while idle is replaced at once."""
import http.server
import threading
import time

import numpy as np

from limit import Limit, timed
from prefloss import LossClient, LossProblem
from prefloss_process import running_server


class Overloaded(http.server.BaseHTTPRequestHandler):
    """Always 503, asking for a 5 s wait."""

    def do_GET(self):
        self.send_response(503)
        self.send_header("Retry-After", "5")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def retry_budget():
    server = http.server.HTTPServer(("127.0.0.1", 0), Overloaded)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def give_up():
        with LossClient(f"http://127.0.0.1:{server.server_port}", retries=5, retry_budget=1.0) as client:
            try:
                client.health()
            except LossProblem as problem:
                return problem.status

    try:
        status, seconds = timed(give_up)
        assert status == 503, status
        yield Limit("client giving up on Retry-After: 5, retry_budget 1.0", seconds, 1.0, "s")
    finally:
        server.shutdown()
        server.server_close()


def replaced_connection():
    with running_server("--idle-timeout", "0.3") as server, LossClient(server.url, retries=0) as client:
        assert client.health() == {"status": "ok"}
        time.sleep(1.0)  # the server closes the kept connection meanwhile
        answer, seconds = timed(lambda: client.loss(np.array([-1.0]), np.array([-2.0])))
        assert answer.loss > 0
        yield Limit("client request over a connection the server closed while idle", seconds, 5, "s")


CHECKS = [retry_budget, replaced_connection]
