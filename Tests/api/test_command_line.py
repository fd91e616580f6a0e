"""The executable's own option parsing. Every option falls back to its PREFLOSS_* environment
variable (else to its SIMPO_* name from before the rename, with a warning), then to its
default; a bad value in either makes the server exit at once, non-zero, with a message naming
the option or the variable, and good values start a server that answers /health and exits 0
on SIGTERM."""
import contextlib
import dataclasses
import http.client
import json
import os
import subprocess
import time
from typing import Iterator, List, Optional, Sequence

import pytest

from prefloss_process import BINARY, START_TIMEOUT, OutputLines, listening_port, reserved_port  # via conftest.py

DEFAULT_PORT = 8080


def environment(extra: Optional[dict] = None) -> dict:
    """This process's environment without any PREFLOSS_* (or old SIMPO_*) variable, plus `extra`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("PREFLOSS_", "SIMPO_"))}
    env.update(extra or {})
    return env


def with_port_0(args: Sequence[str], env: Optional[dict] = None) -> List[str]:
    """`args` with `--port 0` in front unless a port is given already, so that a value wrongly
    accepted never binds the default port, and says so in the log."""
    if any(arg.startswith("--port") for arg in args) or {"PREFLOSS_PORT", "SIMPO_PORT"} & set(env or {}):
        return list(args)
    return ["--port", "0", *args]


def run_to_exit(args: Sequence[str], env: Optional[dict] = None):
    """Runs the binary until it exits; returns (exit code, stdout + stderr). Fails the test as
    soon as the log says the server listens: it accepted `args`."""
    process = subprocess.Popen([str(BINARY), *args], env=environment(env), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    output = OutputLines(process.stdout)
    deadline = time.monotonic() + START_TIMEOUT
    while process.poll() is None:
        if listening_port(output.lines) is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            output.join()
            pytest.fail(f"still running, so it accepted {list(args)} {env or ''}: {output.text}")
        time.sleep(0.02)
    output.join()
    return process.returncode, output.text


def assert_refused(args: Sequence[str], env: Optional[dict], expected: str) -> None:
    """The server exits non-zero (not by a signal or a trap) and says `expected`."""
    code, output = run_to_exit(with_port_0(args, env), env)
    assert "Fatal error" not in output, output
    assert code > 0, f"exit code {code} (negative: killed by a signal): {output}"
    assert expected in output, output


@dataclasses.dataclass
class Served:
    port: int
    log: OutputLines  # stdout and stderr so far, appended to by a reader thread

    @property
    def output(self) -> str:
        return self.log.text


@contextlib.contextmanager
def serving(args: Sequence[str], env: Optional[dict] = None) -> Iterator[Served]:
    """Starts the binary and waits until /health answers 200 on the port its log says it
    listens on; on exit, SIGTERM must stop it with exit code 0."""
    process = subprocess.Popen([str(BINARY), *args], env=environment(env), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    log = OutputLines(process.stdout)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            listening = listening_port(log.lines)
            if listening is not None:
                with contextlib.suppress(OSError):  # refused until it listens
                    health = fetch(listening, "GET", "/health", timeout=5)
                    assert health.status == 200, health.body
                    break
            if process.poll() is not None:
                log.join()
                pytest.fail(f"exited {process.returncode} instead of serving {list(args)} {env or ''}: {log.text}")
            if time.monotonic() > deadline:
                pytest.fail(f"not serving after {START_TIMEOUT} s: {log.text}")
            time.sleep(0.05)
        yield Served(listening, log)
    except BaseException:
        process.kill()
        process.wait()
        raise
    process.terminate()
    code = process.wait(timeout=30)
    log.join()
    assert code == 0, f"SIGTERM exits 0, not {code}: {log.text}"


def serving_on_port_0(args: Sequence[str] = (), env: Optional[dict] = None):
    """`serving` with --port 0: on a port the kernel picks."""
    return serving(["--port", "0", *args], env)


@dataclasses.dataclass
class Reply:
    status: int
    body: bytes

    def json(self):
        return json.loads(self.body)


def fetch(port: int, method: str, path: str, body: bytes = None, headers: Optional[dict] = None,
          timeout: float = 10) -> Reply:
    """One request on a connection of its own, closed before returning: with
    --max-connections 1, a connection left open would hold off the next request."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, response.read())
    finally:
        connection.close()


