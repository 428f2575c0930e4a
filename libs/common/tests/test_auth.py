"""User tokens: verified, scoped to a role or a body, refused when tampered with or expired (even once cached)."""

from __future__ import annotations

import time

import pytest

from rectrack.common.auth import InternalSigner, InternalVerifier, Principal, UserTokenVerifier, issue_user_token
from rectrack.common.errors import Problem
from rectrack.common.settings import PlatformSettings


def test_a_body_token_names_its_body_and_a_staff_token_its_role() -> None:
    settings = PlatformSettings()
    verifier = UserTokenVerifier(settings)
    body = verifier.verify(issue_user_token(settings, role="body", subject="u1", body_id="kent-police"))
    staff = verifier.verify(issue_user_token(settings, role="viewer", subject="v1"))
    assert (body.kind, body.body_id, body.may_see_body("essex-police")) == ("body", "kent-police", False)
    assert (staff.kind, staff.role, staff.can_act_as_staff, staff.may_see_body("essex-police")) == \
        ("staff", "viewer", False, True)


def test_tampered_and_foreign_tokens_are_refused() -> None:
    settings = PlatformSettings()
    token = issue_user_token(settings, role="admin", subject="a")
    forged = issue_user_token(PlatformSettings(jwt_secret="x" * 40), role="admin", subject="a")
    verifier = UserTokenVerifier(settings)
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), forged, "not-a-token"):
        with pytest.raises(Problem) as refused:
            verifier.verify(bad)
        assert refused.value.status == 401


def test_an_expired_token_is_refused_even_after_it_was_cached() -> None:
    settings = PlatformSettings()
    verifier = UserTokenVerifier(settings)
    token = issue_user_token(settings, role="inspector", subject="i", ttl_seconds=1)
    assert verifier.verify(token).role == "inspector"
    time.sleep(2.1)
    with pytest.raises(Problem):
        verifier.verify(token)


def test_services_accept_only_the_gateways_signed_principal() -> None:
    principal = Principal(kind="body", subject="u", body_id="kent-police")
    token = InternalSigner("s" * 40).sign(principal)
    assert InternalVerifier("s" * 40).verify(token) == principal
    for bad in (None, "", InternalSigner("t" * 40).sign(principal)):
        with pytest.raises(Problem):
            InternalVerifier("s" * 40).verify(bad)


def test_development_secrets_are_refused_in_production() -> None:
    with pytest.raises(ValueError, match="RECTRACK_JWT_SECRET"):
        PlatformSettings(profile="prod")
    assert PlatformSettings(profile="prod", jwt_secret="j" * 40, internal_secret="i" * 40).profile == "prod"
