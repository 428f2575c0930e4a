"""Principals and tokens: user JWTs verified by the gateway, and the gateway's signed principal for services."""

from __future__ import annotations

import time
from typing import Any, Literal

import jwt
from pydantic import BaseModel, ValidationError

from rectrack.common.errors import Problem
from rectrack.common.settings import PlatformSettings

StaffRole = Literal["viewer", "inspector", "admin"]
PRINCIPAL_HEADER = "X-Rectrack-Principal"
INTERNAL_AUDIENCE = "rectrack-internal"
INTERNAL_TTL_SECONDS = 60


class Principal(BaseModel):
    """Who is asking: staff with a role, a body's user or system, or an internal service."""

    kind: Literal["staff", "body", "service"]
    subject: str
    name: str | None = None
    role: StaffRole | None = None
    body_id: str | None = None

    @property
    def is_staff(self) -> bool:
        """Any inspectorate staff member (or an internal service acting for the platform)."""
        return self.kind in ("staff", "service")

    @property
    def can_act_as_staff(self) -> bool:
        """Inspectors and administrators may change things; viewers only read."""
        return self.kind == "service" or (self.kind == "staff" and self.role in ("inspector", "admin"))

    @property
    def is_admin(self) -> bool:
        """Administrators manage bodies, keys and configuration."""
        return self.kind == "service" or (self.kind == "staff" and self.role == "admin")

    @property
    def inbox_key(self) -> str:
        """The in-app inbox this principal reads."""
        return f"body:{self.body_id}" if self.kind == "body" else f"staff:{self.subject}"

    def may_see_body(self, body_id: str) -> bool:
        """Staff see every body; a body principal only its own."""
        return self.is_staff or self.body_id == body_id


def _unauthorised(detail: str) -> Problem:
    return Problem(401, "unauthenticated", "Authentication required", detail,
                   headers={"WWW-Authenticate": "Bearer"})


def issue_user_token(settings: PlatformSettings, *, role: str, subject: str, name: str | None = None,
                     body_id: str | None = None, ttl_seconds: int = 8 * 3600) -> str:
    """A user token the gateway accepts (HS256 deployments; SSO issues its own in RS256 ones)."""
    if role == "body" and not body_id:
        raise ValueError("a body token needs a body")
    if role not in ("viewer", "inspector", "admin", "body"):
        raise ValueError(f"unknown role {role!r}")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": subject, "role": role, "iss": settings.jwt_issuer, "aud": settings.jwt_audience,
                              "iat": now, "exp": now + ttl_seconds}
    if name:
        claims["name"] = name
    if body_id:
        claims["body_id"] = body_id
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


class UserTokenVerifier:
    """Verifies the bearer tokens of people and bodies' systems (HS256 secret or RS256 via JWKS)."""

    def __init__(self, settings: PlatformSettings) -> None:
        self.settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None
        # A verified token names the same principal until it expires: remember it instead of re-checking
        # the signature on every request (a bounded cache; cleared whole when full).
        self._verified: dict[str, tuple[float, Principal]] = {}

    def verify(self, token: str) -> Principal:
        """The principal a valid token names; 401 problem otherwise."""
        cached = self._verified.get(token)
        if cached is not None and cached[0] > time.time():
            return cached[1]
        principal, expires = self._verify(token)
        if len(self._verified) >= 10_000:
            self._verified.clear()
        self._verified[token] = (expires, principal)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            key: Any = self.settings.jwt_secret
            if self.settings.jwt_algorithm == "RS256":
                if self._jwks is None:
                    raise _unauthorised("RS256 configured without RECTRACK_JWT_JWKS_URL")
                key = self._jwks.get_signing_key_from_jwt(token).key
            claims = jwt.decode(token, key, algorithms=[self.settings.jwt_algorithm],
                                audience=self.settings.jwt_audience, issuer=self.settings.jwt_issuer,
                                options={"require": ["exp", "sub"]})
        except jwt.PyJWTError as exc:
            raise _unauthorised(f"invalid token: {exc}") from None
        role = claims.get("role")
        expires = float(claims["exp"])
        try:
            if role == "body":
                return Principal(kind="body", subject=str(claims["sub"]), name=claims.get("name"),
                                 body_id=str(claims["body_id"])), expires
            return Principal(kind="staff", subject=str(claims["sub"]), name=claims.get("name"), role=role), expires
        except (KeyError, ValidationError):
            raise _unauthorised("token names no valid role") from None


class InternalSigner:
    """Signs the principal the gateway forwards; caches each principal's token for part of its life."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self._cache: dict[str, tuple[float, str]] = {}

    def sign(self, principal: Principal) -> str:
        """A short-lived, audience-bound token carrying the principal."""
        cache_key = principal.model_dump_json()
        now = time.time()
        cached = self._cache.get(cache_key)
        if cached and cached[0] > now:
            return cached[1]
        claims = {"aud": INTERNAL_AUDIENCE, "iat": int(now), "exp": int(now) + INTERNAL_TTL_SECONDS,
                  "principal": principal.model_dump(exclude_none=True)}
        token = jwt.encode(claims, self.secret, algorithm="HS256")
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[cache_key] = (now + INTERNAL_TTL_SECONDS / 2, token)
        return token


class InternalVerifier:
    """Accepts only requests carrying the gateway's signed principal."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self._cache: dict[str, tuple[float, Principal]] = {}

    def verify(self, token: str | None) -> Principal:
        """The forwarded principal, or a 401 problem."""
        if not token:
            raise _unauthorised("internal services accept only requests signed by the gateway")
        now = time.time()
        cached = self._cache.get(token)
        if cached and cached[0] > now:
            return cached[1]
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"], audience=INTERNAL_AUDIENCE,
                                options={"require": ["exp", "aud"]})
            principal = Principal.model_validate(claims["principal"])
        except (jwt.PyJWTError, KeyError, ValidationError):
            raise _unauthorised("invalid internal principal") from None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[token] = (min(float(claims["exp"]), now + 30), principal)
        return principal
