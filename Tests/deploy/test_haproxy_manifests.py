"""HAProxy's manifests and haproxy.cfg: a configuration haproxy accepts, consistent with the
replicas it routes to, the Services around it and the server's own settings and limits."""

import json
import os
import re
import subprocess

import pytest
import yaml

from conftest import ROOT, load_manifest
from haproxy_config import DEPLOYMENT, check, config_folder, directive, files, seconds, sections, write_config


@pytest.fixture(scope="module")
def cfg() -> dict:
    return sections()


@pytest.fixture(scope="module")
def proxy() -> dict:
    """The HAProxy container."""
    (only,) = load_manifest(DEPLOYMENT)["spec"]["template"]["spec"]["containers"]
    return only


def container_port(container: dict, port) -> int:
    """A probe's or Service's port, by name or number, as the container's port number."""
    return next(p["containerPort"] for p in container["ports"] if port in (p["name"], p["containerPort"]))


def bind_port(cfg: dict, frontend: str) -> int:
    (address,) = directive(cfg[f"frontend {frontend}"], "bind")
    return int(address.rsplit(":", 1)[1])


def server_setting(configmap: dict, stage, variable: str) -> str:
    """A server setting as the pods get it: the ConfigMap's value, else the default `--help` states."""
    if variable in configmap:
        return configmap[variable]
    usage = subprocess.run([stage / "prefloss-server", "--help"], capture_output=True, text=True, check=True).stdout
    return re.search(rf"\({variable};\s+default\s+([\d.]+)", usage).group(1)


def test_haproxy_accepts_the_config_as_the_deployment_runs_it(tmp_path, proxy):
    command = proxy["command"]
    assert command[:2] == ["haproxy", "-db"], "haproxy itself is PID 1, which preStop signals"
    assert os.path.dirname(command[command.index("-f") + 1]) == config_folder()
    env = {"PATH": os.environ["PATH"], "POD_NAMESPACE": "default"}
    env.update({item["name"]: item["value"] for item in proxy["env"] if "value" in item})
    config = write_config(tmp_path)
    result = check(config, env)
    assert result.returncode == 0 and "WARNING" not in result.stdout + result.stderr, result.stdout + result.stderr
    # Guards the check: one misspelt keyword must fail it.
    config.write_text(config.read_text().replace("hash-type consistent", "hash-type consistant"))
    assert check(config, env).returncode != 0


def test_runs_are_hashed_consistently_and_bodies_stream(cfg):
    backend = cfg["backend replicas"]
    openapi = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    headers = [p["name"] for p in openapi["paths"]["/v1/loss"]["post"]["parameters"] if p["in"] == "header"]
    (balance,) = directive(backend, "balance")
    assert re.fullmatch(r"hdr\((.+)\)", balance).group(1) in headers
    assert directive(backend, "hash-type") == ["consistent"]
    assert directive(cfg["frontend trainers"], "default_backend") == ["replicas"]
    # Buffering would answer Expect: 100-continue in HAProxy's place and read a body the server refuses.
    assert not any(words[:2] == ["option", "http-buffer-request"] for section in cfg.values() for words in section)
    # Only a connection that could not be opened is retried: the request reached no replica.
    assert directive(cfg["defaults"], "retry-on") == ["conn-failure"]


