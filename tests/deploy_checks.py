"""What the deployment-file tests share: the files' locations, the settings' variables, the commands' checks.

The tests (test_deploy_compose.py, test_deploy_k8s.py) check docker-compose.yml, deploy/docker and deploy/k8s
against the code without Docker; this module holds what both need.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import os
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from rectrack.common.settings import PlatformSettings

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


def known_env_names() -> set[str]:
    """Every RECTRACK_* variable some settings class reads."""
    names = settings_env_names(PlatformSettings)
    for module_name in SETTINGS_MODULES:
        for cls in settings_classes(module_name):
            names |= settings_env_names(cls)
    return names


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
