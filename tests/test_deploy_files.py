"""The deployment files agree with the code: docker-compose.yml, deploy/docker, deploy/k8s, checked without Docker."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from base64 import b64decode
from collections.abc import Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from rectrack.common.settings import PlatformSettings
from rectrack.common.testing import free_port

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy/docker/Dockerfile"
K8S_DIR = ROOT / "deploy/k8s"
POSTGRES_INIT_DIR = ROOT / "deploy/postgres/init"

SETTINGS_MODULES = ("rectrack.bodies.config", "rectrack.recommendations.config", "rectrack.notifications.config",
                    "rectrack.gateway.config")
SERVICE_PARTS = ("bodies", "recommendations", "notifications")
HTTP_PARTS = {"gateway": 8000, "bodies": 8001, "recommendations": 8002, "notifications": 8003}
# Deployments that serve no HTTP and so cannot have HTTP probes, with the reason.
PORTLESS_DEPLOYMENTS = {"scheduler": "the escalation scheduler serves no HTTP; Kubernetes restarts it when it exits"}
IMAGE_NAME = "rectrack"
SECRET_PLACEHOLDER = "REPLACE_ME"
REQUIRED_VARIABLE = re.compile(r"^\$\{[A-Z][A-Z0-9_]*:\?[^}]+\}$")
GATEWAY_URL_VARIABLE = re.compile(r"RECTRACK_GATEWAY_(BODIES|RECOMMENDATIONS|NOTIFICATIONS)_URL")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def fail_on(problems: list[str]) -> None:
    """Fail naming every offending item at once."""
    assert not problems, "\n  " + "\n  ".join(problems)


# ---------------------------------------------------------------- what the settings read

def settings_env_names(cls: type[BaseSettings]) -> set[str]:
    """The environment variables a pydantic-settings class reads (its env_prefix + field names, or aliases)."""
    prefix = str(cls.model_config.get("env_prefix") or "")
    names: set[str] = set()
    for name, field in cls.model_fields.items():
        alias = field.validation_alias or field.alias
        if isinstance(alias, str):
            names.add(alias.upper())
        elif isinstance(alias, AliasChoices):
            names.update(choice.upper() for choice in alias.choices if isinstance(choice, str))
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def settings_classes(module_name: str) -> list[type[BaseSettings]]:
    """The BaseSettings subclasses a module defines; fails (never skips) when the module is missing."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        problem = f"settings module {module_name} cannot be imported ({exc!r}); the deployment sets its variables"
    else:
        classes = [obj for obj in vars(module).values() if inspect.isclass(obj) and issubclass(obj, BaseSettings)
                   and obj.__module__ == module.__name__]
        if classes:
            return classes
        problem = f"{module_name} defines no BaseSettings subclass"
    pytest.fail(problem)


@pytest.fixture(scope="module")
def known_env() -> set[str]:
    """Every RECTRACK_* variable some settings class reads."""
    names = settings_env_names(PlatformSettings)
    for module_name in SETTINGS_MODULES:
        for cls in settings_classes(module_name):
            names |= settings_env_names(cls)
    return names


def test_known_env_is_derived_from_platform_settings() -> None:
    names = settings_env_names(PlatformSettings)
    assert {"RECTRACK_PROFILE", "RECTRACK_NATS_URL", "RECTRACK_STREAM_REPLICAS", "RECTRACK_JWT_SECRET",
            "RECTRACK_INTERNAL_SECRET", "RECTRACK_RELAY_SWEEP_SECONDS"} <= names
    assert "RECTRACK_NO_SUCH_SETTING" not in names


def unknown_rectrack_vars(where: str, names: set[str], known: set[str]) -> list[str]:
    return [f"{where} sets {name}, which no settings class reads" for name in sorted(names)
            if name.upper().startswith("RECTRACK_") and name.upper() not in known]


# ---------------------------------------------------------------- what the commands run

