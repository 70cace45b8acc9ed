"""The deployment files, as CI checks them: every Kubernetes overlay rendered with
`kubectl kustomize` and each object validated against the Kubernetes schemas
(kubernetes-validate, strict); the compose file validated against the current Compose
Specification schema. Broken copies show that the checks do fail. Every setting a service
requires is given in the manifests and in the compose file, so a new required setting
cannot ship without them.

`kubectl` is required, not optional: without it these tests fail (CI installs Debian's
`kubernetes-client`). LRE_KUBECTL names another binary.
"""

from __future__ import annotations

import importlib
import importlib.resources
import ipaddress
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml
from pydantic_settings import BaseSettings

from tests.deploy import dockerfiles

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "deploy" / "compose" / "compose.yaml"
# The current Compose Specification schema (compose-spec/compose-spec, Apache-2.0), as the
# check-jsonschema package (a dev dependency) vendors it: upgrading that package follows the
# specification.
COMPOSE_SCHEMA = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
KUBERNETES_VERSION = "1.31.0"
SERVICES = ("archive", "notifier", "pickup", "signer", "verification")
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
SECRET_VARIABLE = re.compile(
    r"(AMQP_URL|DATABASE_URL|PASSWORD|SECRET|TOKEN|ACCESS_KEY|PRIVATE_KEY|ACCOUNT_SID)"
)

Manifest = dict[str, Any]


class RenderError(Exception):
    pass


@pytest.fixture(scope="module")
def kubectl() -> str:
    binary = shutil.which(os.environ.get("LRE_KUBECTL", "kubectl"))
    if binary is None:
        pytest.fail(
            "kubectl is missing: install it (apt-get install -y kubernetes-client) to check the manifests"
        )
    return binary


