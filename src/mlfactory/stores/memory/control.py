"""The controller's rollouts, leases and pauses, and the API tokens, in memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from mlfactory.entities import ApiToken, Event, Role, Rollout
from mlfactory.errors import ConflictError, NotFoundError
from mlfactory.stores.memory.base import MemoryBase, copied, now

IDLE = "idle"


class MemoryControl(MemoryBase):
    """Rollouts by compare-and-set on their revision, per-model leases, pauses; and API tokens."""

    def _ensure(self, model: str) -> Rollout:
        # callers hold the lock
        if model not in self._rollouts:
            self._rollouts[model] = Rollout(model, IDLE, 0, None, None, {}, False, now())
        return self._rollouts[model]

    def get_rollout(self, model: str) -> Rollout:
        with self._lock:
            stored = self._rollouts.get(model)
            return copied(stored) if stored else Rollout(model, IDLE, 0, None, None, {}, False, now())

    def list_rollouts(self) -> list[Rollout]:
        with self._lock:
            return copied([self._rollouts[m] for m in sorted(self._rollouts)])

    def save_rollout(
        self,
        model: str,
        *,
        expect_revision: int,
        state: str,
        challenger: int | None,
        champion: int | None,
        data: dict[str, Any],
        event: str,
        actor: str,
        reason: str,
        payload: dict[str, Any] | None = None,
    ) -> Rollout:
        with self._lock:
            current = self._ensure(model)
            if current.revision != expect_revision:
                raise ConflictError(
                    f"rollout of '{model}' changed meanwhile (expected revision {expect_revision}, "
                    f"read {current.revision}); another controller acted first"
                )
            moved = replace(
                current,
                state=state,
                revision=current.revision + 1,
                challenger=challenger,
                champion=champion,
                data=copied(data),
                updated_at=now(),
            )
            self._rollouts[model] = moved
            body = {
                "from_state": current.state,
                "to_state": state,
                "challenger": challenger,
                "champion": champion,
                **(payload or {}),
            }
            self._insert_event(event, actor, model, body, reason)
            return copied(moved)

    def acquire_lease(self, model: str, owner: str, seconds: float, *, take_over: str | None = None) -> bool:
        at = now()
        with self._lock:
            current = self._ensure(model)
            holder, until = current.lease_owner, current.lease_until
            free = holder is None or holder == owner or (until is not None and until < at)
            if not (free or (take_over and holder == take_over)):
                return False
            self._rollouts[model] = replace(
                current, lease_owner=owner, lease_until=at + timedelta(seconds=seconds)
            )
            return True

    def release_lease(self, model: str, owner: str) -> None:
        with self._lock:
            current = self._rollouts.get(model)
            if current is not None and current.lease_owner == owner:
                # the end is kept: when a controller last acted
                self._rollouts[model] = replace(current, lease_owner=None, lease_until=now())

    def set_paused(self, model: str, paused: bool, *, actor: str, reason: str = "") -> Event:
        with self._lock:
            self._rollouts[model] = replace(self._ensure(model), paused=paused)
            kind = "controller.paused" if paused else "controller.resumed"
            return self._insert_event(kind, actor, model, {}, reason)

    # -- tokens -------------------------------------------------------------------------------------------

    def add_token(self, name: str, role: Role, secret_sha256: str, *, actor: str) -> ApiToken:
        with self._lock:
            if name in self._tokens:
                raise ConflictError(
                    f"a token named '{name}' exists (or existed: names are never reused, so the audit log "
                    "stays unambiguous); choose another name"
                )
            token = ApiToken(name=name, role=role, created_at=now(), created_by=actor)
            self._tokens[name] = (token, secret_sha256)
            self._insert_event("token.created", actor, None, {"name": name, "role": role.value}, "")
            return token

    def list_tokens(self) -> list[ApiToken]:
        with self._lock:
            return [token for token, _ in self._tokens.values()]

    def revoke_token(self, name: str, *, actor: str, reason: str = "") -> Event:
        with self._lock:
            stored = self._tokens.get(name)
            if stored is None or not stored[0].active:
                raise NotFoundError(f"no active token named '{name}'; `mlfactory tokens list` shows them")
            self._tokens[name] = (replace(stored[0], revoked_at=now()), stored[1])
            return self._insert_event("token.revoked", actor, None, {"name": name}, reason)

    def active_tokens(self) -> dict[str, ApiToken]:
        with self._lock:
            return {sha: token for token, sha in self._tokens.values() if token.active}