def split_commands(argv: list[str]) -> list[list[str]]:
    """The command lines an argv runs: itself, or each `&&`/`;`-separated command of `sh -c "..."`."""
    if len(argv) >= 3 and argv[0] in ("sh", "bash", "/bin/sh") and argv[1] == "-c":
        return [shlex.split(part) for part in re.split(r"&&|;", argv[2]) if part.strip()]
    return [argv] if argv else []


def app_target_problem(target: str) -> str | None:
    """Why `module:factory` given to uvicorn would not load, or None."""
    module_name, _, attr = target.partition(":")
    try:
        spec = importlib.util.find_spec(module_name)
    except ImportError as exc:
        return f"{target}: {exc!r}"
    if spec is None or spec.origin is None:
        return f"{target}: module {module_name} does not exist"
    defined = set()
    for node in ast.parse(Path(spec.origin).read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            defined.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            defined |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.Assign):
            defined |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return None if attr in defined else f"{target}: {module_name} defines no {attr!r}"


def uvicorn_port(argv: list[str]) -> int | None:
    for i, word in enumerate(argv):
        if word == "--port":
            return int(argv[i + 1])
        if word.startswith("--port="):
            return int(word.split("=", 1)[1])
    return None


def app_module(argv: list[str]) -> str | None:
    """The app module uvicorn runs, e.g. rectrack.bodies.main."""
    targets = [word for word in argv[1:] if ":" in word and not word.startswith("-")]
    return targets[0].split(":")[0] if argv and argv[0] == "uvicorn" and targets else None


@cache
def rectrack_cli_answers(words: tuple[str, ...]) -> str | None:
    """Why `rectrack <words> --help` fails, or None when the command exists."""
    script = Path(sys.executable).parent / "rectrack"
    result = subprocess.run([str(script), *words, "--help"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})
    if result.returncode == 0:
        return None
    text = re.sub(r"[\u2500-\u257f]", " ", result.stderr or result.stdout)  # drop rich's box drawing
    return " ".join(text.split())[-300:]


def process_problems(where: str, argv: list[str]) -> list[str]:
    """Each command of argv must run something that exists: a uvicorn app factory or a `rectrack` CLI command."""
    problems = []
    for command in split_commands(argv):
        if command[0] == "uvicorn":
            if "--factory" not in command:
                problems.append(f"{where}: uvicorn runs an app factory, so it needs --factory: {command}")
            target = next((w for w in command[1:] if ":" in w and not w.startswith("-")), None)
            problem = app_target_problem(target) if target else f"no app given: {command}"
            if problem:
                problems.append(f"{where}: {problem}")
            part = re.fullmatch(r"rectrack\.(\w+)\.main:\w+", target or "")
            if part and part.group(1) in HTTP_PARTS and uvicorn_port(command) != HTTP_PARTS[part.group(1)]:
                problems.append(f"{where}: {part.group(1)} listens on {HTTP_PARTS[part.group(1)]} by convention, "
                                f"not {uvicorn_port(command)}")
        elif command[0] == "rectrack":
            answer = rectrack_cli_answers(tuple(command[1:]))
            if answer is not None:
                problems.append(f"{where}: `{shlex.join(command)}` is not a rectrack command: {answer}")
        else:
            problems.append(f"{where}: runs {command[0]!r}, neither uvicorn nor rectrack")
    return problems


# ---------------------------------------------------------------- docker-compose.yml

@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def compose_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def compose_depends(service: dict[str, Any]) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return {name: "service_started" for name in depends}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in depends.items()}


def built_here(service: dict[str, Any]) -> bool:
    build = service.get("build")
    return isinstance(build, dict) and build.get("dockerfile") == str(DOCKERFILE.relative_to(ROOT))


def test_compose_builds_from_files_in_the_repo(compose: dict[str, Any]) -> None:
    problems = []
    for name, service in compose["services"].items():
        build = service.get("build")
        if build is None:
            continue
        build = {"context": build} if isinstance(build, str) else build
        context = (ROOT / build.get("context", ".")).resolve()
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        if not context.is_dir():
            problems.append(f"compose service {name!r}: build context {context} does not exist")
        if not dockerfile.is_file():
            problems.append(f"compose service {name!r}: dockerfile {dockerfile} does not exist")
    fail_on(problems)
    assert any(map(built_here, compose["services"].values())), "no compose service builds deploy/docker/Dockerfile"