def loss(server: Served, size: int, headers: Optional[dict] = None) -> Reply:
    """POSTs a body of `size` bytes (not valid JSON: only its size matters) to /v1/loss."""
    return fetch(server.port, "POST", "/v1/loss", b" " * size, {"Content-Type": "application/json", **(headers or {})})


# --- --help ---------------------------------------------------------------------------

HELP_DEFAULTS = [
    "(PREFLOSS_HOST; default 127.0.0.1)",
    "(PREFLOSS_PORT; default 8080)",
    "(PREFLOSS_PROBE_PORT; default none)",
    "(PREFLOSS_MAX_BODY_SIZE; default 67108864 bytes)",
    "(PREFLOSS_MAX_CONNECTIONS; default 1024)",
    "(PREFLOSS_MAX_IN_FLIGHT_REQUESTS; default 256)",
    "(PREFLOSS_MAX_IN_FLIGHT_BYTES; default a quarter of the memory limit)",
    "(PREFLOSS_WORKERS; default one per core)",
    "(PREFLOSS_MAX_ANSWER_RATIO; default 256)",
    "(PREFLOSS_IDLE_TIMEOUT; default 60.0)",
    "(PREFLOSS_HEADER_TIMEOUT; default 10.0)",
    "(PREFLOSS_BODY_TIMEOUT; default 30.0)",
    "(PREFLOSS_DRAIN_DELAY; default 0.0)",
    "(PREFLOSS_TOKEN_FILE)",
    "(PREFLOSS_TLS_CERT)",
    "(PREFLOSS_TLS_KEY)",
    "(PREFLOSS_METRICS_REQUIRE_TOKEN; default false)",
    "(PREFLOSS_COMPRESS_RESPONSES; default true)",
    "(PREFLOSS_LOG_LEVEL; default info)",
    "(PREFLOSS_LOG_FORMAT; default text)",
]


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_exits_0_and_shows_each_variable_and_default(flag):
    code, output = run_to_exit([flag])
    assert code == 0, output
    text = " ".join(output.split())  # the help wraps lines
    missing = [entry for entry in HELP_DEFAULTS if entry not in text]
    assert not missing, f"{missing} not in:\n{output}"


# --- byte sizes -------------------------------------------------------------------------

BAD_SIZES = [
    "99999999999999999999",  # more than Int.max
    "9999999999999GiB",      # overflows when multiplied out
    "1.5MiB",                # whole numbers only
    "-1",
    "0",
    "0KiB",
    "12XB",                  # unknown unit
    "2TiB",                  # TiB is not a unit
    "1kb",                   # units are case-sensitive
    "KiB",                   # no digits
    " 1MiB",                 # no surrounding whitespace
    "1MiB ",
    "1 MiB",
    "+1",
    "0x10",
]
SIZE_SOURCES = [  # (how the value is given, the name the message must show)
    ("--max-body-size", "--max-body-size"),
    ("--max-in-flight-bytes", "--max-in-flight-bytes"),
    ("PREFLOSS_MAX_BODY_SIZE", "PREFLOSS_MAX_BODY_SIZE="),
    ("PREFLOSS_MAX_IN_FLIGHT_BYTES", "PREFLOSS_MAX_IN_FLIGHT_BYTES="),
]


@pytest.mark.parametrize("source,named", SIZE_SOURCES, ids=[source for source, _ in SIZE_SOURCES])
@pytest.mark.parametrize("value", BAD_SIZES)
def test_bad_byte_size_is_refused(source, named, value):
    """Every malformed or non-positive size is refused, whether given as a flag or a variable."""
    if source.startswith("--"):
        assert_refused([f"{source}={value}"], None, named)
    else:
        assert_refused([], {source: value}, named)


def test_negative_size_as_a_separate_argument_reads_as_a_missing_value():
    """`--max-body-size -1` (without `=`) parses -1 as a flag; the message still names the option."""
    assert_refused(["--max-body-size", "-1"], None, "--max-body-size")


GOOD_SIZES = [
    ("1", 1),
    ("1B", 1),
    ("2KB", 2000),
    ("2KiB", 2048),
    ("3MB", 3_000_000),
    ("3MiB", 3 * 2**20),
    ("1GB", 10**9),
    ("1GiB", 2**30),
    ("1024GiB", 2**40),  # the largest body size allowed
]


