"""docker-compose.yml, deploy/docker (Dockerfile, healthcheck) and .dockerignore agree with the code, without Docker."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from deploy_checks import (
    COMPOSE_FILE,
    DOCKERFILE,
    GATEWAY_URL_VARIABLE,
    POSTGRES_INIT_DIR,
    REQUIRED_VARIABLE,
    ROOT,
    SERVICE_PARTS,
    app_module,
    fail_on,
    process_problems,
    settings_env_names,
    split_commands,
    unknown_rectrack_vars,
    uvicorn_port,
)
from rectrack.common.settings import PlatformSettings
from rectrack.common.testing import free_port


def test_known_env_is_derived_from_platform_settings() -> None:
    names = settings_env_names(PlatformSettings)
    assert {"RECTRACK_PROFILE", "RECTRACK_NATS_URL", "RECTRACK_STREAM_REPLICAS", "RECTRACK_JWT_SECRET",
            "RECTRACK_INTERNAL_SECRET", "RECTRACK_RELAY_SWEEP_SECONDS"} <= names
    assert "RECTRACK_NO_SUCH_SETTING" not in names


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