def test_compose_dependencies_name_existing_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    problems = []
    for name, service in services.items():
        for target, condition in compose_depends(service).items():
            if target not in services:
                problems.append(f"compose service {name!r} depends on {target!r}, which is not a service")
            elif condition not in ("service_started", "service_healthy", "service_completed_successfully"):
                problems.append(f"compose service {name!r}: unknown condition {condition!r} on {target!r}")
            elif condition == "service_healthy":
                check = services[target].get("healthcheck") or {}
                if check.get("disable") or not (check.get("test") or built_here(services[target])):
                    problems.append(f"compose service {name!r} waits for {target!r} to be healthy; it has no check")
        uses_database = any(k.endswith("_DATABASE_URL") for k in compose_env(service))
        if uses_database and name != "migrate" and compose_depends(service).get("migrate") != \
                "service_completed_successfully":
            problems.append(f"compose service {name!r} uses a database but does not wait for migrate to complete")
    fail_on(problems)
    assert compose_depends(services["migrate"]).get("postgres") == "service_healthy", "migrate must wait for postgres"


def test_compose_publishes_only_the_gateway_and_the_mail_ui(compose: dict[str, Any]) -> None:
    published: dict[str, list[str]] = {}
    for name, service in compose["services"].items():
        for port in service.get("ports") or []:
            if isinstance(port, dict):
                port = f"{port.get('host_ip', '')}:{port.get('published', '')}:{port['target']}".lstrip(":")
            published.setdefault(name, []).append(str(port))
    problems = [f"compose service {name!r} publishes {ports} to the host" for name, ports in published.items()
                if name not in ("gateway", "mailpit")]
    if published.get("gateway") != ["8000:8000"]:
        problems.append(f"the gateway must publish 8000:8000, not {published.get('gateway')}")
    problems += [f"mailpit publishes {port}: only its UI (8025), on 127.0.0.1" for port in published.get("mailpit", [])
                 if port != "127.0.0.1:8025:8025"]
    fail_on(problems)


def test_compose_sets_only_variables_the_settings_read(compose: dict[str, Any], known_env: set[str]) -> None:
    problems = []
    for name, service in compose["services"].items():
        problems += unknown_rectrack_vars(f"compose service {name!r}", set(compose_env(service)), known_env)
    fail_on(problems)


def test_compose_requires_secrets_and_runs_the_prod_profile(compose: dict[str, Any]) -> None:
    problems = []
    for name, service in compose["services"].items():
        env = compose_env(service)
        for key, value in env.items():
            if any(word in key for word in ("SECRET", "PASSWORD")) and not REQUIRED_VARIABLE.match(value):
                problems.append(f"compose service {name!r}: {key} must be a required ${{VAR:?message}}, not {value!r}")
            if key.endswith("_DATABASE_URL") and not re.search(r":\$\{[A-Z0-9_]+:\?[^}]+\}@", value):
                problems.append(f"compose service {name!r}: the password in {key} must be a required variable")
        if built_here(service):
            if env.get("RECTRACK_PROFILE") != "prod":
                problems.append(f"compose service {name!r} must set RECTRACK_PROFILE=prod")
            problems += [f"compose service {name!r} does not set {key}"
                         for key in ("RECTRACK_JWT_SECRET", "RECTRACK_INTERNAL_SECRET", "RECTRACK_NATS_URL")
                         if key not in env]
    fail_on(problems)