def render(kubectl: str, directory: Path) -> list[Manifest]:
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise RenderError(f"kubectl kustomize {directory} failed: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def schema_errors(objects: list[Manifest]) -> list[str]:
    errors = []
    for obj in objects:
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{name}: {exc.message} at {'/'.join(map(str, exc.path))}")
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
            errors.append(f"{name}: {exc}")
    return errors


def compose_errors(document: Any) -> list[str]:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator = validator_class(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def by_kind(objects: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def containers(objects: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    for name, deployment in by_kind(objects, "Deployment").items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            yield name, container


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest, kubectl: str) -> list[Manifest]:
    overlay: str = request.param
    return render(kubectl, K8S / "overlays" / overlay)


# Kubernetes: every overlay renders and is valid


def test_the_dev_and_prod_overlays_are_checked() -> None:
    assert OVERLAYS == ["dev", "prod"]


def test_overlay_renders_to_objects_valid_against_the_kubernetes_schemas(rendered: list[Manifest]) -> None:
    assert len(rendered) > 30
    assert schema_errors(rendered) == []


def test_base_renders_and_is_valid(kubectl: str) -> None:
    assert schema_errors(render(kubectl, K8S / "base")) == []


def test_an_object_broken_in_the_base_fails_validation(kubectl: str, tmp_path: Path) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    archive = copy / "base" / "archive.yaml"
    text = archive.read_text()
    assert "  revisionHistoryLimit: 5\n" in text
    archive.write_text(text.replace("  revisionHistoryLimit: 5\n", "  revisionHistoryLimit: five\n", 1))
    pickup = copy / "base" / "pickup.yaml"
    text = pickup.read_text()
    assert "\nautomountServiceAccountToken: false\n" in text
    pickup.write_text(text.replace("\nautomountServiceAccountToken: false\n", "\nautomountToken: false\n", 1))

    for overlay in OVERLAYS:
        errors = schema_errors(render(kubectl, copy / "overlays" / overlay))
        assert any(e.startswith("Deployment/lre-archive") and "'five'" in e for e in errors), errors
        assert any(e.startswith("ServiceAccount/lre-pickup") and "automountToken" in e for e in errors), (
            errors
        )


def test_a_kustomization_naming_a_missing_file_fails_to_render(kubectl: str, tmp_path: Path) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    (copy / "base" / "signer.yaml").unlink()

    with pytest.raises(RenderError, match=r"signer\.yaml"):
        render(kubectl, copy / "overlays" / "prod")


# Kubernetes: what every service gets


def test_every_service_has_its_account_budget_autoscaler_and_network_policy(rendered: list[Manifest]) -> None:
    for service in SERVICES:
        name = f"lre-{service}"
        for kind in ("Deployment", "Service", "ServiceAccount", "ConfigMap", "PodDisruptionBudget"):
            assert any(n.startswith(name) for n in by_kind(rendered, kind)), f"{kind} of {name}"
        assert by_kind(rendered, "ServiceAccount")[name]["automountServiceAccountToken"] is False
        assert by_kind(rendered, "HorizontalPodAutoscaler")[name]["spec"]["scaleTargetRef"]["name"] == name
        assert name in by_kind(rendered, "NetworkPolicy")


def test_every_pod_is_hardened(rendered: list[Manifest]) -> None:
    for name, deployment in by_kind(rendered, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["serviceAccountName"] == name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
    for name, container in containers(rendered):
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["runAsNonRoot"] is True, name
        assert context["capabilities"] == {"drop": ["ALL"]}, name


def test_every_container_has_probes_resources_and_a_pinned_image(rendered: list[Manifest]) -> None:
    for name, container in containers(rendered):
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready", name
        assert container["startupProbe"]["httpGet"]["path"] == "/health/live", name
        for bound in ("requests", "limits"):
            assert set(container["resources"][bound]) == {"cpu", "memory"}, name
        image = container["image"]
        assert ":" in image.rsplit("/", 1)[-1], image
        assert not image.endswith(":latest"), f"{name}: an overlay must pin the image tag"


def test_rollouts_keep_old_pods_serving_until_new_ones_have_migrated(rendered: list[Manifest]) -> None:
    """Services migrate at start under an advisory lock and are ready only afterwards."""
    for name, deployment in by_kind(rendered, "Deployment").items():
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, name


def test_secrets_are_referenced_never_written(rendered: list[Manifest]) -> None:
    assert by_kind(rendered, "Secret") == {}
    for name, container in containers(rendered):
        for variable in container.get("env", []):
            if SECRET_VARIABLE.search(variable["name"]):
                assert "value" not in variable, f"{name}: {variable['name']} written in the manifest"
                assert "secretKeyRef" in variable["valueFrom"], f"{name}: {variable['name']}"
    for name, config_map in by_kind(rendered, "ConfigMap").items():
        for key in config_map.get("data", {}):
            assert not SECRET_VARIABLE.search(key.removesuffix("_FILE").removesuffix("_FILES")), (
                f"ConfigMap {name} holds {key}"
            )


def test_network_is_denied_by_default_and_dns_reaches_the_cluster_dns(rendered: list[Manifest]) -> None:
    policies = by_kind(rendered, "NetworkPolicy")
    deny = policies["default-deny-all"]["spec"]
    assert deny["podSelector"] == {}
    assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny
    assert "egress" not in deny
    # kustomize's commonLabels would add labels to peer selectors too: none may be there.
    (peer,) = policies["allow-dns"]["spec"]["egress"][0]["to"]
    assert peer["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}


def test_each_service_reaches_the_broker_and_only_its_own_database(rendered: list[Manifest]) -> None:
    policies = by_kind(rendered, "NetworkPolicy")
    for service in SERVICES:
        egress = policies[f"lre-{service}"]["spec"]["egress"]
        selectors = [
            peer.get("podSelector", {}).get("matchLabels", {}) for rule in egress for peer in rule["to"]
        ]
        assert {"app.kubernetes.io/name": "lre-rabbitmq"} in selectors, service
        databases = {s["cnpg.io/cluster"] for s in selectors if "cnpg.io/cluster" in s}
        assert databases == {f"lre-{service}-db"}, service


INGRESS_CONTROLLER = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
# Who may open a connection to each service (Prometheus aside: `allow-prometheus`).
ALLOWED_IN = {
    "pickup": [INGRESS_CONTROLLER],
    "notifier": [INGRESS_CONTROLLER],
    # the support desk and the MMS webhook; identity documents from the operator's mail relay
    "verification": [
        INGRESS_CONTROLLER,
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "lre-mail"}}},
    ],
    # the pickup site, for the zips it streams on to recipients; sender systems' API
    "archive": [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "lre-pickup"}}},
        INGRESS_CONTROLLER,
    ],
    "signer": [],
}


