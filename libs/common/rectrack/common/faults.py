"""Named crash points for fault tests: RECTRACK_CRASH_AT=name kills the process there, for real."""

from __future__ import annotations

import os
import signal

_ARMED = frozenset(filter(None, os.environ.get("RECTRACK_CRASH_AT", "").split(",")))


def crash_point(name: str) -> None:
    """SIGKILL this process if the fault named here is armed; free when none is."""
    if name in _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