def test_compose_processes_exist_and_agree_on_ports(compose: dict[str, Any]) -> None:
    services = compose["services"]
    problems, app_ports = [], {}
    for name, service in services.items():
        if not built_here(service):
            continue
        command = service.get("command")
        if not isinstance(command, list):
            problems.append(f"compose service {name!r} needs a command in exec (list) form, got {command!r}")
            continue
        problems += process_problems(f"compose service {name!r}", command)
        if (module := app_module(command)) is not None:
            app_ports[name] = (module, uvicorn_port(command))
            check = " ".join((service.get("healthcheck") or {}).get("test") or [])
            if f":{uvicorn_port(command)}/healthz" not in check:
                problems.append(f"compose service {name!r}: its healthcheck must GET /healthz on its port "
                                f"{uvicorn_port(command)}, not {check!r}")
    for name, service in services.items():
        for key, value in compose_env(service).items():
            if match := re.fullmatch(GATEWAY_URL_VARIABLE, key):
                part, url = match.group(1).lower(), urlsplit(value)
                if app_ports.get(url.hostname or "") != (f"rectrack.{part}.main", url.port):
                    problems.append(f"compose service {name!r}: {key}={value} does not reach the {part} service "
                                    f"(running: {app_ports})")
    migrated = {c[1] for c in split_commands(services["migrate"]["command"])
                if c[0] == "rectrack" and c[2:] == ["migrate"]}
    if migrated != set(SERVICE_PARTS):
        problems.append(f"compose migrate runs the migrations of {sorted(migrated)}, not of {list(SERVICE_PARTS)}")
    fail_on(problems)


def test_compose_databases_are_created_by_the_postgres_init_scripts(compose: dict[str, Any]) -> None:
    init_text = "\n".join(p.read_text() for p in sorted(POSTGRES_INIT_DIR.iterdir()) if p.is_file())
    created = set(re.findall(r"^create_service_database\s+(\w+)", init_text, flags=re.M))
    problems: list[str] = []
    used: dict[str, set[str]] = {}
    for name, service in compose["services"].items():
        for key, value in compose_env(service).items():
            if key.endswith("_DATABASE_URL"):
                if not value.startswith("postgresql+asyncpg://"):
                    problems.append(f"compose service {name!r}: {key} is not a postgresql+asyncpg URL")
                database = value.rsplit("/", 1)[-1]
                used.setdefault(key, set()).add(database)
                if database not in created:
                    problems.append(f"compose service {name!r}: {key} names database {database!r}, which "
                                    f"deploy/postgres/init does not create (creates {sorted(created)})")
    databases = [next(iter(names)) for names in used.values()]
    if any(len(names) > 1 for names in used.values()) or len(databases) != len(set(databases)):
        problems.append(f"each service must have one database of its own: {used}")
    mounts = compose["services"]["postgres"].get("volumes") or []
    if not any(str(m).startswith("./deploy/postgres/init:/docker-entrypoint-initdb.d") for m in mounts):
        problems.append("the postgres service must mount ./deploy/postgres/init at /docker-entrypoint-initdb.d")
    fail_on(problems)


def test_compose_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    problems = []
    for name, service in compose["services"].items():
        for mount in service.get("volumes") or []:
            source = str(mount).split(":", 1)[0]
            if not source.startswith((".", "/")) and source not in declared:
                problems.append(f"compose service {name!r} mounts volume {source!r}, which is not declared")
            elif source.startswith(".") and not (ROOT / source).exists():
                problems.append(f"compose service {name!r} mounts {source}, which does not exist")
    fail_on(problems)


# ---------------------------------------------------------------- Dockerfile and .dockerignore

