"""The whole platform as separate local processes: used by `make run`, the end-to-end tests and `make bench`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from rectrack.common.testing import NatsServer, free_port, wait_for_port

BIN = Path(sys.executable).parent
PARTS = ("bodies", "recommendations", "notifications")
HTTP_PROCESSES = ("bodies", "recommendations", "notifications", "gateway")


@dataclass
class Ports:
    """Where each process listens."""

    gateway: int = 8000
    bodies: int = 8001
    recommendations: int = 8002
    notifications: int = 8003

    @classmethod
    def free(cls) -> Ports:
        """Free ports for a throwaway platform."""
        return cls(free_port(), free_port(), free_port(), free_port())


def platform_env(data_dir: Path, ports: Ports, nats_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every process of one platform shares."""
    env = dict(os.environ)
    env.update({
        "RECTRACK_DATA_DIR": str(data_dir),
        "RECTRACK_NATS_URL": nats_url,
        "RECTRACK_GATEWAY_PORT": str(ports.gateway),
    })
    for part in PARTS:
        port = getattr(ports, part)
        env[f"RECTRACK_{part.upper()}_PORT"] = str(port)
        env[f"RECTRACK_GATEWAY_{part.upper()}_URL"] = f"http://127.0.0.1:{port}"
    env.update(extra or {})
    return env


def process_commands(ports: Ports) -> dict[str, list[str]]:
    """The command line of each long-running process."""
    def uvicorn(module: str, port: int) -> list[str]:
        return [str(BIN / "uvicorn"), "--factory", "--no-access-log", "--host", "127.0.0.1", "--port", str(port),
                f"rectrack.{module}.main:create_app"]
    return {
        "bodies": uvicorn("bodies", ports.bodies),
        "recommendations": uvicorn("recommendations", ports.recommendations),
        "scheduler": [str(BIN / "rectrack"), "recommendations", "scheduler"],
        "notifications": uvicorn("notifications", ports.notifications),
        "gateway": uvicorn("gateway", ports.gateway),
    }


def prepare(env: dict[str, str], *, demo_bodies: bool = True, quiet: bool = False) -> None:
    """Migrate every service database (at once) and load the demo bodies; both idempotent."""
    output = subprocess.DEVNULL if quiet else None
    migrations = [subprocess.Popen([str(BIN / "rectrack"), part, "migrate"], env=env, stdout=output)
                  for part in PARTS]
    failed = [part for part, process in zip(PARTS, migrations, strict=True) if process.wait() != 0]
    if failed:
        raise RuntimeError(f"migrating {', '.join(failed)} failed")
    if demo_bodies:
        subprocess.run([str(BIN / "rectrack"), "bodies", "load-demo"], check=True, env=env, stdout=output)


@dataclass
class LocalPlatform:
    """Every rectrack process on free ports with its own data folder and NATS server."""

    data_dir: Path
    ports: Ports = field(default_factory=Ports.free)
    extra_env: dict[str, str] = field(default_factory=dict)
    nats: NatsServer | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def gateway_url(self) -> str:
        """Base URL of the gateway."""
        return f"http://127.0.0.1:{self.ports.gateway}"

    def url_of(self, name: str) -> str:
        """Base URL of an HTTP process."""
        return f"http://127.0.0.1:{getattr(self.ports, name)}"

    @property
    def env(self) -> dict[str, str]:
        """The shared environment."""
        assert self.nats is not None
        return platform_env(self.data_dir, self.ports, self.nats.url, self.extra_env)

    def start(self, *, demo_bodies: bool = True, ready_timeout: float = 120.0, quiet: bool = False) -> LocalPlatform:
        """Start NATS, prepare the databases, start every process, wait until all are ready.

        On failure everything started is stopped again and the error carries the end of each process's log.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.nats is None:
                self.nats = NatsServer(store_dir=str(self.data_dir / "nats")).start()
            prepare(self.env, demo_bodies=demo_bodies, quiet=quiet)
            for name in process_commands(self.ports):
                self.start_process(name)
            for name in HTTP_PROCESSES:
                self.wait_ready(name, timeout=ready_timeout)
        except Exception as exc:
            self.stop()
            raise RuntimeError(f"the platform did not start: {exc!r}\n{self.log_tails()}") from exc
        return self

    def __enter__(self) -> LocalPlatform:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def log_tails(self, lines: int = 40) -> str:
        """The last lines of every process's log, for a failure message."""
        parts = []
        for log in sorted(self.data_dir.glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name} (last {len(text)} lines) ---\n" + "\n".join(text))
        return "\n".join(parts)

    def start_process(self, name: str) -> None:
        """(Re)start one process."""
        log = open(self.data_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        self.processes[name] = subprocess.Popen(process_commands(self.ports)[name], env=self.env, stdout=log,
                                                stderr=subprocess.STDOUT)

    def wait_ready(self, name: str, timeout: float = 120.0) -> None:
        """Wait until an HTTP process answers /readyz."""
        port = getattr(self.ports, name)
        wait_for_port(port, timeout=timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{name} not ready after {timeout}s; see {self.data_dir / (name + '.log')}")

    def kill(self, name: str) -> None:
        """SIGKILL one process, as a crash would."""
        process = self.processes.pop(name, None)
        if process and process.poll() is None:
            process.kill()
            process.wait()

    def restart(self, name: str, *, ready_timeout: float = 120.0) -> None:
        """Start a killed process again and wait for it."""
        self.start_process(name)
        if name in HTTP_PROCESSES:
            self.wait_ready(name, timeout=ready_timeout)

    def stop(self) -> None:
        """Stop every process and the NATS server; nothing is left running."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
        if self.nats is not None:
            self.nats.stop()
            self.nats = None
