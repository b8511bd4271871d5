"""Bearer tokens at the HTTP edge: the credentials a process accepts (the tokens file, re-read
when it changes; the dev token in dev; the deprecated single ``LEADFLOW_ADMIN_TOKEN``) and the
FastAPI dependencies that turn ``Authorization: Bearer <token>`` into a :class:`Principal` or a
401/403 problem.

Every app keeps its :class:`Credentials` in ``app.state.credentials`` (set in ``create_app``);
an endpoint asks for a scope with ``AdminPrincipal``, ``ReadPrincipal`` or ``ImportPrincipal``
(or ``Depends(needs_admin)`` ...), and passes the principal on to the audit trail."""

from __future__ import annotations

import os
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import structlog
from fastapi import Depends, Request

from shared.auth import (
    ALL_SCOPES,
    Principal,
    Refused,
    Scope,
    TokenEntry,
    TokensFileError,
    hash_token,
    identify,
    parse_tokens,
)
from shared.http import ApiError
from shared.settings import CommonSettings

log = structlog.get_logger()

DEV_NAME = "dev"
LEGACY_NAME = "admin"
REQUEST_ID_HEADER = "x-request-id"
_MAX_REQUEST_ID = 128


@dataclass(frozen=True)
class _Seen:
    mtime_ns: int
    size: int
    ino: int


class Credentials:
    """The tokens a process accepts. The file is stat'ed on each check (cheap) and re-read when
    its mtime, size or inode changed, so a rotation needs no restart (a Kubernetes Secret
    volume swaps a symlink: the inode changes). A file that turns unreadable or invalid keeps
    the previous tokens and is logged once per change; at start-up it is an error."""

    def __init__(
        self,
        *,
        path: Path | None = None,
        fixed: tuple[TokenEntry, ...] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.path = path
        self.fixed = fixed
        self.clock = clock
        self._lock = threading.Lock()
        self._seen: _Seen | None = None
        self._file: tuple[TokenEntry, ...] = ()
        if path is not None:
            seen = self._stat()
            if seen is None:
                raise TokensFileError(f"tokens file {path}: cannot read it")
            self._file = parse_tokens(path.read_bytes(), origin=str(path))
            self._seen = seen

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> Credentials:
        fixed: list[TokenEntry] = []
        if settings.is_dev:
            fixed.append(_every_scope(DEV_NAME, settings.dev_admin_token.get_secret_value()))
        if settings.admin_token is not None:  # deprecated in favour of the tokens file
            fixed.append(_every_scope(LEGACY_NAME, settings.admin_token.get_secret_value()))
        return cls(path=settings.admin_tokens_file, fixed=tuple(fixed))

    def _stat(self) -> _Seen | None:
        assert self.path is not None
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return _Seen(st.st_mtime_ns, st.st_size, st.st_ino)

    def entries(self) -> tuple[TokenEntry, ...]:
        if self.path is not None:
            self._refresh()
        return self.fixed + self._file

    def _refresh(self) -> None:
        assert self.path is not None
        seen = self._stat()
        if seen == self._seen:
            return
        with self._lock:
            if seen == self._seen:
                return
            self._seen = seen
            try:
                if seen is None:
                    raise TokensFileError(f"tokens file {self.path}: cannot read it")
                self._file = parse_tokens(self.path.read_bytes(), origin=str(self.path))
            except (OSError, TokensFileError) as exc:  # keep the tokens in force
                log.error("auth.tokens_file_invalid", error=str(exc))
                return
            log.info("auth.tokens_file_loaded", entries=len(self._file))

    def authenticate(self, token: str) -> TokenEntry | Refused:
        return identify(self.entries(), token, self.clock())


def _every_scope(name: str, token: str) -> TokenEntry:
    return TokenEntry(name=name, scopes=ALL_SCOPES, sha256=hash_token(token))


def _unauthorized(detail: str) -> ApiError:
    return ApiError(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def principal_of(request: Request, scopes: tuple[Scope, ...]) -> Principal:
    """The principal of the request's bearer token if it holds one of ``scopes``; 401 for no,
    an unknown or an expired token, 403 naming the scope for a token without it."""
    credentials: Credentials = request.app.state.credentials
    kind, _, token = request.headers.get("authorization", "").partition(" ")
    if kind.lower() != "bearer" or not token:
        raise _unauthorized("a valid admin bearer token is required")
    found = credentials.authenticate(token.strip())
    if isinstance(found, Refused):
        if found.reason == "expired":
            raise _unauthorized("the bearer token has expired")
        raise _unauthorized("a valid admin bearer token is required")
    request_id = request.headers.get(REQUEST_ID_HEADER)
    principal = Principal(
        name=found.name,
        scopes=found.scopes,
        request_id=request_id[:_MAX_REQUEST_ID] if request_id else None,
    )
    if not any(principal.allows(s) for s in scopes):
        named = " or ".join(repr(s.value) for s in scopes)
        raise ApiError(
            403,
            "insufficient_scope",
            f"token {principal.name!r} lacks the scope {named}",
            headers={
                "WWW-Authenticate": 'Bearer error="insufficient_scope", '
                f'scope="{" ".join(s.value for s in scopes)}"'
            },
        )
    return principal


ScopeDependency = Callable[[Request], Awaitable[Principal]]


def require_scope(*scopes: Scope) -> ScopeDependency:
    """A dependency answering the :class:`Principal` of a token holding one of ``scopes``. It
    carries ``required_scopes`` so the OpenAPI document names them and the 403."""

    async def dependency(request: Request) -> Principal:
        return principal_of(request, scopes)

    dependency.__name__ = "require_" + "_or_".join(s.value for s in scopes)
    dependency.required_scopes = scopes  # type: ignore[attr-defined]
    return dependency


# one callable per scope: FastAPI then resolves a route's principal once per request
needs_read = require_scope(Scope.READ)
needs_admin = require_scope(Scope.ADMIN)
needs_import = require_scope(Scope.IMPORT)
needs_activities = require_scope(Scope.ACTIVITIES)
# an import tool follows the jobs it started; a reader sees them too
needs_import_or_read = require_scope(Scope.IMPORT, Scope.READ)

ReadPrincipal = Annotated[Principal, Depends(needs_read)]
AdminPrincipal = Annotated[Principal, Depends(needs_admin)]
ImportPrincipal = Annotated[Principal, Depends(needs_import)]


def required_scopes(call: object) -> tuple[Scope, ...]:
    """The scopes a dependency asks for (one of), () for any other callable."""
    scopes = getattr(call, "required_scopes", ())
    return scopes if isinstance(scopes, tuple) else ()