def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, (KEYWORD, arguments), grouped by stage; continuation lines joined."""
    instructions, pending = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions:
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, rest))
    return stages


def exec_form(where: str, text: str) -> list[str]:
    assert text.startswith("["), f"Dockerfile {where} must be in exec (JSON array) form: {text}"
    return list(json.loads(text))


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def dockerignore_regex(pattern: str) -> re.Pattern[str]:
    out, i, pattern = "", 0, pattern.strip("/")
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[" and "]" in pattern[i:]:
            end = pattern.index("]", i)
            out, i = out + pattern[i:end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore leaves path (or a folder above it) out of the build context."""
    ignored, parts = False, path.strip("/").split("/")
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = dockerignore_regex(pattern.lstrip("!"))
        if any(regex.fullmatch("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            ignored = not negated
    return ignored


def test_dockerignore_pattern_matching() -> None:
    patterns = ["**/tests", ".venv", "*.md", "!README.md"]
    assert dockerignored("services/bodies/tests/test_x.py", patterns)
    assert dockerignored(".venv/bin/python", patterns)
    assert dockerignored("NOTES.md", patterns) and not dockerignored("README.md", patterns)
    assert not dockerignored("services/bodies/rectrack/bodies/main.py", patterns)


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    patterns = dockerignore_patterns()
    missing = [path for path in (".git", ".venv", "var", ".env", "libs/common/tests", "services/bodies/tests")
               if not dockerignored(path, patterns)]
    fail_on([f".dockerignore lets {path} into the build context" for path in missing])


def test_dockerfile_copies_files_that_exist_and_reach_the_context() -> None:
    problems, patterns = [], dockerignore_patterns()
    for stage in dockerfile_stages():
        for keyword, rest in stage:
            if keyword not in ("COPY", "ADD"):
                continue
            words = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
            if any(w.startswith("--from") for w in words):
                continue
            for source in [w for w in words if not w.startswith("--")][:-1]:
                if not (ROOT / source).exists():
                    problems.append(f"Dockerfile {keyword} {source}: no such file in the repository")
                elif dockerignored(source, patterns):
                    problems.append(f"Dockerfile {keyword} {source}: .dockerignore leaves it out of the context")
    fail_on(problems)


def test_dockerfile_runtime_image(known_env: set[str]) -> None:
    stages = dockerfile_stages()
    runtime = dict(stages[-1])
    build_args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", DOCKERFILE.read_text(), flags=re.M))
    base = re.sub(r"\$\{(\w+)\}", lambda m: build_args.get(m.group(1), m.group(0)), runtime["FROM"].split()[0])
    problems = []
    if not base.startswith("python:3.11-slim"):
        problems.append(f"the runtime stage must be based on python:3.11-slim, not {base}")
    user = runtime.get("USER", "root").split(":")[0]
    if user in ("root", "0"):
        problems.append(f"the runtime stage must run as a non-root user, not USER {user}")
    healthcheck = runtime.get("HEALTHCHECK", "")
    check = exec_form("HEALTHCHECK CMD", healthcheck.partition("CMD")[2].strip()) if "CMD" in healthcheck else []
    script = next((word for word in check if word.endswith(".py")), None)
    copies = [rest.split() for keyword, rest in stages[-1] if keyword == "COPY"]
    source = next((words[-2] for words in copies if words[-1] == script), None)
    if script is None or source is None or "/healthz" not in (ROOT / source).read_text():
        problems.append(f"the runtime stage needs a HEALTHCHECK running a copied script that GETs /healthz: {check}")
    entrypoint = exec_form("ENTRYPOINT", runtime["ENTRYPOINT"]) if "ENTRYPOINT" in runtime else []
    command = exec_form("CMD", runtime.get("CMD", "[]"))
    if entrypoint and "tini" not in entrypoint[0]:
        problems.append(f"ENTRYPOINT {entrypoint} must be an init (tini), since the command chooses the process")
    problems += process_problems("Dockerfile CMD", command)
    env_names = {word.split("=", 1)[0] for keyword, rest in stages[-1] if keyword == "ENV" for word in rest.split()}
    problems += unknown_rectrack_vars("Dockerfile ENV", env_names, known_env)
    fail_on(problems)


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", free_port()), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_container_healthcheck_script(health_server: int) -> None:
    def status(*urls: str) -> int:
        script = ROOT / "deploy/docker/healthcheck.py"
        return subprocess.run([sys.executable, str(script), *urls], timeout=30).returncode

    assert status(f"http://127.0.0.1:{health_server}/healthz") == 0
    assert status(f"http://127.0.0.1:{health_server}/readyz") == 1  # answers 503
    assert status(f"http://127.0.0.1:{free_port()}/healthz") == 1  # nothing listens


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
