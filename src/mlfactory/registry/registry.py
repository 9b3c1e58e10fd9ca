"""Model versions, aliases with a full promotion history, rollback, and verified loading."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlfactory.entities import PRODUCTION, Event, GateResult, ModelVersion, VersionStatus
from mlfactory.errors import ConfigError, ConflictError, NotFoundError
from mlfactory.stores.artifacts import ArtifactStore
from mlfactory.stores.metadata import MetadataStore

if TYPE_CHECKING:
    from mlfactory.registry.loaded import LoadedModel

ALIAS_KINDS = ("alias.set", "alias.rollback", "alias.removed")
_ALIAS = re.compile(r"^[a-z][a-z0-9_\-]{0,63}$")
_REF = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+?)(?:@(?P<alias>[a-z][a-z0-9_\-]*)|[/:](?P<version>\d+))?$")


@dataclass(frozen=True)
class ModelRef:
    """``name@alias``, ``name/3`` (or ``name:3``), or a bare ``name`` meaning ``name@production``."""

    name: str
    alias: str | None = None
    version: int | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        m = _REF.match(text.strip())
        if not m:
            raise ConfigError(f"cannot read model reference '{text}'; write NAME@ALIAS, NAME/VERSION or NAME")
        version = m.group("version")
        if version is None and m.group("alias") is None:
            return cls(m.group("name"), PRODUCTION)
        return cls(m.group("name"), m.group("alias"), int(version) if version else None)


class Registry:
    """The registry over the metadata and artifact stores."""

    def __init__(self, metadata: MetadataStore, artifacts: ArtifactStore) -> None:
        self.metadata = metadata
        self.artifacts = artifacts

    def resolve(self, ref: str | ModelRef) -> ModelVersion:
        """The version a reference points at; NotFoundError naming the known aliases otherwise."""
        r = ModelRef.parse(ref) if isinstance(ref, str) else ref
        if r.version is not None:
            return self.metadata.get_model_version(r.name, r.version)
        aliases = self.metadata.get_aliases(r.name)
        version = aliases.get((r.name, r.alias or PRODUCTION))
        if version is None:
            self.metadata.list_model_versions(r.name)  # raises for an unknown model
            known = ", ".join(sorted(a for _, a in aliases)) or "none"
            raise NotFoundError(
                f"model '{r.name}' has no alias '{r.alias}' (aliases: {known}); "
                f"set one with `mlfactory models promote {r.name} VERSION --alias {r.alias}`"
            )
        return self.metadata.get_model_version(r.name, version)

    def load(self, ref: str | ModelRef | ModelVersion) -> LoadedModel:
        """Load a version's model after verifying its bytes and trusted types."""
        from mlfactory.registry.loaded import LoadedModel  # pandas: only commands that load a model pay
        from mlfactory.registry.packaging import load_model

        mv = ref if isinstance(ref, ModelVersion) else self.resolve(ref)
        trusted = list(mv.signature.trusted_types)
        estimator = load_model(self.artifacts, mv.artifact, trusted, mv.ref, mv.flavor)
        return LoadedModel(mv, estimator)

    def promote(
        self,
        name: str,
        version: int,
        *,
        alias: str = PRODUCTION,
        actor: str,
        reason: str = "",
        force: bool = False,
    ) -> Event:
        """Point ``alias`` at ``version``. A rejected version cannot take ``production`` without ``force``."""
        if not _ALIAS.match(alias):
            raise ConfigError(
                f"alias '{alias}' must be lowercase letters, digits, '-' or '_', starting with a letter"
            )

        def check(status: VersionStatus, gates: tuple[GateResult, ...]) -> dict[str, Any]:
            if status == VersionStatus.REJECTED and alias == PRODUCTION and not force:
                failed = [g.rule for g in gates if not g.passed]
                raise ConflictError(
                    f"{name}/{version} was rejected by its gates ({'; '.join(failed)}); it cannot take "
                    f"'{PRODUCTION}'. Pass --force to override (the override is recorded)"
                )
            return {"forced": True} if force and status == VersionStatus.REJECTED else {}

        # one transaction: the version is judged, the alias moved and the event written together. Setting
        # an alias does not depend on where it pointed: the move and its event record the old value
        return self.metadata.move_alias(
            name, alias, version, kind="alias.set", actor=actor, reason=reason, check=check
        )

    def _stack(self, name: str, alias: str) -> list[int]:
        stack: list[int] = []
        for e in self.metadata.list_events(model=name, kinds=ALIAS_KINDS):
            if e.payload.get("alias") != alias:
                continue
            if e.kind == "alias.set":
                stack.append(e.payload["to"])
            elif e.kind == "alias.rollback" and stack:
                stack.pop()
            elif e.kind == "alias.removed":
                stack.clear()
        return stack

    def rollback(self, name: str, *, alias: str = PRODUCTION, actor: str, reason: str = "") -> Event:
        """Move ``alias`` back to the version it held before its current one, in one step."""
        stack = self._stack(name, alias)
        if len(stack) < 2:
            self.metadata.list_model_versions(name)  # unknown model → NotFoundError
            raise ConflictError(f"alias '{alias}' of '{name}' has no earlier version to roll back to")
        return self.metadata.move_alias(
            name, alias, stack[-2], kind="alias.rollback", actor=actor, reason=reason, expect=stack[-1]
        )

    def remove_alias(self, name: str, alias: str, *, actor: str, reason: str = "") -> Event:
        current = self.metadata.get_aliases(name).get((name, alias))
        if current is None:
            raise NotFoundError(f"model '{name}' has no alias '{alias}'")
        return self.metadata.move_alias(
            name, alias, None, kind="alias.removed", actor=actor, reason=reason, expect=current
        )

    def history(self, name: str) -> list[Event]:
        """Every registration and alias move of a model, oldest first."""
        self.metadata.list_model_versions(name)
        return self.metadata.list_events(model=name, kinds=("model.registered", *ALIAS_KINDS))
