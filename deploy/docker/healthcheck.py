"""Container health check: exit 0 when the rectrack process in this container answers GET /healthz.

Usage: healthcheck.py [URL ...]. Without URLs it tries the rectrack ports on loopback; a container runs one
process in its own network namespace, so whichever of them answers is that process.
"""

from __future__ import annotations

import sys
import urllib.request

DEFAULT_URLS = tuple(f"http://127.0.0.1:{port}/healthz" for port in (8000, 8001, 8002, 8003))

# Never route a loopback probe through an HTTP(S)_PROXY set in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def answers(url: str, *, timeout: float = 3.0) -> bool:
    """Whether GET url answers 200."""
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


def main(argv: list[str]) -> int:
    """Exit status for the container runtime: 0 healthy, 1 not."""
    urls = argv[1:] or DEFAULT_URLS
    return 0 if any(answers(url) for url in urls) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
