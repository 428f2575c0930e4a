"""deploy/k8s agrees with the code: manifests, references, probes, ports, processes, checked without a cluster."""

from __future__ import annotations

import re
from base64 import b64decode
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from deploy_checks import (
    GATEWAY_URL_VARIABLE,
    HTTP_PARTS,
    IMAGE_NAME,
    K8S_DIR,
    PORTLESS_DEPLOYMENTS,
    SECRET_PLACEHOLDER,
    SERVICE_PARTS,
    WORKLOAD_KINDS,
    app_module,
    fail_on,
    process_problems,
    split_commands,
    unknown_rectrack_vars,
    uvicorn_port,
)

# ---------------------------------------------------------------- deploy/k8s

Manifest = tuple[str, dict[str, Any]]  # (file name, document)


@pytest.fixture(scope="module")
def manifests() -> list[Manifest]:
    docs = []
    for path in sorted(K8S_DIR.rglob("*.y*ml")):
        if path.name != "kustomization.yaml":
            docs += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def named(manifests: list[Manifest], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests if doc.get("kind") == kind}


def workloads(manifests: list[Manifest]) -> dict[str, dict[str, Any]]:
    return {f"{doc['kind']}/{doc['metadata']['name']}": doc
            for _, doc in manifests if doc.get("kind") in WORKLOAD_KINDS}