@pytest.mark.parametrize("value,size", GOOD_SIZES)
def test_good_byte_size_starts_the_server(value, size):
    with serving_on_port_0(["--max-body-size", value, "--max-in-flight-bytes", value]) as server:
        pass
    assert f"max_body_size={size} " in server.output, server.output
    assert f"max_in_flight_bytes={size} " in server.output, server.output


def test_body_limit_is_the_one_given():
    """2KiB admits 2048 bytes and answers 413 past them."""
    with serving_on_port_0(["--max-body-size", "2KiB"]) as server:
        assert loss(server, 2048).status != 413
        over = loss(server, 2049)
        assert over.status == 413
        assert "limit of 2048 bytes" in over.json()["detail"]


# --- unparsable environment values ------------------------------------------------------

BAD_VARIABLES = [
    ("PREFLOSS_PORT", "abc"),
    ("PREFLOSS_PORT", " 8080"),
    ("PREFLOSS_PORT", "8080.0"),
    ("PREFLOSS_MAX_BODY_SIZE", "lots"),
    ("PREFLOSS_MAX_CONNECTIONS", "many"),
    ("PREFLOSS_MAX_IN_FLIGHT_REQUESTS", "1.5"),
    ("PREFLOSS_MAX_IN_FLIGHT_BYTES", "lots"),
    ("PREFLOSS_IDLE_TIMEOUT", "never"),
    ("PREFLOSS_HEADER_TIMEOUT", "10s"),
    ("PREFLOSS_BODY_TIMEOUT", "fast"),
    ("PREFLOSS_DRAIN_DELAY", "soon"),
    ("PREFLOSS_METRICS_REQUIRE_TOKEN", "yes"),
    ("PREFLOSS_COMPRESS_RESPONSES", "maybe"),
    ("PREFLOSS_LOG_LEVEL", "loud"),
    ("PREFLOSS_LOG_FORMAT", "xml"),
    ("SIMPO_MAX_CONNECTIONS", "many"),  # the old name is named as given
]


@pytest.mark.parametrize("variable,value", BAD_VARIABLES)
def test_unparsable_environment_value_is_refused(variable, value):
    assert_refused([], {variable: value}, f"{variable}={value} is not a valid value")


# --- flags that do not parse, and values out of range -----------------------------------

