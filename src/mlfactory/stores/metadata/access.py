"""API tokens: a name, a role and the SHA-256 of the secret (the secret itself is never stored)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from mlfactory.entities import ApiToken, Event, Role


class AccessStore(ABC):
    """Named API tokens; creation and revocation are events, written atomically with the change."""

    @abstractmethod
    def add_token(self, name: str, role: Role, secret_sha256: str, *, actor: str) -> ApiToken:
        """Store a new token.

        Args:
            name: the token's name, unique forever.
            role: what it may do.
            secret_sha256: ``ApiToken.digest(secret)``.
            actor: who created it.

        Returns:
            The stored token (active).

        Raises:
            ConflictError: a token of this name exists or existed (names are never reused, so the audit log
                stays unambiguous).
            StoreUnavailableError: the store cannot be reached.

        Guarantees: the token and its ``token.created`` event (name and role, never the hash) are atomic.
        """

    @abstractmethod
    def list_tokens(self) -> list[ApiToken]:
        """Every token, active and revoked.

        Returns:
            The tokens, oldest first (never a secret or its hash).

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def revoke_token(self, name: str, *, actor: str, reason: str = "") -> Event:
        """Revoke an active token at once.

        Args:
            name: the token's name.
            actor: who revoked it.
            reason: why.

        Returns:
            The ``token.revoked`` event.

        Raises:
            NotFoundError: no active token has this name (unknown or revoked already).
            StoreUnavailableError: the store cannot be reached.

        Guarantees: the revocation and its event are atomic; of two concurrent revokers one gets NotFound.
        """

    @abstractmethod
    def active_tokens(self) -> dict[str, ApiToken]:
        """Every active token: what a server checks bearer tokens against.

        Returns:
            SHA-256 of the secret -> the token; revoked tokens are absent.

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """
