"""Dataset versions and model versions in memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from mlfactory.entities import DatasetVersion, Event, ModelVersion, VersionStatus
from mlfactory.errors import ConflictError, NotFoundError
from mlfactory.stores.memory.base import MemoryBase, copied, json_set, now
from mlfactory.stores.metadata.registry import TIMELINE_KINDS, model_version


class MemoryCatalog(MemoryBase):
    """Dataset versions by source and model versions by name."""

    # -- datasets -----------------------------------------------------------------------------------------

    def add_dataset(
        self,
        *,
        source: str,
        content_hash: str,
        artifact: str,
        n_rows: int,
        schema: dict[str, Any],
        profile: dict[str, Any],
        validation: dict[str, Any],
        valid: bool,
    ) -> tuple[DatasetVersion, bool]:
        with self._lock:
            same = [
                d for d in self._datasets.values() if (d.source, d.content_hash) == (source, content_hash)
            ]
            if same:
                return copied(same[0]), False
            version = 1 + max((d.version for d in self._datasets.values() if d.source == source), default=0)
            dataset = DatasetVersion(
                id=f"{source}-{content_hash[:12]}",
                source=source,
                version=version,
                content_hash=content_hash,
                artifact=artifact,
                n_rows=n_rows,
                schema=copied(schema),
                profile=copied(profile),
                validation=copied(validation),
                valid=valid,
                created_at=now(),
            )
            self._datasets[dataset.id] = dataset
            self._insert_event(
                "dataset.ingested",
                "ingest",
                None,
                {"dataset": dataset.id, "source": source, "version": version, "valid": valid, "rows": n_rows},
                "" if valid else "; ".join(validation.get("reasons", [])),
            )
            return copied(dataset), True

    def get_dataset(self, dataset_id: str) -> DatasetVersion:
        with self._lock:
            dataset = self._datasets.get(dataset_id)
            if dataset is None:
                raise NotFoundError(
                    f"no dataset version '{dataset_id}'; `mlfactory datasets list` shows them"
                )
            return copied(dataset)

    def list_datasets(self, source: str | None = None) -> list[DatasetVersion]:
        with self._lock:
            found = [d for d in self._datasets.values() if source is None or d.source == source]
            return copied(sorted(found, key=lambda d: (d.source, d.version)))

    # -- model versions -----------------------------------------------------------------------------------

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
        with self._lock:
            versions = self._versions.setdefault(name, [])
            number = len(versions) + 1
            row = {
                "name": name,
                "version": number,
                "status": status.value,
                "run_id": run_id,
                "artifact": artifact,
                "flavor": flavor,
                "signature": copied(signature),
                "metrics": copied(metrics),
                "gates": copied(gates),
                "profile": copied(profile),
                "lineage": copied(lineage),
                "card": card.replace("{version}", str(number)),
                "created_at": now(),
                "archived_at": None,
                "archive_reason": None,
            }
            versions.append(row)
            failed = [g["metric"] for g in gates if not g.get("passed")]
            self._insert_event(
                "model.registered",
                actor,
                name,
                {"version": number, "status": status.value, "run": run_id},
                f"failed gates: {', '.join(failed)}" if failed else "passed every gate",
            )
            return self._with_aliases(row, aliases=False)

    def _with_aliases(self, row: dict[str, Any], *, aliases: bool = True) -> ModelVersion:
        """The stored row as a version, read back as the SQL stores read theirs (so the same JSON makes the
        same records); with the aliases pointing at it unless ``aliases`` is False."""
        named = [a for (n, a), v in self._aliases.items() if (n, v) == (row["name"], row["version"])]
        return model_version(copied(row), row["created_at"], named if aliases else (), row["archived_at"])

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        with self._lock:
            if not self._has_version(name, version):
                raise self._missing_version(name, version)
            return self._with_aliases(self._versions[name][version - 1])

    def list_model_versions(self, name: str, *, include_archived: bool = False) -> list[ModelVersion]:
        with self._lock:
            versions = self._versions.get(name, [])
            if not versions:
                raise NotFoundError(self._unknown_model(name))
            return [self._with_aliases(v) for v in versions if include_archived or v["archived_at"] is None]

    def latest_model_version(self, name: str) -> ModelVersion | None:
        with self._lock:
            versions = self._versions.get(name, [])
            return self._with_aliases(versions[-1]) if versions else None

    def model_versions_page(
        self, name: str, *, offset: int = 0, limit: int = 25, include_archived: bool = False
    ) -> list[ModelVersion]:
        with self._lock:
            versions = self._versions.get(name, [])
            if not versions:
                raise NotFoundError(self._unknown_model(name))
            shown = [v for v in versions[::-1] if include_archived or v["archived_at"] is None]
            newest = shown[offset : offset + limit]
            return [self._with_aliases(v) for v in newest]

    def model_timeline(self, name: str, *, offset: int = 0, limit: int = 20) -> list[Event]:
        with self._lock:
            timeline = [e for e in self._events if e.model == name and e.kind in TIMELINE_KINDS]
            timeline.sort(key=lambda e: (e.time, e.id), reverse=True)
            return copied(timeline[offset : offset + limit])

    def list_model_names(self) -> list[str]:
        with self._lock:
            return sorted(n for n, vs in self._versions.items() if vs)

    def any_version_with_lineage(self) -> bool:
        with self._lock:
            return any(
                v["run_id"] is not None and json_set(v["lineage"], "dataset")
                for vs in self._versions.values()
                for v in vs
            )

    # -- archive --------------------------------------------------------------------------------------------

    def _stored_versions(self, name: str, versions: Sequence[int]) -> list[dict[str, Any]]:
        """The stored rows of these versions (callers hold the lock); a NotFoundError naming the first
        missing."""
        stored = self._versions.get(name, [])
        if not stored:
            raise NotFoundError(self._unknown_model(name))
        missing = [n for n in versions if not self._has_version(name, n)]
        if missing:
            known = [v["version"] for v in stored]
            raise NotFoundError(f"model '{name}' has no version {missing[0]} (versions: {known})")
        return [stored[n - 1] for n in sorted(set(versions))]

    def archive_model_versions(self, name: str, versions: Sequence[int], *, reason: str, actor: str) -> Event:
        with self._lock:
            rows = self._stored_versions(name, versions)
            for row in rows:
                held = sorted(a for (n, a), v in self._aliases.items() if (n, v) == (name, row["version"]))
                if held:
                    raise ConflictError(
                        f"{name}/{row['version']} holds alias {', '.join(held)}; move the alias away before "
                        "archiving it"
                    )
            fresh = [row for row in rows if row["archived_at"] is None]
            for row in fresh:
                row["archived_at"], row["archive_reason"] = now(), reason
            numbers = [row["version"] for row in fresh]
            return self._insert_event("model.archived", actor, name, {"versions": numbers}, reason)

    def restore_model_versions(
        self, name: str, versions: Sequence[int], *, actor: str, reason: str = ""
    ) -> Event:
        with self._lock:
            archived = [
                row for row in self._stored_versions(name, versions) if row["archived_at"] is not None
            ]
            runs = []
            for row in archived:
                row["archived_at"] = row["archive_reason"] = None
                run = self._runs.get(row["run_id"] or "")
                if run is not None and run.run.archived_at is not None:
                    run.run = replace(run.run, archived_at=None, archive_reason=None)
                    runs.append(run.run.id)
            payload = {"versions": [row["version"] for row in archived], "runs": sorted(runs)}
            return self._insert_event("model.restored", actor, name, payload, reason)
