#!/usr/bin/env python3
"""Offline checks of deploy/k8s that a schema validator cannot make.

kubernetes-validate checks each built-in object against the Kubernetes schemas
(scripts/validate_deploy.sh runs it); this script checks the rest:

  * the KEDA objects (their CRDs are not in those schemas): a JSON schema of the fields we use
    (unknown fields rejected, to catch typos) plus the required ones: scaleTargetRef.name,
    triggers[0].type aws-sqs-queue, metadata.queueURL, queueLength, awsRegion;
  * references between objects: ServiceAccounts, ConfigMaps and Secrets the pods use, the
    Deployment a Service, HPA, PDB or ScaledObject points at, the TriggerAuthentication;
  * what the container needs: a valid TACOS_MODE per workload, the settings the AWS adapters
    require (and the scheduler's dead-letter queue, which the stack gives every function),
    probes on /readyz and /healthz, non-root read-only containers, an http pod's memory limit
    room for its connections, a preStop sleep and a grace period that covers it and the drain;
  * kustomization.yaml lists every manifest, and only existing ones.

Usage: deploy/check_k8s.py [DIR]   (default: deploy/k8s next to this script)
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import jsonschema
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("check_k8s.py needs PyYAML and jsonschema: python3 -m pip install PyYAML jsonschema")

MODES = {"lambda", "http", "worker", "seed"}
# Settings tacos-aws reads as required (shared/aws/src/settings.rs), plus the worker's queue.
REQUIRED_SETTINGS = {
    "TACOS_TABLE",
    "TACOS_EVENT_BUS",
    "TACOS_SCHEDULE_GROUP",
    "TACOS_SCHEDULER_ROLE_ARN",
    "TACOS_EXPIRE_FUNCTION_ARN",
    "TACOS_SIMULATOR_FUNCTION_ARN",
    "AWS_REGION",
    # Optional to tacos-aws, but the stack gives it to every function: without it a timer job
    # Scheduler cannot deliver is dropped instead of landing in the alarmed dead-letter queue.
    "TACOS_SCHEDULER_DLQ_ARN",
}
WORKER_SETTINGS = {"TACOS_FOLLOWUP_QUEUE_URL"}
SECRET_SETTINGS = {"TACOS_JWT_SECRET", "TACOS_WEBHOOK_SECRET", "TACOS_ADMIN_PASSWORD"}
# What an http pod's memory limit must cover (shared/http/src/server.rs): the process itself and
# each connection's request head, up to 64 KiB while it arrives (measured: 70 KB a connection,
# 310 MB at 4,096 connections), at TACOS_MAX_CONNECTIONS (default 4096).
BASE_MEMORY = 48 * 2**20
MEMORY_PER_CONNECTION = 96 * 2**10
DEFAULT_MAX_CONNECTIONS = 4096
# How long a stopping http server lets the requests in flight finish (Limits::drain_timeout).
DRAIN_SECONDS = 10
SQS_URL = re.compile(r"^https://sqs\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/(?P<account>\d{12})/(?P<name>[A-Za-z0-9_-]{1,80})$")

_STR = {"type": "string", "minLength": 1}
_META = {
    "type": "object",
    "required": ["name", "namespace"],
    "properties": {"name": _STR, "namespace": _STR, "labels": {"type": "object"}, "annotations": {"type": "object"}},
    "additionalProperties": False,
}
SCALED_OBJECT_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": _META,
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {"apiVersion": _STR, "kind": _STR, "name": _STR, "envSourceContainerName": _STR},
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "initialCooldownPeriod": {"type": "integer", "minimum": 0},
                "fallback": {"type": "object"},
                "advanced": {"type": "object"},
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "additionalProperties": False,
                        "properties": {
                            "type": _STR,
                            "name": _STR,
                            "useCachedMetrics": {"type": "boolean"},
                            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                            "authenticationRef": {
                                "type": "object",
                                "required": ["name"],
                                "additionalProperties": False,
                                "properties": {"name": _STR, "kind": {"enum": ["TriggerAuthentication", "ClusterTriggerAuthentication"]}},
                            },
                            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                        },
                    },
                    # The first trigger is the SQS queue, with what KEDA needs to read its length.
                    "prefixItems": [
                        {
                            "properties": {
                                "type": {"const": "aws-sqs-queue"},
                                "metadata": {
                                    "required": ["queueURL", "queueLength", "awsRegion"],
                                    "properties": {
                                        "queueURL": {"type": "string", "pattern": SQS_URL.pattern},
                                        "queueLength": {"type": "string", "pattern": "^[1-9][0-9]*$"},
                                        "activationQueueLength": {"type": "string", "pattern": "^[0-9]+$"},
                                        "awsRegion": {"type": "string", "pattern": "^[a-z]{2}(-[a-z]+)+-[0-9]+$"},
                                        "scaleOnInFlight": {"enum": ["true", "false"]},
                                        "scaleOnDelayed": {"enum": ["true", "false"]},
                                        "identityOwner": {"enum": ["pod", "operator"]},
                                    },
                                },
                            }
                        }
                    ],
                },
            },
        },
    },
}
TRIGGER_AUTH_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "TriggerAuthentication"},
        "metadata": _META,
        "spec": {
            "type": "object",
            "required": ["podIdentity"],
            "additionalProperties": False,
            "properties": {
                "podIdentity": {
                    "type": "object",
                    "required": ["provider"],
                    "additionalProperties": False,
                    "properties": {
                        "provider": {"enum": ["aws", "aws-eks"]},
                        "roleArn": {"type": "string", "pattern": "^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"},
                        "identityOwner": {"enum": ["keda", "workload"]},
                    },
                }
            },
        },
    },
}


def load(directory: Path) -> tuple[list[tuple[str, dict]], list[str]]:
    objects, problems = [], []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        try:
            for doc in yaml.safe_load_all(path.read_text()):
                if doc is not None:
                    objects.append((path.name, doc))
        except yaml.YAMLError as e:
            problems.append(f"{path.name}: not YAML: {e}")
    return objects, problems


def pod_spec(obj: dict) -> dict | None:
    kind = obj.get("kind")
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        return obj["spec"]["template"]["spec"]
    return None


def env_value(container: dict, name: str) -> str | None:
    for var in container.get("env") or []:
        if var.get("name") == name:
            return var.get("value")
    return None


def quantity_bytes(value: str | int | None) -> int | None:
    """A Kubernetes memory quantity ("256Mi", "1G", "134217728") in bytes."""
    if value is None:
        return None
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?", str(value))
    if not match:
        return None
    units = {None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    return int(match[1]) * units[match[2]]


def main() -> int:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "k8s"
    objects, problems = load(directory)
    index = {(o.get("kind"), (o.get("metadata") or {}).get("namespace"), (o.get("metadata") or {}).get("name")): (f, o) for f, o in objects}

    def find(kind: str, namespace: str, name: str):
        return index.get((kind, namespace, name), (None, None))[1]

    def where(file: str, obj: dict) -> str:
        return f"{file}: {obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"

    # KEDA objects against their schemas.
    for file, obj in objects:
        schema = {"ScaledObject": SCALED_OBJECT_SCHEMA, "TriggerAuthentication": TRIGGER_AUTH_SCHEMA}.get(obj.get("kind"))
        if schema is None:
            continue
        for error in sorted(jsonschema.Draft202012Validator(schema).iter_errors(obj), key=lambda e: list(e.absolute_path)):
            path = ".".join(str(p) for p in error.absolute_path) or "(root)"
            problems.append(f"{where(file, obj)}: {path}: {error.message}")

    configs: dict[str, dict] = {}
    for file, obj in objects:
        ns = (obj.get("metadata") or {}).get("namespace")
        kind = obj.get("kind")
        if kind not in {"Namespace"} and not ns:
            problems.append(f"{where(file, obj)}: no metadata.namespace")
        if ns and kind != "Namespace" and not find("Namespace", None, ns):
            problems.append(f"{where(file, obj)}: namespace {ns} is not defined in {directory.name}/")
        if kind == "ConfigMap":
            configs[obj["metadata"]["name"]] = obj.get("data") or {}

        spec = pod_spec(obj)
        if spec is not None:
            sa = spec.get("serviceAccountName")
            if not sa or not find("ServiceAccount", ns, sa):
                problems.append(f"{where(file, obj)}: ServiceAccount {sa!r} is not defined")
            pod_sc = spec.get("securityContext") or {}
            for container in spec.get("containers") or []:
                c = f"{where(file, obj)} container {container.get('name')}"
                sc = container.get("securityContext") or {}
                if not (pod_sc.get("runAsNonRoot") or sc.get("runAsNonRoot")):
                    problems.append(f"{c}: not runAsNonRoot")
                if not sc.get("readOnlyRootFilesystem"):
                    problems.append(f"{c}: root filesystem is not read-only")
                if sc.get("allowPrivilegeEscalation") is not False:
                    problems.append(f"{c}: allowPrivilegeEscalation is not false")
                if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                    problems.append(f"{c}: capabilities are not all dropped")
                if not (container.get("resources") or {}).get("requests"):
                    problems.append(f"{c}: no resource requests")
                mode = env_value(container, "TACOS_MODE")
                if mode not in MODES:
                    problems.append(f"{c}: TACOS_MODE {mode!r} is not one of {sorted(MODES)}")
                keys: set[str] = {v.get("name") for v in container.get("env") or []}
                for source in container.get("envFrom") or []:
                    if "configMapRef" in source:
                        name = source["configMapRef"]["name"]
                        cm = find("ConfigMap", ns, name)
                        if cm is None:
                            problems.append(f"{c}: ConfigMap {name} is not defined")
                        else:
                            keys |= set(cm.get("data") or {})
                    if "secretRef" in source:
                        name = source["secretRef"]["name"]
                        secret = find("Secret", ns, name)
                        if secret is None:
                            problems.append(f"{c}: Secret {name} is not defined")
                        else:
                            keys |= set(secret.get("stringData") or {}) | set(secret.get("data") or {})
                needed = REQUIRED_SETTINGS | SECRET_SETTINGS | (WORKER_SETTINGS if mode == "worker" else set())
                for missing in sorted(needed - keys):
                    problems.append(f"{c}: setting {missing} is not provided")
                if mode == "http":
                    ports = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
                    port_env = env_value(container, "PORT") or "8080"
                    if ports.get("http") != int(port_env):
                        problems.append(f"{c}: port 'http' ({ports.get('http')}) is not PORT ({port_env})")
                    settings = {**{k: v for cm in configs.values() for k, v in cm.items()}, **{v.get("name"): v.get("value") for v in container.get("env") or []}}
                    connections = int(settings.get("TACOS_MAX_CONNECTIONS") or DEFAULT_MAX_CONNECTIONS)
                    limit = quantity_bytes(((container.get("resources") or {}).get("limits") or {}).get("memory"))
                    needed_memory = BASE_MEMORY + connections * MEMORY_PER_CONNECTION
                    if limit is None or limit < needed_memory:
                        problems.append(
                            f"{c}: memory limit {limit} bytes is under the {needed_memory} that {connections} connections "
                            "(TACOS_MAX_CONNECTIONS) may take: a flood of slow request heads gets the pod OOM-killed"
                        )
                    # SIGTERM closes the listener at once: a preStop sleep covers the seconds the
                    # endpoints take to forget the pod, and the grace covers it and the drain.
                    sleep = ((((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep")) or {}).get("seconds", 0)
                    grace = spec.get("terminationGracePeriodSeconds", 30)
                    if not sleep:
                        problems.append(f"{c}: no preStop sleep: requests routed to a stopping pod before its endpoint is removed are refused")
                    elif sleep + DRAIN_SECONDS + 5 > grace:
                        problems.append(f"{c}: preStop sleep {sleep} s + drain {DRAIN_SECONDS} s does not fit terminationGracePeriodSeconds {grace}")
                    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                        got = ((container.get(probe) or {}).get("httpGet") or {}).get("path")
                        if got != path:
                            problems.append(f"{c}: {probe} path is {got!r}, expected {path}")

                if mode == "worker":
                    # The worker serves its probes and metrics on TACOS_WORKER_PORT (default 9090).
                    ports = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
                    port_env = env_value(container, "TACOS_WORKER_PORT") or "9090"
                    if ports.get("metrics") != int(port_env):
                        problems.append(f"{c}: port 'metrics' ({ports.get('metrics')}) is not TACOS_WORKER_PORT ({port_env})")
                    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                        got = (container.get(probe) or {}).get("httpGet") or {}
                        if got.get("path") != path or got.get("port") not in ("metrics", int(port_env)):
                            problems.append(f"{c}: {probe} is {got!r}, expected {path} on port metrics")

        # Things that select or target a Deployment.
        if kind in {"Service", "PodDisruptionBudget"}:
            selector = obj["spec"].get("selector") or {}
            selector = selector.get("matchLabels", selector) if kind == "PodDisruptionBudget" else selector
            matched = [
                o for _, o in objects
                if o.get("kind") == "Deployment" and o["metadata"].get("namespace") == ns
                and selector.items() <= (o["spec"]["template"]["metadata"].get("labels") or {}).items()
            ]
            if not selector or not matched:
                problems.append(f"{where(file, obj)}: selector {selector} matches no Deployment's pods")
            if kind == "Service":
                for port in obj["spec"].get("ports") or []:
                    target = port.get("targetPort")
                    names = {p.get("name") for d in matched for c in d["spec"]["template"]["spec"]["containers"] for p in c.get("ports") or []}
                    if isinstance(target, str) and target not in names:
                        problems.append(f"{where(file, obj)}: targetPort {target} is not a container port of the selected pods")
        if kind in {"HorizontalPodAutoscaler", "ScaledObject"}:
            target = (obj.get("spec") or {}).get("scaleTargetRef") or {}
            if not find(target.get("kind", "Deployment"), ns, target.get("name")):
                problems.append(f"{where(file, obj)}: scale target {target.get('kind', 'Deployment')}/{target.get('name')} is not defined")
        if kind == "ScaledObject":
            for trigger in (obj.get("spec") or {}).get("triggers") or []:
                ref = (trigger.get("authenticationRef") or {}).get("name")
                if ref and not find((trigger.get("authenticationRef") or {}).get("kind", "TriggerAuthentication"), ns, ref):
                    problems.append(f"{where(file, obj)}: TriggerAuthentication {ref} is not defined")
                meta = trigger.get("metadata") or {}
                url = SQS_URL.match(meta.get("queueURL") or "")
                if trigger.get("type") == "aws-sqs-queue" and url and url["region"] != meta.get("awsRegion"):
                    problems.append(f"{where(file, obj)}: awsRegion {meta.get('awsRegion')} differs from the queue URL's {url['region']}")
                for cm in configs.values() if trigger.get("type") == "aws-sqs-queue" else []:
                    if cm.get("TACOS_FOLLOWUP_QUEUE_URL") not in (None, meta.get("queueURL")):
                        problems.append(f"{where(file, obj)}: queueURL differs from the ConfigMap's TACOS_FOLLOWUP_QUEUE_URL")
            spec = obj.get("spec") or {}
            if spec.get("minReplicaCount", 0) > spec.get("maxReplicaCount", 100):
                problems.append(f"{where(file, obj)}: minReplicaCount > maxReplicaCount")

    # kustomization.yaml lists exactly the manifests.
    kustomization = directory / "kustomization.yaml"
    if kustomization.is_file():
        listed = set((yaml.safe_load(kustomization.read_text()) or {}).get("resources") or [])
        present = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
        for name in sorted(listed - present):
            problems.append(f"kustomization.yaml: resource {name} does not exist")
        for name in sorted(present - listed):
            problems.append(f"kustomization.yaml: {name} is not listed in resources")

    if problems:
        print(f"check_k8s: {len(problems)} problem(s)", file=sys.stderr)
        for p in problems:
            print(f"- {p}", file=sys.stderr)
        return 1
    kinds = sorted({o.get("kind") for _, o in objects})
    print(f"check_k8s: OK: {len(objects)} objects ({', '.join(kinds)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