BAD_ARGUMENTS = [  # (arguments, variables, text the message must show)
    (["--port", "70000"], None, "port must be 0...65535"),
    (["--port=65536"], None, "port must be 0...65535"),
    (["--port=-1"], None, "port must be 0...65535"),
    (["--port", "-1"], None, "--port"),  # -1 reads as a flag: a missing value
    (["--port", "99999999999999999999"], None, "--port"),
    (["--port", "80.5"], None, "--port"),
    (["--probe-port", "70000"], None, "probe-port must be 0...65535"),
    (["--port", "8123", "--probe-port", "8123"], None, "probe-port must differ from port (8123)"),
    (["--max-connections", "0"], None, "max-connections must be at least 1"),
    (["--max-connections=-5"], None, "max-connections must be at least 1"),
    (["--max-in-flight-requests", "0"], None, "max-in-flight-requests must be at least 1"),
    (["--workers", "0"], None, "workers must be 1 to 1024"),
    (["--max-answer-ratio=-1"], None, "max-answer-ratio must be 1 to 1048576, or 0 for none"),
    ([], {"PREFLOSS_MAX_ANSWER_RATIO": "1048577"}, "max-answer-ratio must be 1 to 1048576, or 0 for none"),
    (["--max-inflation-ratio=-1"], None, "max-inflation-ratio must be 1 to 1048576, or 0 for none"),
    ([], {"PREFLOSS_MAX_INFLATION_RATIO": "1048577"}, "max-inflation-ratio must be 1 to 1048576, or 0 for none"),
    ([], {"PREFLOSS_WORKERS": "1025"}, "workers must be 1 to 1024"),
    (["--body-timeout", "0"], None, "body-timeout must be at least 1 ms"),
    (["--header-timeout", "0"], None, "header-timeout must be at least 1 ms"),
    (["--header-timeout", "1e-20"], None, "header-timeout must be at least 1 ms"),  # rounds to zero
    (["--idle-timeout", "1e-6"], None, "idle-timeout must be at least 1 ms"),  # would close every connection
    (["--drain-delay", "3601"], None, "drain-delay must be 0 to 3600 seconds"),
    (["--idle-timeout", "-1"], None, "--idle-timeout"),  # -1 reads as a flag: a missing value
    (["--idle-timeout=-1"], None, "idle-timeout must be 0 to 1e9 seconds"),
    (["--idle-timeout=-inf"], None, "idle-timeout must be 0 to 1e9 seconds"),
    (["--drain-delay", "nan"], None, "drain-delay must be 0 to 1e9 seconds"),
    (["--drain-delay=-0.5"], None, "drain-delay must be 0 to 1e9 seconds"),
    (["--body-timeout", "inf"], None, "body-timeout must be 0 to 1e9 seconds"),
    (["--header-timeout", "1e10"], None, "header-timeout must be 0 to 1e9 seconds"),
    (["--body-timeout", "30s"], None, "--body-timeout"),
    (["--max-body-size", "2TiB"], None, "--max-body-size"),
    (["--max-body-size", "2048GiB"], None, "max-body-size must be 1 byte to 1 TiB"),
    (["--max-body-size", str(2**40 + 1)], None, "max-body-size must be 1 byte to 1 TiB"),
    (["--compress-responses", "maybe"], None, "--compress-responses"),
    (["--metrics-require-token", "yes"], None, "--metrics-require-token"),
    (["--log-level", "loud"], None, "--log-level"),
    (["--log-format", "xml"], None, "--log-format"),
    (["--no-such-option", "1"], None, "--no-such-option"),
    (["stray"], None, "stray"),
    # the same range checks through the environment
    ([], {"PREFLOSS_PORT": "70000"}, "port must be 0...65535"),
    ([], {"PREFLOSS_PROBE_PORT": "-1"}, "probe-port must be 0...65535"),
    ([], {"PREFLOSS_MAX_CONNECTIONS": "0"}, "max-connections must be at least 1"),
    ([], {"PREFLOSS_MAX_IN_FLIGHT_REQUESTS": "0"}, "max-in-flight-requests must be at least 1"),
    ([], {"PREFLOSS_HEADER_TIMEOUT": "0"}, "header-timeout must be at least 1 ms"),
    ([], {"PREFLOSS_BODY_TIMEOUT": "inf"}, "body-timeout must be 0 to 1e9 seconds"),
    ([], {"PREFLOSS_IDLE_TIMEOUT": "-1"}, "idle-timeout must be 0 to 1e9 seconds"),
    ([], {"PREFLOSS_DRAIN_DELAY": "nan"}, "drain-delay must be 0 to 1e9 seconds"),
    ([], {"PREFLOSS_MAX_BODY_SIZE": "2048GiB"}, "max-body-size must be 1 byte to 1 TiB"),
]


@pytest.mark.parametrize("args,env,expected", BAD_ARGUMENTS,
                         ids=[" ".join(args) or " ".join(f"{k}={v}" for k, v in env.items()) for args, env, _ in BAD_ARGUMENTS])
def test_bad_argument_is_refused(args, env, expected):
    assert_refused(args, env, expected)


# --- token files ------------------------------------------------------------------------

BAD_TOKEN_FILES = [  # (id, contents)
    ("empty", b""),
    ("blank lines", b"\n  \n\t\n"),
    ("only comments", b"# production\n  # staging\n\n"),
    ("at sign", b"tok@en\n"),
    ("non-ASCII", "tök\n".encode()),
    ("inner space", b"tok en\n"),
    ("inner tab", b"tok\ten\n"),
    ("= not at the end", b"a=b\n"),
    ("one good, one bad", b"good-token\ntok@en\n"),
    ("NUL", b"to\x00ken\n"),
]


@pytest.mark.parametrize("contents", [contents for _, contents in BAD_TOKEN_FILES],
                         ids=[name for name, _ in BAD_TOKEN_FILES])
@pytest.mark.parametrize("source", ["--token-file", "PREFLOSS_TOKEN_FILE"])
def test_token_file_without_a_usable_token_is_refused(tmp_path, source, contents):
    path = tmp_path / "tokens"
    path.write_bytes(contents)
    args, env = ([source, str(path)], None) if source.startswith("--") else ([], {source: str(path)})
    assert_refused(args, env, f"the token file {path} holds no token")