def test_only_services_behind_an_ingress_accept_traffic_from_the_ingress_controller(
    rendered: list[Manifest],
) -> None:
    exposed = {
        path["backend"]["service"]["name"]
        for ingress in by_kind(rendered, "Ingress").values()
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    # lre-s3: the operator's S3 store (an ExternalName), for presigned uploads and downloads
    assert exposed == {"lre-pickup", "lre-notifier", "lre-verification", "lre-archive", "lre-s3"}
    policies = by_kind(rendered, "NetworkPolicy")
    for service in SERVICES:
        peers = [peer for rule in policies[f"lre-{service}"]["spec"]["ingress"] for peer in rule["from"]]
        assert peers == ALLOWED_IN[service], service


def trusted_proxy_problems(objects: list[Manifest]) -> list[str]:
    """Why the pickup site, behind the ingress, would not tell visitors apart: without
    PICKUP_TRUSTED_PROXIES naming the ingress controller's pods, every visitor has the
    controller's address, and one visitor's wrong item numbers lock out everyone."""
    data = by_kind(objects, "ConfigMap")["lre-pickup-config"].get("data", {})
    if "PICKUP_TRUSTED_PROXIES" not in data:
        return ["PICKUP_TRUSTED_PROXIES is not set"]
    try:
        proxies = json.loads(data["PICKUP_TRUSTED_PROXIES"])
    except json.JSONDecodeError as exc:
        return [f"PICKUP_TRUSTED_PROXIES is not a JSON list: {exc}"]
    if not isinstance(proxies, list) or not proxies or not all(isinstance(p, str) for p in proxies):
        return ["PICKUP_TRUSTED_PROXIES is not a non-empty JSON list of addresses"]
    problems = []
    for proxy in proxies:
        try:
            network = ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            problems.append(f"{proxy!r} is no address or CIDR")
            continue
        # The pods' network is private; a public range would let anyone there choose
        # their own address.
        if not network.is_private or network.prefixlen < 8:
            problems.append(f"{proxy} is no pod network")
    return problems


def test_the_pickup_site_tells_apart_the_visitors_behind_the_ingress(rendered: list[Manifest]) -> None:
    # Trusting the whole pod network is sound because the site's network policy admits only
    # the ingress controller (and Prometheus): see the test above.
    assert trusted_proxy_problems(rendered) == []


def test_an_overlay_without_the_trusted_proxies_is_caught(kubectl: str, tmp_path: Path) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    for overlay in OVERLAYS:
        config = copy / "overlays" / overlay / "config.yaml"
        text = config.read_text()
        assert "  PICKUP_TRUSTED_PROXIES: " in text, overlay
        config.write_text(re.sub(r"\n  PICKUP_TRUSTED_PROXIES: [^\n]*", "", text))

        problems = trusted_proxy_problems(render(kubectl, copy / "overlays" / overlay))

        assert problems == ["PICKUP_TRUSTED_PROXIES is not set"], overlay


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("10.244.0.0/16", "not a JSON list"),
        ("[]", "not a non-empty JSON list"),
        ('["0.0.0.0/0"]', "0.0.0.0/0 is no pod network"),
        ('["ingress-nginx"]', "'ingress-nginx' is no address or CIDR"),
    ],
)
def test_trusted_proxies_that_are_no_pod_network_are_caught(value: str, problem: str) -> None:
    objects: list[Manifest] = [
        {
            "kind": "ConfigMap",
            "metadata": {"name": "lre-pickup-config"},
            "data": {"PICKUP_TRUSTED_PROXIES": value},
        }
    ]

    (found,) = trusted_proxy_problems(objects)

    assert problem in found