def test_replicas_are_found_where_they_listen(cfg, proxy, container, configmap, deployment):
    backend = cfg["backend replicas"]
    (_, slots, address) = directive(backend, "server-template")
    host, port = address.strip('"').rsplit(":", 1)
    headless = load_manifest("replicas-service.yaml")
    assert headless["spec"]["clusterIP"] == "None"
    assert host == f"{headless['metadata']['name']}.${{POD_NAMESPACE}}.svc.${{CLUSTER_DOMAIN}}"
    assert int(port) == int(configmap["PREFLOSS_PORT"]) == headless["spec"]["ports"][0]["port"]
    assert headless["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    env = {item["name"]: item for item in proxy["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["CLUSTER_DOMAIN"]["value"]
    # A slot for every replica the autoscaler may run, during a rollout too.
    surge = deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    assert int(slots) >= load_manifest("hpa.yaml")["spec"]["maxReplicas"] + surge
    assert {"resolvers", "init-addr"} <= set(directive(backend, "default-server"))
    assert directive(cfg["resolvers kube"], "parse-resolv-conf") == []


def test_health_check_is_the_readiness_probe_and_beats_the_drain(cfg, container, configmap):
    backend = cfg["backend replicas"]
    assert directive(backend, "option", "httpchk") == ["GET", container["readinessProbe"]["httpGet"]["path"]]
    assert directive(backend, "http-check", "expect") == ["status", "200"]
    server = directive(backend, "default-server")
    assert "check" in server
    checked_port = int(server[server.index("port") + 1]) if "port" in server else int(configmap["PREFLOSS_PORT"])
    assert checked_port == container_port(container, container["readinessProbe"]["httpGet"]["port"])
    # A draining replica (503 on /ready for the drain delay) is down before it stops listening.
    marked_down = seconds(server[server.index("inter") + 1]) * int(server[server.index("fall") + 1])
    assert marked_down < float(configmap["PREFLOSS_DRAIN_DELAY"])


def test_limits_and_timeouts_agree_with_the_server(cfg, configmap, stage):
    defaults = cfg["defaults"]
    server = directive(cfg["backend replicas"], "default-server")
    in_flight = server_setting(configmap, stage, "PREFLOSS_MAX_IN_FLIGHT_REQUESTS")
    assert server[server.index("maxconn") + 1] == in_flight, "requests past the server's limit wait in HAProxy"
    timeout = {words[0]: seconds(words[1]) for words in (w[1:] for w in defaults if w[0] == "timeout")}
    assert timeout["http-request"] <= float(server_setting(configmap, stage, "PREFLOSS_HEADER_TIMEOUT"))
    assert timeout["http-keep-alive"] == float(server_setting(configmap, stage, "PREFLOSS_IDLE_TIMEOUT"))
    # A slow body gets the server's 408, not HAProxy's cut.
    assert timeout["client"] > float(server_setting(configmap, stage, "PREFLOSS_BODY_TIMEOUT"))


def test_haproxy_pod_probes_metrics_and_soft_stop(cfg, proxy):
    pod = load_manifest(DEPLOYMENT)["spec"]["template"]
    probes = bind_port(cfg, "probes")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/ready")):
        assert proxy[probe]["httpGet"]["path"] == path
        assert container_port(proxy, proxy[probe]["httpGet"]["port"]) == probes
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(probes)
    metrics = pod["metadata"]["annotations"]["prometheus.io/path"]
    assert ["http-request", "use-service", "prometheus-exporter", "if", "{", "path", metrics, "}"] \
        in cfg["frontend probes"]
    limit = float(proxy["resources"]["limits"]["cpu"])
    assert int(directive(cfg["global"], "nbthread")[0]) <= limit, "more threads than cores are throttled"
    assert proxy["lifecycle"]["preStop"]["exec"]["command"][-1].startswith("kill -USR1 1"), "a soft stop"
    stop = seconds(directive(cfg["global"], "grace")[0]) + seconds(directive(cfg["global"], "hard-stop-after")[0])
    assert pod["spec"]["terminationGracePeriodSeconds"] > stop
    assert load_manifest(DEPLOYMENT)["spec"]["replicas"] == 1, "two HAProxy pods may hash runs differently"


def test_trainers_service_reaches_haproxy(cfg, proxy):
    service = load_manifest("service.yaml")["spec"]
    assert service["selector"].items() <= load_manifest(DEPLOYMENT)["spec"]["template"]["metadata"]["labels"].items()
    assert container_port(proxy, service["ports"][0]["targetPort"]) == bind_port(cfg, "trainers")


def test_haproxy_errors_are_problem_documents(cfg):
    errors = [words for words in cfg["defaults"] if words[0] == "http-error"]
    assert {words[2] for words in errors} >= {"502", "503", "504"}
    for words in errors:
        assert words[words.index("content-type") + 1] == "application/problem+json"
        name = os.path.relpath(words[words.index("file") + 1], config_folder())
        problem = json.loads(files()[name])
        assert str(problem["status"]) == words[2] and problem["type"] and problem["title"] and problem["detail"]
        if words[2] == "503":  # what prefloss's client retries, after Retry-After
            assert problem["type"] == "urn:prefloss:problem:service-unavailable"
            assert words[words.index("hdr") + 1:] == ["Retry-After", "1"]
