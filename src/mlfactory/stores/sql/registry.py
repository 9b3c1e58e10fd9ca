"""Model versions, numbered per name; each registration is an event in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Select, Text, bindparam, cast, exists, func, insert, select, update

from mlfactory.entities import Event, ModelVersion, VersionStatus
from mlfactory.errors import ConflictError, NotFoundError
from mlfactory.stores.metadata.registry import TIMELINE_KINDS, model_version
from mlfactory.stores.sql import schema as t
from mlfactory.stores.sql.base import Prepared, SqlBase, _aware, _event, json_set, now
from mlfactory.stores.sql.engine import _dumps, _loads, retry_on_conflict


def _version(m: Mapping[Any, Any], aliases: Iterable[str] = ()) -> ModelVersion:
    return model_version(m, _aware(m["created_at"]), tuple(aliases), _aware(m["archived_at"]))  # type: ignore[arg-type]


def _live(q: Select[Any], include_archived: bool) -> Select[Any]:
    """``q`` over the versions, without the archived ones unless they are asked for."""
    return q if include_archived else q.where(t.model_versions.c.archived_at.is_(None))


def storable(version: int) -> bool:
    """Whether a version number fits the column (a 32-bit integer): larger ones name no version, and must
    not reach the database, which would refuse them with an overflow instead of "not found"."""
    return 0 < version < 2**31


def _register(_: str) -> Any:
    """The insert of a model's next version (one more than its highest, 1 for the first), its number and its
    card's ``{version}`` filled in by the database, returning the number: one statement. Two registrations
    at once take the same number: the second insert collides and is retried (retry_on_conflict)."""
    v = t.model_versions.c
    number = func.coalesce(func.max(v.version), 0) + 1
    given = [
        c for c in t.model_versions.c if c.name not in ("version", "card", "archived_at", "archive_reason")
    ]
    card = func.replace(bindparam("card", type_=Text), "{version}", cast(number, Text))
    row = select(*(bindparam(c.name, type_=c.type) for c in given), number, card).where(
        v.name == bindparam("name")
    )
    return insert(t.model_versions).from_select([*given, v.version, v.card], row).returning(v.version)


_REGISTER = Prepared(_register)


def _as_stored(value: Any) -> Any:
    """A JSON column's value as the database gives it back (serialized and read again: tuples become lists,
    NumPy numbers plain ones); other values as they are."""
    return _loads(_dumps(value)) if isinstance(value, dict | list | tuple) else value


def unknown_model(c: Connection, name: str) -> str:
    """Why ``name`` names no model, listing the registered ones."""
    names = sorted({n for (n,) in c.execute(select(t.model_versions.c.name).distinct())})
    return f"no model named '{name}' (registered: {', '.join(names) or 'none yet; run `mlfactory train`'})"


def missing_version(c: Connection, name: str, version: int) -> NotFoundError:
    """The error for a version that is not stored: naming the model's versions, or the registered models
    when the name has none. Read only on that failure, so the reads that succeed never pay for it."""
    q = select(t.model_versions.c.version).where(t.model_versions.c.name == name)
    known = sorted(v for (v,) in c.execute(q))
    if not known:
        return NotFoundError(unknown_model(c, name))
    return NotFoundError(f"model '{name}' has no version {version} (versions: {known})")


class RegistryMixin(SqlBase):
    """Model versions, numbered per name; each registration is an event in the same transaction."""

    def create_model_version(
        self,
        name: str,
        *,
        status: VersionStatus,
        run_id: str | None,
        artifact: str,
        flavor: str,
        signature: dict[str, Any],
        metrics: dict[str, Any],
        gates: list[dict[str, Any]],
        profile: dict[str, Any],
        lineage: dict[str, Any],
        card: str,
        actor: str = "train",
    ) -> ModelVersion:
        values = dict(
            name=name,
            status=status.value,
            run_id=run_id,
            artifact=artifact,
            flavor=flavor,
            signature=signature,
            metrics=metrics,
            gates=gates,
            profile=profile,
            lineage=lineage,
            card=card,
        )
        failed = [g["metric"] for g in gates if not g.get("passed")]
        reason = f"failed gates: {', '.join(failed)}" if failed else "passed every gate"

        def attempt() -> ModelVersion:
            created = values | {"created_at": now()}
            with self._tx() as c:
                ((number,),) = _REGISTER.rows(c, created)  # the next number, taken in the insert
                payload = {"version": number, "status": status.value, "run": run_id}
                self._insert_event(c, "model.registered", actor, name, payload, reason)
            # the version as it was stored: its JSON as the database gives it back, with no read
            stored = {k: _as_stored(v) for k, v in created.items()}
            number_and_card = {"version": number, "card": card.replace("{version}", str(number))}
            return _version(stored | number_and_card | {"archived_at": None, "archive_reason": None})

        return retry_on_conflict(attempt)

    def _aliases_of(self, c: Connection, name: str) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for alias, version in c.execute(
            select(t.aliases.c.alias, t.aliases.c.version).where(t.aliases.c.name == name)
        ):
            out.setdefault(version, []).append(alias)
        return out

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        with self._read() as c:
            row = (
                c.execute(
                    select(t.model_versions).where(
                        t.model_versions.c.name == name, t.model_versions.c.version == version
                    )
                ).first()
                if storable(version)
                else None
            )
            if row is None:
                raise missing_version(c, name, version)
            return _version(row._mapping, self._aliases_of(c, name).get(version, []))

    def latest_model_version(self, name: str) -> ModelVersion | None:
        with self._read() as c:
            row = c.execute(
                select(t.model_versions)
                .where(t.model_versions.c.name == name)
                .order_by(t.model_versions.c.version.desc())
                .limit(1)
            ).first()
            return (
                None
                if row is None
                else _version(row._mapping, self._aliases_of(c, name).get(row.version, []))
            )

    def list_model_versions(self, name: str, *, include_archived: bool = False) -> list[ModelVersion]:
        v = t.model_versions.c
        q = _live(select(t.model_versions).where(v.name == name), include_archived).order_by(v.version)
        with self._read() as c:
            rows = c.execute(q).all()
            if not rows and not c.execute(select(exists().where(v.name == name))).scalar():
                raise NotFoundError(unknown_model(c, name))
            aliases = self._aliases_of(c, name)
            return [_version(r._mapping, aliases.get(r._mapping["version"], [])) for r in rows]

    def model_versions_page(
        self, name: str, *, offset: int = 0, limit: int = 25, include_archived: bool = False
    ) -> list[ModelVersion]:
        v = t.model_versions.c
        page = _live(select(t.model_versions).where(v.name == name), include_archived).order_by(
            v.version.desc()
        )
        with self._read() as c:
            rows = c.execute(page.offset(offset).limit(limit)).all()  # the primary key (name, version)
            if not rows and not c.execute(select(exists().where(v.name == name))).scalar():
                raise NotFoundError(unknown_model(c, name))
            aliases = self._aliases_of(c, name)
            return [_version(r._mapping, aliases.get(r._mapping["version"], [])) for r in rows]

    def model_timeline(self, name: str, *, offset: int = 0, limit: int = 20) -> list[Event]:
        e = t.events.c
        q = (
            select(t.events)
            .where(e.model == name, e.kind.in_(TIMELINE_KINDS))
            .order_by(e.time.desc(), e.id.desc())  # ix_events_model_time, read from its newest end
            .offset(offset)
            .limit(limit)
        )
        with self._read() as c:
            return [_event(r) for r in c.execute(q)]

    def list_model_names(self) -> list[str]:
        with self._read() as c:
            return sorted(n for (n,) in c.execute(select(t.model_versions.c.name).distinct()))

    def any_version_with_lineage(self) -> bool:
        v = t.model_versions.c
        with self._read() as c:
            return bool(
                c.execute(
                    select(exists().where(v.run_id.is_not(None), json_set(v.lineage, "dataset")))
                ).scalar()
            )

    # -- archive --------------------------------------------------------------------------------------------

    def _version_archive_states(self, c: Connection, name: str, versions: Sequence[int]) -> dict[int, Any]:
        """Each version's run and archive time; a NotFoundError naming the first that does not exist."""
        v = t.model_versions.c
        wanted = [n for n in dict.fromkeys(versions) if storable(n)]
        q = select(v.version, v.run_id, v.archived_at).where(v.name == name, v.version.in_(wanted))
        found = {row.version: row for row in c.execute(q)}
        missing = [n for n in versions if n not in found]
        if missing:
            raise missing_version(c, name, missing[0])
        return found

    def archive_model_versions(self, name: str, versions: Sequence[int], *, reason: str, actor: str) -> Event:
        v = t.model_versions.c
        with self._tx() as c:
            found = self._version_archive_states(c, name, versions)
            aliased = self._aliases_of(c, name)
            held = sorted(n for n in found if n in aliased)
            if held:
                ref = f"{name}/{held[0]}"
                raise ConflictError(
                    f"{ref} holds alias {', '.join(sorted(aliased[held[0]]))}; move the alias away before "
                    "archiving it"
                )
            fresh = sorted(n for n, row in found.items() if row.archived_at is None)
            if fresh:
                c.execute(
                    update(t.model_versions)
                    .where(v.name == name, v.version.in_(fresh))
                    .values(archived_at=now(), archive_reason=reason)
                )
            return self._insert_event(c, "model.archived", actor, name, {"versions": fresh}, reason)

    def restore_model_versions(
        self, name: str, versions: Sequence[int], *, actor: str, reason: str = ""
    ) -> Event:
        v, r = t.model_versions.c, t.runs.c
        with self._tx() as c:
            found = self._version_archive_states(c, name, versions)
            archived = sorted(n for n, row in found.items() if row.archived_at is not None)
            trained = {found[n].run_id for n in archived} - {None}
            archived_runs = select(r.id).where(r.id.in_(trained), r.archived_at.is_not(None))
            runs = sorted(c.execute(archived_runs).scalars()) if trained else []
            if archived:
                c.execute(
                    update(t.model_versions)
                    .where(v.name == name, v.version.in_(archived))
                    .values(archived_at=None, archive_reason=None)
                )
            if runs:
                c.execute(update(t.runs).where(r.id.in_(runs)).values(archived_at=None, archive_reason=None))
            payload = {"versions": archived, "runs": runs}
            return self._insert_event(c, "model.restored", actor, name, payload, reason)