def test_the_support_desk_has_its_host_and_twilio_reaches_the_mms_webhook(rendered: list[Manifest]) -> None:
    ingresses = by_kind(rendered, "Ingress")
    (desk,) = ingresses["lre-support"]["spec"]["rules"]
    assert [p["backend"]["service"]["name"] for p in desk["http"]["paths"]] == ["lre-verification"]
    public = {
        path["path"]: path["backend"]["service"]["name"]
        for rule in ingresses["lre-public"]["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert public["/inbound/twilio/"] == "lre-verification"
    ports = {p["name"]: p["port"] for p in by_kind(rendered, "Service")["lre-verification"]["spec"]["ports"]}
    assert ports == {"http": 8104, "smtp": 2525}
    config = by_kind(rendered, "ConfigMap")["lre-verification-config"]["data"]
    assert config["VERIFICATION_INBOUND_SMTP_PORT"] == "2525"


MIB = 1024 * 1024
NGINX_SIZE = re.compile(r"^([0-9]+)([kKmMgG]?)$")


def nginx_bytes(size: str) -> int:
    number, unit = NGINX_SIZE.fullmatch(size).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1024, "m": MIB, "g": 1024 * MIB}[unit.lower()]


def test_sender_systems_reach_the_archive_api_and_the_store_over_tls_within_the_upload_limits(
    rendered: list[Manifest],
) -> None:
    ingresses = by_kind(rendered, "Ingress")
    api, files = ingresses["lre-senders"], ingresses["lre-files"]
    (api_rule,) = api["spec"]["rules"]
    paths = {p["path"]: (p["pathType"], p["backend"]["service"]["name"]) for p in api_rule["http"]["paths"]}
    assert paths == {"/uploads": ("Exact", "lre-archive"), "/senders/": ("Prefix", "lre-archive")}
    (files_rule,) = files["spec"]["rules"]
    assert [p["backend"]["service"]["name"] for p in files_rule["http"]["paths"]] == ["lre-s3"]
    for ingress, rule in ((api, api_rule), (files, files_rule)):
        assert [rule["host"]] == ingress["spec"]["tls"][0]["hosts"], ingress["metadata"]["name"]
    # Presigned URLs are signed for the files host: both services must name it.
    configs = by_kind(rendered, "ConfigMap")
    public = f"https://{files_rule['host']}"
    assert configs["lre-archive-config"]["data"]["ARCHIVE_S3_PUBLIC_ENDPOINT"] == public
    assert configs["lre-signer-config"]["data"]["SIGNER_EVIDENCE_S3_PUBLIC_ENDPOINT"] == public
    # One PUT is one document: the store's host takes the archive's per-document limit.
    from archive.settings import ArchiveSettings

    document = ArchiveSettings.model_fields["max_document_bytes"].default
    assert document == 20 * MIB
    assert ArchiveSettings.model_fields["max_letter_bytes"].default == 50 * MIB
    annotations = files["metadata"]["annotations"]
    assert nginx_bytes(annotations["nginx.ingress.kubernetes.io/proxy-body-size"]) == document
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    assert nginx_bytes(api["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]) <= MIB
    proxies = json.loads(configs["lre-archive-config"]["data"]["ARCHIVE_TRUSTED_PROXIES"])
    assert proxies and all(ipaddress.ip_network(p).is_private for p in proxies)
    # The archive asks the signer for the key's sender: the signer must trust its broker user.
    assert json.loads(configs["lre-signer-config"]["data"]["SIGNER_TRUSTED_PUBLISHERS"])


def test_prometheus_scrapes_every_service_and_traces_reach_the_collector(rendered: list[Manifest]) -> None:
    policies = by_kind(rendered, "NetworkPolicy")
    (scrape,) = policies["allow-prometheus"]["spec"]["ingress"]
    (port,) = scrape["ports"]
    (collector,) = policies["allow-opentelemetry-collector"]["spec"]["egress"]
    assert collector["ports"] == [{"protocol": "TCP", "port": 4318}]
    observability = by_kind(rendered, "ConfigMap")["lre-observability"]["data"]
    assert observability["OTEL_EXPORTER_OTLP_ENDPOINT"].endswith(":4318")
    for name, deployment in by_kind(rendered, "Deployment").items():
        assert deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/part-of"] == "lre"
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        http = next(p["containerPort"] for p in container["ports"] if p["name"] == "http")
        assert port["port"] <= http <= port["endPort"], name
        sources = [source["configMapRef"]["name"] for source in container["envFrom"]]
        assert "lre-observability" in sources, name


def receipt_trust_problems(objects: list[Manifest]) -> list[str]:
    """Why the signer would not find the trusted roots for ARs signed with a personal
    certificate: each file SIGNER_RECEIPT_TRUST_ROOT_FILES names must be a key of a ConfigMap
    mounted, read-only, into the signer's container at that path."""
    config = by_kind(objects, "ConfigMap")["lre-signer-config"].get("data", {})
    if "SIGNER_RECEIPT_TRUST_ROOT_FILES" not in config:
        return ["SIGNER_RECEIPT_TRUST_ROOT_FILES is not set"]
    files = [Path(f) for f in json.loads(config["SIGNER_RECEIPT_TRUST_ROOT_FILES"])]
    if not files:
        return ["SIGNER_RECEIPT_TRUST_ROOT_FILES names no file"]
    pod = by_kind(objects, "Deployment")["lre-signer"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {Path(m["mountPath"]): m for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    config_maps = by_kind(objects, "ConfigMap")
    problems = []
    for file in files:
        mount = mounts.get(file.parent)
        source = volumes.get(mount["name"], {}).get("configMap") if mount else None
        if mount is None or source is None:
            problems.append(f"{file}: no ConfigMap is mounted at {file.parent}")
            continue
        paths = {item["key"]: item["path"] for item in source.get("items", [])}
        data = config_maps.get(source["name"], {}).get("data", {})
        key = next((k for k, p in paths.items() if p == file.name), file.name if not paths else None)
        if key is None or key not in data:
            problems.append(f"{file}: ConfigMap {source['name']} has no key for {file.name}")
        elif not mount.get("readOnly"):
            problems.append(f"{file}: mounted writable")
    return problems


def test_the_signer_reads_the_trusted_roots_for_signed_ars_from_a_mounted_pem_bundle(
    rendered: list[Manifest],
) -> None:
    assert receipt_trust_problems(rendered) == []
    bundle = by_kind(rendered, "ConfigMap")["lre-signer-receipt-trust"]["data"]["roots.pem"]
    assert "PLACEHOLDER" in bundle or "-----BEGIN CERTIFICATE-----" in bundle


def test_a_signer_without_its_trusted_roots_bundle_is_caught(kubectl: str, tmp_path: Path) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    signer = copy / "base" / "signer.yaml"
    text = signer.read_text()
    mount = "".join(
        f"{indent}{line}\n"
        for indent, line in (
            ("        ", "- name: receipt-trust"),
            ("          ", "mountPath: /etc/lre/receipt-trust"),
            ("          ", "readOnly: true"),
        )
    )
    assert mount in text
    signer.write_text(text.replace(mount, ""))

    for overlay in OVERLAYS:
        problems = receipt_trust_problems(render(kubectl, copy / "overlays" / overlay))

        assert problems == [
            "/etc/lre/receipt-trust/roots.pem: no ConfigMap is mounted at /etc/lre/receipt-trust"
        ]


def test_the_placeholder_bundle_holds_no_root_and_the_signer_reads_it_as_none(tmp_path: Path) -> None:
    from signer.adapters.receipt_check import read_trust_roots

    config = yaml.safe_load_all((K8S / "base" / "signer.yaml").read_text())
    bundle = next(d for d in config if d and d["metadata"]["name"] == "lre-signer-receipt-trust")
    placeholder = tmp_path / "roots.pem"
    placeholder.write_text(bundle["data"]["roots.pem"])

    assert read_trust_roots([placeholder]) == []


def required_settings(service: str) -> set[str]:
    """The environment variables `service` refuses to start without."""
    module = importlib.import_module(f"{service}.settings")
    cls = next(
        value
        for name, value in vars(module).items()
        if isinstance(value, type)
        and issubclass(value, BaseSettings)
        and name.lower() == f"{service}settings"
    )
    prefix = cls.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name, field in cls.model_fields.items() if field.is_required()}


def test_every_setting_a_service_requires_is_given_to_its_deployment(rendered: list[Manifest]) -> None:
    config_maps = by_kind(rendered, "ConfigMap")
    deployments = by_kind(rendered, "Deployment")
    for service in SERVICES:
        (container,) = deployments[f"lre-{service}"]["spec"]["template"]["spec"]["containers"]
        given = {variable["name"] for variable in container.get("env", [])}
        for source in container["envFrom"]:
            given |= set(config_maps[source["configMapRef"]["name"]].get("data", {}))
        missing = required_settings(service) - given
        assert not missing, f"lre-{service} lacks {sorted(missing)}"


# Compose


def load_compose() -> Any:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    assert compose_errors(load_compose()) == []


def test_compose_file_follows_the_current_specification() -> None:
    document = load_compose()
    assert "version" not in document, "`version` is obsolete in the Compose Specification"
    assert document["name"] == "lre"
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    assert "name" in schema["properties"]
    assert "include" in schema["properties"]


def test_every_setting_a_service_requires_is_given_in_compose() -> None:
    services = load_compose()["services"]
    for service in SERVICES:
        missing = required_settings(service) - set(services[service]["environment"])
        assert not missing, f"compose's {service} lacks {sorted(missing)}"


def test_an_invalid_compose_file_is_reported() -> None:
    broken = load_compose()
    broken["services"]["archive"]["depends_on"]["postgres"]["condition"] = "service_ready"
    broken["services"]["pickup"]["healthcheck"]["every"] = "10s"

    errors = compose_errors(broken)

    assert any("service_ready" in e for e in errors), errors
    assert any("every" in e for e in errors), errors


def test_compose_runs_the_engines_and_the_five_services_built_from_the_dockerfile() -> None:
    services = load_compose()["services"]
    assert {"rabbitmq", "postgres", "s3", "mail"} | set(SERVICES) == set(services)
    assert "management" in services["rabbitmq"]["image"]
    assert services["s3"]["image"].startswith("chrislusf/seaweedfs")
    assert services["mail"]["image"].startswith("axllent/mailpit")
    for service in SERVICES:
        build = services[service]["build"]
        assert (COMPOSE.parent / build["context"]).resolve() == ROOT
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == dockerfiles.PATH
        assert build["args"] == dockerfiles.build_args(service), f"{service}'s build arguments"


def test_every_compose_service_has_a_healthcheck_and_waits_for_healthy_dependencies() -> None:
    services = load_compose()["services"]
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition == {"condition": "service_healthy"}, f"{name} → {dependency}"
            assert dependency in services
    for service in SERVICES:
        assert {"rabbitmq", "postgres"} <= set(services[service]["depends_on"]), service


def test_compose_secrets_have_no_defaults_and_are_listed_in_the_example_env() -> None:
    text = "\n".join(line for line in COMPOSE.read_text().splitlines() if not line.lstrip().startswith("#"))
    example = {
        key: value
        for key, _, value in (
            line.partition("=")
            for line in (COMPOSE.parent / ".env.example").read_text().splitlines()
            if line and not line.startswith("#")
        )
    }
    assert all(value == "" for value in example.values()), "no secret values in .env.example"
    references = re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)([^}]*)\}", text)
    assert references
    for variable, modifier in references:
        assert modifier.startswith(":?"), f"${{{variable}}} must be required (:?), never defaulted"
        assert variable in example, f"{variable} is missing from .env.example"
    for name, service in load_compose()["services"].items():
        for variable, value in service.get("environment", {}).items():
            if SECRET_VARIABLE.search(variable) and not variable.endswith("_ENDPOINT"):
                assert "${" in str(value), f"{name}: {variable} is written in compose.yaml"


# Sender systems: their broker users (deploy/k8s/senders, for the RabbitMQ Messaging Topology
# Operator) get exactly what `lre-senders add` gives, and only the platform's own users act
# for any sender.

SENDERS = K8S / "senders"


def sender_access_problems(objects: list[Manifest]) -> list[str]:
    """What the sender resources would give other than `archive.domain.senders` says."""
    from archive.domain.senders import sender_binding, sender_permissions
    from lre_shared.topology import SENDERS_EVENTS_EXCHANGE, sender_queue

    problems = []
    by_sender: dict[str, dict[str, Manifest]] = {}
    for obj in objects:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        sender = obj["metadata"].get("labels", {}).get("lre.example/sender")
        if obj.get("apiVersion") != "rabbitmq.com/v1beta1" or sender is None:
            problems.append(f"{name}: not a sender's topology resource")
            continue
        if obj["spec"].get("rabbitmqClusterReference", {}).get("name") != "lre-rabbitmq":
            problems.append(f"{name}: not for the cluster lre-rabbitmq")
        by_sender.setdefault(sender, {})[obj["kind"]] = obj["spec"]
    for sender, specs in by_sender.items():
        if set(specs) != {"User", "Permission", "TopicPermission", "Queue", "Binding"}:
            problems.append(f"{sender}: has {sorted(specs)}")
            continue
        allowed = sender_permissions(sender)
        if specs["User"].get("tags"):
            problems.append(f"{sender}: its user has tags {specs['User']['tags']}")
        expected = {"configure": allowed.configure, "write": allowed.write, "read": allowed.read}
        if specs["Permission"]["permissions"] != expected:
            problems.append(f"{sender}: permissions {specs['Permission']['permissions']}")
        topic = {"exchange": allowed.topic_exchange, "write": allowed.topic_write, "read": allowed.topic_read}
        if specs["TopicPermission"]["permissions"] != topic:
            problems.append(f"{sender}: topic permissions {specs['TopicPermission']['permissions']}")
        queue = specs["Queue"]
        if (queue["name"], queue.get("type"), queue.get("durable")) != (sender_queue(sender), "quorum", True):
            problems.append(f"{sender}: queue {queue}")
        binding = specs["Binding"]
        if (binding["source"], binding["destination"], binding["routingKey"]) != (
            SENDERS_EVENTS_EXCHANGE,
            sender_queue(sender),
            sender_binding(sender),
        ):
            problems.append(f"{sender}: binding {binding}")
    return problems


def test_a_sender_systems_broker_user_gets_what_lre_senders_add_gives(kubectl: str) -> None:
    objects = render(kubectl, SENDERS)

    assert {o["metadata"]["labels"]["lre.example/sender"] for o in objects} == {"acme"}
    assert sender_access_problems(objects) == []


def test_a_sender_user_allowed_to_read_more_is_caught(kubectl: str, tmp_path: Path) -> None:
    copy = tmp_path / "senders"
    shutil.copytree(SENDERS, copy)
    acme = copy / "acme.yaml"
    text = acme.read_text()
    assert "    read: ^acme\\.\n" in text
    acme.write_text(text.replace("    read: ^acme\\.\n", "    read: .*\n"))

    assert sender_access_problems(render(kubectl, copy)) == [
        "acme: topic permissions {'exchange': 'lre.senders.events', 'read': '.*', 'write': '^$'}"
    ]


def test_only_the_platforms_own_users_act_for_any_sender(rendered: list[Manifest], kubectl: str) -> None:
    config_maps = by_kind(rendered, "ConfigMap")
    senders = {o["metadata"]["labels"]["lre.example/sender"] for o in render(kubectl, SENDERS)}
    for service, users in (("archive", {"lre-operator"}), ("signer", {"lre-archive", "lre-operator"})):
        data = config_maps[f"lre-{service}-config"]["data"]
        trusted = json.loads(data[f"{service.upper()}_TRUSTED_PUBLISHERS"])

        assert set(trusted) == users, service
        assert not set(trusted) & senders, service