@pytest.mark.parametrize("name,contents", [("missing", None), ("a directory", "dir"), ("not UTF-8", b"\xff\xfe\n")])
def test_unreadable_token_file_is_refused(tmp_path, name, contents):
    path = tmp_path / "tokens"
    if contents == "dir":
        path.mkdir()
    elif contents is not None:
        path.write_bytes(contents)
    assert_refused(["--token-file", str(path)], None, f"cannot read the token file {path}")


def test_token_file_trims_whitespace_and_skips_comments(tmp_path):
    path = tmp_path / "tokens"
    path.write_bytes(b"# the first client\n   good-token \r\n\n#bad@token\nabc==\n")
    with serving_on_port_0(["--token-file", str(path)]) as server:
        assert loss(server, 2).status == 401
        assert loss(server, 2, {"Authorization": "Bearer #bad@token"}).status == 401
        for token in ("good-token", "abc=="):
            assert loss(server, 2, {"Authorization": f"Bearer {token}"}).status not in (401, 403)
    assert "bearer_tokens=2 " in server.output


# --- TLS --------------------------------------------------------------------------------

TLS_HALVES = [
    (["--tls-cert", "cert.pem"], None),
    (["--tls-key", "key.pem"], None),
    ([], {"PREFLOSS_TLS_CERT": "cert.pem"}),
    ([], {"PREFLOSS_TLS_KEY": "key.pem"}),
]


@pytest.mark.parametrize("args,env", TLS_HALVES, ids=["--tls-cert", "--tls-key", "PREFLOSS_TLS_CERT", "PREFLOSS_TLS_KEY"])
def test_half_a_tls_configuration_is_refused(args, env):
    assert_refused(args, env, "--tls-cert and --tls-key go together")