def pod_template(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    return dict(spec["template"])


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_template(doc)["spec"]
    return list(spec.get("initContainers") or []) + list(spec["containers"])


def is_rectrack(container: dict[str, Any]) -> bool:
    image = str(container.get("image", ""))
    return image == IMAGE_NAME or image.startswith(IMAGE_NAME + ":")


def resolve_port(container: dict[str, Any], port: int | str) -> int | None:
    """The containerPort a probe or Service port (number or name) designates, or None."""
    for declared in container.get("ports") or []:
        if port in (declared["containerPort"], declared.get("name")):
            return int(declared["containerPort"])
    return None


def config_data(manifests: list[Manifest]) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """ConfigMaps' and Secrets' keys and values, by name."""
    configmaps = {name: {k: str(v) for k, v in (doc.get("data") or {}).items()}
                  for name, doc in named(manifests, "ConfigMap").items()}
    secrets = {name: {**{k: b64decode(v).decode() for k, v in (doc.get("data") or {}).items()},
                      **{k: str(v) for k, v in (doc.get("stringData") or {}).items()}}
               for name, doc in named(manifests, "Secret").items()}
    return configmaps, secrets


def effective_env(container: dict[str, Any], manifests: list[Manifest]) -> dict[str, str | None]:
    """What the container's environment will hold (None: from a reference that does not resolve, or a fieldRef)."""
    configmaps, secrets = config_data(manifests)
    env: dict[str, str | None] = {}
    for source in container.get("envFrom") or []:
        ref, data = (source["configMapRef"], configmaps) if "configMapRef" in source else (source["secretRef"], secrets)
        env.update({source.get("prefix", "") + k: v for k, v in data.get(ref["name"], {}).items()})
    for item in container.get("env") or []:
        value_from = item.get("valueFrom") or {}
        if "value" in item:
            env[item["name"]] = str(item["value"])
        elif ref := value_from.get("configMapKeyRef"):
            env[item["name"]] = configmaps.get(ref["name"], {}).get(ref["key"])
        elif ref := value_from.get("secretKeyRef"):
            env[item["name"]] = secrets.get(ref["name"], {}).get(ref["key"])
        else:
            env[item["name"]] = None
    return env


def selected(service: dict[str, Any], manifests: list[Manifest]) -> list[dict[str, Any]]:
    """The workloads whose pods a Service selects."""
    selector = service["spec"].get("selector") or {}
    return [doc for doc in workloads(manifests).values()
            if selector and selector.items() <= (pod_template(doc)["metadata"].get("labels") or {}).items()]


def modules_behind(url: str, manifests: list[Manifest]) -> set[str | None]:
    """The app modules that serve an in-cluster URL: Service -> port -> selected pods' container on the target port."""
    parts = urlsplit(url)
    service = named(manifests, "Service").get((parts.hostname or "").split(".")[0])
    if service is None:
        return set()
    found: set[str | None] = set()
    for port in service["spec"]["ports"]:
        if port["port"] == parts.port:
            for doc in selected(service, manifests):
                found |= {app_module(c.get("args") or []) for c in containers(doc)
                          if resolve_port(c, port.get("targetPort", port["port"])) is not None}
    return found


def test_k8s_yaml_parses_and_kustomization_lists_every_file(manifests: list[Manifest]) -> None:
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    files = {str(p.relative_to(K8S_DIR)) for p in K8S_DIR.rglob("*.y*ml")} - {"kustomization.yaml"}
    listed = set(kustomization.get("resources") or [])
    problems = [f"kustomization.yaml lists {name}, which does not exist" for name in sorted(listed - files)]
    problems += [f"deploy/k8s/{name} is not listed in kustomization.yaml" for name in sorted(files - listed)]
    problems += [f"{file}: a document without apiVersion/kind/metadata.name: {str(doc)[:80]}" for file, doc in manifests
                 if not (doc.get("apiVersion") and doc.get("kind") and (doc.get("metadata") or {}).get("name"))]
    if kustomization.get("namespace") not in named(manifests, "Namespace"):
        problems.append(f"kustomization namespace {kustomization.get('namespace')!r} is not a Namespace manifest")
    if IMAGE_NAME not in {image.get("name") for image in kustomization.get("images") or []}:
        problems.append(f"kustomization.yaml must map the image {IMAGE_NAME!r} to the registry")
    fail_on(problems)


def test_k8s_deployments_are_replicated_and_probed(manifests: list[Manifest]) -> None:
    problems = []
    for name, doc in named(manifests, "Deployment").items():
        if int(doc["spec"].get("replicas", 1)) < 2:
            problems.append(f"Deployment/{name} must run at least 2 replicas")
        for container in containers(doc):
            where = f"Deployment/{name} container {container['name']!r}"
            if not container.get("ports"):
                if name not in PORTLESS_DEPLOYMENTS:
                    problems.append(f"{where} has no HTTP port and so no probes: add them, or list it in "
                                    "PORTLESS_DEPLOYMENTS with the reason")
                continue
            for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                check = (container.get(probe) or {}).get("httpGet") or {}
                if check.get("path") != path or resolve_port(container, check.get("port", -1)) is None:
                    problems.append(f"{where}: {probe} must GET {path} on a container port, not {check}")
    fail_on(problems)


def test_k8s_every_container_has_requests_and_limits(manifests: list[Manifest]) -> None:
    problems = []
    for name, doc in workloads(manifests).items():
        for container in containers(doc):
            resources = container.get("resources") or {}
            missing = [f"{kind}.{what}" for kind in ("requests", "limits") for what in ("cpu", "memory")
                       if what not in (resources.get(kind) or {})]
            if missing:
                problems.append(f"{name} container {container['name']!r} has no resources {', '.join(missing)}")
    fail_on(problems)


def test_k8s_gateway_and_services_scale_horizontally(manifests: list[Manifest]) -> None:
    deployments = named(manifests, "Deployment")
    problems, scaled = [], set()
    for name, hpa in named(manifests, "HorizontalPodAutoscaler").items():
        target = hpa["spec"]["scaleTargetRef"]
        scaled.add(target["name"])
        if target.get("kind") != "Deployment" or target["name"] not in deployments:
            problems.append(f"HorizontalPodAutoscaler/{name} targets {target}, which is not a Deployment here")
        if int(hpa["spec"].get("minReplicas", 1)) < 2:
            problems.append(f"HorizontalPodAutoscaler/{name} must keep at least 2 replicas")
    problems += [f"{part} has no HorizontalPodAutoscaler" for part in HTTP_PARTS if part not in scaled]
    fail_on(problems)


def test_k8s_nats_is_a_three_node_jetstream_cluster(manifests: list[Manifest]) -> None:
    clusters = [doc for doc in named(manifests, "StatefulSet").values()
                if any(str(c.get("image", "")).startswith("nats:") for c in containers(doc))]
    assert len(clusters) == 1, f"expected one NATS StatefulSet, found {len(clusters)}"
    sts = clusters[0]
    name, headless_name = sts["metadata"]["name"], sts["spec"].get("serviceName")
    args = " ".join(" ".join(c.get("args") or []) for c in containers(sts))
    headless = named(manifests, "Service").get(headless_name) or {"spec": {}}
    problems = []
    if sts["spec"].get("replicas") != 3:
        problems.append(f"StatefulSet/{name} must have 3 replicas, has {sts['spec'].get('replicas')}")
    if headless["spec"].get("clusterIP") != "None" or not headless["spec"].get("publishNotReadyAddresses"):
        problems.append(f"StatefulSet/{name} needs a headless Service {headless_name!r} that publishes unready pods")
    problems += [f"StatefulSet/{name} does not pass {flag}" for flag in ("--cluster_name", "--jetstream", "--routes")
                 if flag not in args]
    problems += [f"StatefulSet/{name} has no route to {name}-{i}.{headless_name}" for i in range(3)
                 if f"nats://{name}-{i}.{headless_name}:" not in args]
    claims = {t["metadata"]["name"] for t in sts["spec"].get("volumeClaimTemplates") or []}
    store = re.search(r"--store_dir[= ](\S+)", args)
    mounts = {m["mountPath"]: m["name"] for c in containers(sts) for m in c.get("volumeMounts") or []}
    if not store or not any(mounts.get(str(p)) in claims for p in Path(store.group(1)).joinpath("x").parents):
        problems.append(f"StatefulSet/{name}: the JetStream store_dir must be on a volumeClaimTemplate")
    for wname, doc in workloads(manifests).items():
        for container in filter(is_rectrack, containers(doc)):
            env = effective_env(container, manifests)
            if env.get("RECTRACK_STREAM_REPLICAS") != "3":
                problems.append(f"{wname}: RECTRACK_STREAM_REPLICAS must be 3 (the cluster's size), "
                                f"is {env.get('RECTRACK_STREAM_REPLICAS')}")
            nats_url = urlsplit(env.get("RECTRACK_NATS_URL") or "")
            service = named(manifests, "Service").get((nats_url.hostname or "").split(".")[0])
            if service is None or sts not in selected(service, manifests) or \
                    nats_url.port not in [p["port"] for p in service["spec"]["ports"]]:
                problems.append(f"{wname}: RECTRACK_NATS_URL {nats_url.geturl()!r} is no Service port of the cluster")
    fail_on(problems)


def test_k8s_env_references_resolve(manifests: list[Manifest]) -> None:
    configmaps, secrets = config_data(manifests)
    problems = []
    for wname, doc in workloads(manifests).items():
        for container in containers(doc):
            where = f"{wname} container {container['name']!r}"
            for source in container.get("envFrom") or []:
                kind, ref, known = (("ConfigMap", source["configMapRef"], configmaps) if "configMapRef" in source
                                    else ("Secret", source["secretRef"], secrets))
                if ref["name"] not in known:
                    problems.append(f"{where}: envFrom names {kind} {ref['name']!r}, which is not defined")
            for item in container.get("env") or []:
                for ref_kind, kind, known in (("configMapKeyRef", "ConfigMap", configmaps),
                                              ("secretKeyRef", "Secret", secrets)):
                    ref = (item.get("valueFrom") or {}).get(ref_kind)
                    if ref and ref["key"] not in known.get(ref["name"], {}):
                        problems.append(f"{where}: {item['name']} reads key {ref['key']!r} of {kind} "
                                        f"{ref['name']!r}, which does not define it")
    fail_on(problems)


def test_k8s_sets_only_variables_the_settings_read(manifests: list[Manifest], known_env: set[str]) -> None:
    problems = []
    for wname, doc in workloads(manifests).items():
        for container in filter(is_rectrack, containers(doc)):
            env = effective_env(container, manifests)
            problems += unknown_rectrack_vars(f"{wname} container {container['name']!r}", set(env), known_env)
            if env.get("RECTRACK_PROFILE") != "prod":
                problems.append(f"{wname}: RECTRACK_PROFILE must be prod, is {env.get('RECTRACK_PROFILE')!r}")
    fail_on(problems)


def test_k8s_processes_exist_and_agree_on_ports(manifests: list[Manifest]) -> None:
    problems, migrated = [], set()
    for wname, doc in workloads(manifests).items():
        for container in filter(is_rectrack, containers(doc)):
            where, args = f"{wname} container {container['name']!r}", container.get("args") or []
            if "command" in container:
                problems.append(f"{where}: set args, not command, so the image's init (tini) stays PID 1")
            problems += process_problems(where, args) if args else [f"{where} has no args"]
            if app_module(args) and resolve_port(container, uvicorn_port(args) or -1) is None:
                problems.append(f"{where}: uvicorn --port {uvicorn_port(args)} is not a declared containerPort")
            migrated |= {c[1] for c in split_commands(args) if c[0] == "rectrack" and c[2:] == ["migrate"]
                         and doc["kind"] == "Job"}
            for key, value in effective_env(container, manifests).items():
                if match := re.fullmatch(GATEWAY_URL_VARIABLE, key):
                    behind = modules_behind(value or "", manifests)
                    if behind != {f"rectrack.{match.group(1).lower()}.main"}:
                        problems.append(f"{where}: {key}={value} reaches {behind or 'nothing'}")
    if migrated != set(SERVICE_PARTS):
        problems.append(f"the migration Job migrates {sorted(migrated)}, not {list(SERVICE_PARTS)}")
    schedulers = [doc for doc in named(manifests, "Deployment").values() for c in containers(doc)
                  if (c.get("args") or [])[:3] == ["rectrack", "recommendations", "scheduler"]]
    if len(schedulers) != 1:
        problems.append(f"expected one Deployment running the escalation scheduler, found {len(schedulers)}")
    fail_on(problems)


def test_k8s_services_and_ingress_reach_pods(manifests: list[Manifest]) -> None:
    services, problems = named(manifests, "Service"), []
    for name, service in services.items():
        pods = selected(service, manifests)
        if not pods:
            problems.append(f"Service/{name} selects no workload's pods")
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            if not any(resolve_port(c, target) for doc in pods for c in containers(doc)):
                problems.append(f"Service/{name} port {port['port']}: targetPort {target!r} is no container port")
    for name, ingress in named(manifests, "Ingress").items():
        for rule in ingress["spec"].get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                backend = path["backend"]["service"]
                backend_ports = (services.get(backend["name"]) or {"spec": {"ports": []}})["spec"]["ports"]
                ports = [p for p in backend_ports
                         if backend["port"].get("name", backend["port"].get("number")) in (p.get("name"), p["port"])]
                if not ports or modules_behind(f"http://{backend['name']}:{ports[0]['port']}", manifests) != \
                        {"rectrack.gateway.main"}:
                    problems.append(f"Ingress/{name} routes to {backend}, which is not the gateway")
    fail_on(problems)


def test_k8s_secret_template_holds_placeholders_only(manifests: list[Manifest]) -> None:
    _, secrets = config_data(manifests)
    fail_on([f"Secret/{name} key {key!r} holds a value without the {SECRET_PLACEHOLDER} placeholder"
             for name, data in secrets.items() for key, value in data.items() if SECRET_PLACEHOLDER not in value])
