"""Who is calling: the bearer token of a request as an identity with a role.

Two kinds of token are accepted. ``server.token`` from the project file is one shared secret and acts as
``admin`` (small setups). Named tokens made with `mlfactory tokens create NAME --role ROLE` are kept in the
metadata store as the SHA-256 of their secret; this cache reads them at most every ``server.reload_interval``
seconds (and at most once a second when an unknown token shows up), so a new token works and a revoked one
stops working within that interval on every replica. When neither kind was ever made, the server is open,
as before any token was configured; revoking every named token does not open it again.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from dataclasses import dataclass

from mlfactory.entities import ApiToken, Role
from mlfactory.errors import ForbiddenError, MLFactoryError, UnauthorizedError
from mlfactory.stores.metadata import MetadataStore

log = logging.getLogger("mlfactory.server")
UNKNOWN_RETRY_S = 1.0  # an unknown secret re-reads the tokens at most this often


@dataclass(frozen=True)
class Identity:
    """An authenticated caller: the name events record as the actor, and what it may do."""

    name: str
    role: Role


class TokenCache:
    """The active named tokens by secret hash, re-read from the metadata store now and then."""

    def __init__(self, metadata: MetadataStore, shared: str | None, refresh_s: float) -> None:
        self.metadata = metadata
        self.shared = shared
        self.refresh_s = refresh_s
        self._by_digest: dict[str, ApiToken] = {}
        self._any = False  # whether a token was ever made: revoking the last one must not open the server
        self._loaded = float("-inf")
        self._lock = asyncio.Lock()

    def _read(self) -> tuple[dict[str, ApiToken], bool]:
        return self.metadata.active_tokens(), bool(self.metadata.list_tokens())

    async def _refresh(self, older_than: float) -> None:
        async with self._lock:
            if time.monotonic() - self._loaded < older_than:
                return  # another request refreshed meanwhile
            try:
                self._by_digest, self._any = await asyncio.to_thread(self._read)
            except MLFactoryError as exc:  # the database is away: keep the tokens last read
                log.warning("could not re-read API tokens (%s); using the ones read before", exc)
            self._loaded = time.monotonic()

    async def configured(self) -> bool:
        """Whether calls must carry a token: the shared one is set, or a named one was ever made."""
        if self.shared:
            return True
        await self._refresh(self.refresh_s)
        return self._any

    async def identify(self, secret: str) -> Identity | None:
        """The caller a secret belongs to, or None."""
        if self.shared and hmac.compare_digest(secret.encode(), self.shared.encode()):
            return Identity("server-token", Role.ADMIN)
        await self._refresh(self.refresh_s)
        digest = ApiToken.digest(secret)
        token = self._by_digest.get(digest)
        if token is None:
            await self._refresh(UNKNOWN_RETRY_S)
            token = self._by_digest.get(digest)
        return None if token is None else Identity(f"token:{token.name}", token.role)


def bearer(header: str) -> str | None:
    """The secret of an ``Authorization: Bearer …`` header, if that is what it holds."""
    scheme, _, given = header.partition(" ")
    return given.strip() or None if scheme.lower() == "bearer" else None


async def authorize(cache: TokenCache, header: str, needed: Role) -> Identity | None:
    """The caller, if it may do what ``needed`` allows; None when no token is configured at all;
    UnauthorizedError (401) without a known token, ForbiddenError (403) when its role is below ``needed``."""
    if not await cache.configured():
        return None
    secret = bearer(header)
    who = await cache.identify(secret) if secret else None
    if who is None:
        raise UnauthorizedError(
            f"this endpoint needs a token with the role '{needed.value}' or above: send "
            "'Authorization: Bearer <token>' (`mlfactory tokens create NAME --role ROLE` makes one)"
        )
    if not who.role.allows(needed):
        raise ForbiddenError(
            f"{who.name} has the role '{who.role.value}', and this endpoint needs '{needed.value}' or above"
        )
    return who
