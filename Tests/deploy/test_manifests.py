"""The Kubernetes manifests: valid against the API schemas, and consistent with the server."""

import re

import kubernetes_validate
import pytest
import yaml

from conftest import DEPLOY, K8S, ROOT, load_manifest

MANIFESTS = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
# The oldest Kubernetes the manifests promise to work on, and the newest schemas at hand.
VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", MANIFESTS)
def test_manifest_is_valid_and_strict(name, version):
    for document in yaml.safe_load_all((K8S / name).read_text()):
        kubernetes_validate.validate(document, version, strict=True)


def test_validation_rejects_a_broken_manifest(deployment):
    """Guards the test above: a misspelt field must fail strict validation."""
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_kustomization_applies_every_manifest_but_the_example_secret():
    resources = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(resources) == [m for m in MANIFESTS if m != "secret.example.yaml"]


def test_probes_use_the_servers_routes(container):
    openapi = yaml.safe_load((ROOT / "openapi.yaml").read_text())["paths"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] in openapi


def container_port(container, name: str) -> int:
    (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == name]
    return port


def test_ports_agree_everywhere(container, configmap, deployment, dockerfile):
    port = int(configmap["PREFLOSS_PORT"])
    assert container_port(container, "http") == port
    assert re.search(rf"^EXPOSE {port}$", dockerfile, re.M)
    assert re.search(rf"PREFLOSS_PORT={port}\b", dockerfile)
    assert configmap["PREFLOSS_HOST"] == "0.0.0.0"
    replicas_ports = load_manifest("replicas-service.yaml")["spec"]["ports"]
    assert [(p["port"], p["targetPort"]) for p in replicas_ports] == [(port, "http")], \
        "the replicas' Service carries the main port only"


def test_probes_and_scrapes_use_the_probe_listener(container, configmap, deployment, dockerfile):
    """The probes, Prometheus and Docker's health check reach the server on its probe port,
    whose connections no client of the main port can take (issue 22: 1,024 idle sockets on the
    main port failed every probe, and the kubelet restarted the pod)."""
    probe_port = int(configmap["PREFLOSS_PROBE_PORT"])
    assert probe_port != int(configmap["PREFLOSS_PORT"])
    assert container_port(container, "probes") == probe_port
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] == "probes", probe
    assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(probe_port)
    assert re.search(rf"^EXPOSE {probe_port}$", dockerfile, re.M)
    assert re.search(rf"PREFLOSS_PROBE_PORT={probe_port}\b", dockerfile)
    healthcheck = (DEPLOY / "healthcheck.sh").read_text()
    assert re.search(r'port="\$\{1:-\$\{PREFLOSS_PROBE_PORT:-', healthcheck), "the health check prefers the probe port"


def test_grace_period_covers_pre_stop_drain_and_a_request(deployment, container, configmap):
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    drain = float(configmap["PREFLOSS_DRAIN_DELAY"])
    longest_request = 10  # seconds: far above a large batch's ~60 ms
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace >= int(pre_stop[1]) + drain + longest_request
    # The readiness probe must see the 503 within the drain delay.
    readiness = container["readinessProbe"]
    assert readiness["periodSeconds"] * readiness["failureThreshold"] <= drain


def worst_measured_probe_p99_ms() -> float:
    """The slowest probe-port p99 of the README's `make floods` table, in ms."""
    table = (ROOT / "README.md").read_text().split("<!-- floods:start -->", 1)[1].split("<!-- floods:end -->", 1)[0]
    rows = [line.split("|")[1:-1] for line in table.splitlines() if line.startswith("| ")]
    column = [cell.strip() for cell in rows[0]].index("probe port p99 ms /health / /ready / /metrics")
    return max(float(value) for row in rows[1:] for value in row[column].split(" / "))


def test_probe_timeouts_are_far_above_the_measured_probe_latency(container):
    worst = worst_measured_probe_p99_ms()
    assert 0 < worst < 50, "the floods table shows the probes' target missed"
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["timeoutSeconds"] * 1000 >= 10 * worst, probe


def test_locked_down_security_context(deployment, container, dockerfile):
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    uid = pod["securityContext"]["runAsUser"]
    assert uid != 0 and re.search(rf"^USER {uid}:", dockerfile, re.M)
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert "limits" in container["resources"] and "requests" in container["resources"]


def test_tokens_come_from_the_secret(deployment, container, configmap):
    secret = load_manifest("secret.example.yaml")
    (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    key = next(iter(secret["stringData"]))
    assert configmap["PREFLOSS_TOKEN_FILE"] == f"{mount['mountPath']}/{key}"


def test_autoscaler_and_budget_target_the_deployment(deployment):
    hpa = load_manifest("hpa.yaml")["spec"]
    assert hpa["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["minReplicas"] >= 2, "one replica could not survive a disruption"
    pdb = load_manifest("pdb.yaml")["spec"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["minAvailable"] < hpa["minReplicas"], "a drain must be able to evict a replica"
    selector = load_manifest("replicas-service.yaml")["spec"]["selector"]
    assert selector.items() <= labels.items()
