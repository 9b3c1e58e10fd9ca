"""API tokens: names, roles and the SHA-256 of each secret; creation and revocation are events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, insert, select, update

from mlfactory.entities import ApiToken, Event, Role
from mlfactory.errors import ConflictError, NotFoundError
from mlfactory.stores.sql import schema as t
from mlfactory.stores.sql.base import SqlBase, _aware, now


def _token(row: Row[Any]) -> ApiToken:
    m = row._mapping
    return ApiToken(
        name=m["name"],
        role=Role(m["role"]),
        created_at=_aware(m["created_at"]),  # type: ignore[arg-type]
        created_by=m["created_by"],
        revoked_at=_aware(m["revoked_at"]),
    )


class TokensMixin(SqlBase):
    """API tokens."""

    def add_token(self, name: str, role: Role, secret_sha256: str, *, actor: str) -> ApiToken:
        with self._tx() as c:
            if c.execute(select(t.api_tokens.c.name).where(t.api_tokens.c.name == name)).first():
                raise ConflictError(
                    f"a token named '{name}' exists (or existed: names are never reused, so the audit log "
                    "stays unambiguous); choose another name"
                )
            values = dict(name=name, role=role.value, secret_sha256=secret_sha256, created_at=now())
            c.execute(insert(t.api_tokens).values(**values, created_by=actor))
            self._insert_event(c, "token.created", actor, None, {"name": name, "role": role.value}, "")
            return _token(c.execute(select(t.api_tokens).where(t.api_tokens.c.name == name)).one())

    def list_tokens(self) -> list[ApiToken]:
        with self._read() as c:
            return [_token(r) for r in c.execute(select(t.api_tokens).order_by(t.api_tokens.c.created_at))]

    def revoke_token(self, name: str, *, actor: str, reason: str = "") -> Event:
        with self._tx() as c:
            done = c.execute(
                update(t.api_tokens)
                .where(t.api_tokens.c.name == name, t.api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now())
            )
            if done.rowcount != 1:
                raise NotFoundError(f"no active token named '{name}'; `mlfactory tokens list` shows them")
            return self._insert_event(c, "token.revoked", actor, None, {"name": name}, reason)

    def active_tokens(self) -> dict[str, ApiToken]:
        with self._read() as c:
            rows = c.execute(select(t.api_tokens).where(t.api_tokens.c.revoked_at.is_(None))).all()
        return {r._mapping["secret_sha256"]: _token(r) for r in rows}
