"""Fixtures for the cross-service tests: the whole platform as real processes, and what tests need to drive it.

A test module asks for `platform` (one LocalPlatform per module, on free ports and a temporary data folder;
set `PLATFORM_ENV = {...}` in the module for extra environment) and `kit` (tokens, API clients, polling,
the JetStream stream reader, the delivery log, the mailbox). Whatever happens, every process a fixture
started is stopped when the module ends.

The helpers live in plain modules next to this file: e2e_client.py (principals, API client, PDF), e2e_load.py
(the fault tests' load) and e2e_kit.py (`Kit`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy_checks import known_env_names
from e2e_client import minimal_pdf, running_platform
from e2e_kit import Kit
from rectrack.common.launcher import LocalPlatform


@pytest.fixture(scope="module")
def kit() -> Iterator[Kit]:
    """Helpers for driving a platform."""
    helpers = Kit()
    yield helpers
    helpers.close()


@pytest.fixture(scope="module")
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    """The whole platform, started once per module (extra env from the module's PLATFORM_ENV)."""
    extra = dict(getattr(request.module, "PLATFORM_ENV", {}))
    with running_platform(tmp_path_factory.mktemp("platform"), extra) as started:
        yield started


@pytest.fixture
def pdf_bytes() -> bytes:
    """A small real PDF."""
    return minimal_pdf()


@pytest.fixture(scope="module")
def known_env() -> set[str]:
    """Every RECTRACK_* variable some settings class reads."""
    return known_env_names()