def test_tls_files_that_are_not_pem_are_refused(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("not a certificate\n")
    key.write_text("not a key\n")
    assert_refused(["--tls-cert", str(cert), "--tls-key", str(key)], None, f"cannot load the TLS certificate {cert}")


# --- good values start ------------------------------------------------------------------

GOOD_ARGUMENTS = [  # (arguments, variables)
    (["--idle-timeout", "0"], None),  # 0: never
    (["--idle-timeout", "1e9", "--header-timeout", "1e9", "--body-timeout", "1e9"], None),  # the largest
    (["--header-timeout", "0.5", "--body-timeout", "0.5"], None),
    (["--drain-delay", "0.2"], None),
    (["--max-connections", "1", "--max-in-flight-requests", "1", "--max-in-flight-bytes", "1B"], None),
    (["--compress-responses", "false", "--metrics-require-token", "true"], None),
    (["--log-level", "trace", "--log-format", "json"], None),
    (["--host", "127.0.0.1"], None),
    (["--probe-port", "0"], None),
    ([], {"PREFLOSS_IDLE_TIMEOUT": "0", "PREFLOSS_HEADER_TIMEOUT": "2.5", "PREFLOSS_BODY_TIMEOUT": "1", "PREFLOSS_DRAIN_DELAY": "0"}),
    ([], {"PREFLOSS_MAX_CONNECTIONS": "8", "PREFLOSS_MAX_IN_FLIGHT_REQUESTS": "2", "PREFLOSS_MAX_IN_FLIGHT_BYTES": "64MiB"}),
    ([], {"PREFLOSS_COMPRESS_RESPONSES": "false", "PREFLOSS_METRICS_REQUIRE_TOKEN": "false", "PREFLOSS_LOG_LEVEL": "debug"}),
]


@pytest.mark.parametrize("args,env", GOOD_ARGUMENTS,
                         ids=[" ".join(args) or " ".join(f"{k}={v}" for k, v in env.items()) for args, env in GOOD_ARGUMENTS])
def test_good_arguments_start_serve_and_stop_cleanly(args, env):
    """The server starts, answers a (malformed) loss request, and stops on SIGTERM with 0."""
    with serving_on_port_0(args, env) as server:
        assert loss(server, 2).status in (400, 413)  # 413: more than --max-in-flight-bytes 1B
        assert fetch(server.port, "GET", "/health").status == 200


def test_port_0_listens_on_an_ephemeral_port_named_in_the_log():
    with serving(["--port", "0"]) as server:
        assert server.port != 0


def test_port_from_the_environment():
    """PREFLOSS_PORT=0 is read: the server takes an ephemeral port, not the default."""
    with serving([], {"PREFLOSS_PORT": "0"}) as server:
        assert server.port not in (0, DEFAULT_PORT)
    assert "port=0 " in server.output, server.output


def test_log_level_from_the_environment_silences_info():
    """PREFLOSS_LOG_LEVEL=error hides the info line that starts the log (seen at the default
    level), while the port this test keeps busy makes the server exit with its error."""
    with reserved_port(listening=True) as busy:
        quiet_code, quiet = run_to_exit(["--port", str(busy)], {"PREFLOSS_LOG_LEVEL": "error"})
        code, output = run_to_exit(["--port", str(busy)])
    assert quiet_code > 0 and code > 0
    assert "Address already in use" in quiet and "Address already in use" in output, (quiet, output)
    assert " info " in output and " info " not in quiet, (quiet, output)


# --- a flag wins over its variable ------------------------------------------------------

def test_port_flag_wins_over_its_variable():
    """The variable names a port this test keeps busy: the server could not start on it."""
    with reserved_port(listening=True) as busy, serving(["--port", "0"], {"PREFLOSS_PORT": str(busy)}) as server:
        assert server.port != busy
    assert "port=0 " in server.output, server.output


def test_flag_wins_even_over_an_unparsable_variable():
    """The variable is only read when the flag is absent."""
    with serving_on_port_0([], {"PREFLOSS_PORT": "abc"}):
        pass


@pytest.mark.parametrize("args,limit", [([], 1024), (["--max-body-size", "2KiB"], 2048)])
def test_body_size_flag_wins_over_its_variable(args, limit):
    with serving_on_port_0(args, {"PREFLOSS_MAX_BODY_SIZE": "1KiB"}) as server:
        over = loss(server, limit + 1)
        assert over.status == 413
        assert f"limit of {limit} bytes" in over.json()["detail"]


@pytest.mark.parametrize("args,status", [([], 401), (["--metrics-require-token", "false"], 200)])
def test_metrics_flag_wins_over_its_variable(tmp_path, args, status):
    tokens = tmp_path / "tokens"
    tokens.write_text("good-token\n")
    env = {"PREFLOSS_TOKEN_FILE": str(tokens), "PREFLOSS_METRICS_REQUIRE_TOKEN": "true"}
    with serving_on_port_0(args, env) as server:
        assert fetch(server.port, "GET", "/metrics").status == status


@pytest.mark.parametrize("args,json_lines", [([], True), (["--log-format", "text"], False)])
def test_log_format_flag_wins_over_its_variable(args, json_lines):
    with serving_on_port_0(args, {"PREFLOSS_LOG_FORMAT": "json"}) as server:
        pass
    lines = [line for line in server.output.splitlines() if line.strip()]
    assert lines, "the server logs its start"

    def is_json(line):
        with contextlib.suppress(ValueError):
            return isinstance(json.loads(line), dict)
        return False

    assert all(is_json(line) == json_lines for line in lines), server.output


# --- the variables' names before the rename ---------------------------------------------

def old_name_warnings(output: str) -> List[str]:
    return [line for line in output.splitlines() if "SIMPO_" in line]


def test_old_variables_alone_take_effect_each_with_one_warning():
    """SIMPO_* is read when its PREFLOSS_* is absent, and the log says once which variable to set instead."""
    env = {"SIMPO_MAX_BODY_SIZE": "2KiB", "SIMPO_MAX_IN_FLIGHT_REQUESTS": "3"}
    with serving(["--port", "0"], env) as server:
        assert loss(server, 2049).status == 413
    assert "max_body_size=2048 " in server.output and "max_in_flight_requests=3" in server.output, server.output
    warnings = old_name_warnings(server.output)
    assert len(warnings) == len(env), server.output
    for old in env:
        [line] = [line for line in warnings if f"{old} is the name before the rename" in line]
        assert " warning " in line and "set PREFLOSS_" + old.removeprefix("SIMPO_") in line, line


def test_new_variable_wins_over_the_old_one():
    env = {"PREFLOSS_MAX_BODY_SIZE": "1KiB", "SIMPO_MAX_BODY_SIZE": "2KiB"}
    with serving(["--port", "0"], env) as server:
        assert loss(server, 1025).status == 413
    assert "max_body_size=1024 " in server.output, server.output
    assert not old_name_warnings(server.output), server.output
