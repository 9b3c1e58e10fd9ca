"""Routing live traffic: canary, A/B split and shadow, every change an event (see :mod:`mlfactory.serving`).

Servers pick a change up within their ``server.reload_interval``; the routing rules themselves (which
versions may take traffic, what a canary needs) live in :mod:`mlfactory.serving.policy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlfactory.project.base import ProjectState

if TYPE_CHECKING:
    from mlfactory.entities import Event


class DeployMethods(ProjectState):
    """The Project's routing methods."""

    def deploy_canary(
        self,
        name: str,
        version: int,
        *,
        weight: float,
        key: str | None = None,
        reason: str = "",
        force: bool = False,
        actor: str | None = None,
    ) -> Event:
        """Send ``weight`` percent of ``name``'s rows to ``version``; the rest stay on ``production``.

        Args:
            name: the model.
            version: the canary version.
            weight: percent of rows, in (0, 100].
            key: a request field that keeps each user on one side (random per row when None).
            reason: why, for the audit log.
            force: let a version its gates rejected take traffic (recorded).
            actor: who asks (default: the project's actor).

        Raises:
            NotFoundError: no such model or version.
            ConflictError: a rejected version without ``force``, no production alias, or an A/B split.
        """
        from mlfactory.serving import deploy_canary

        return deploy_canary(
            self.metadata,
            name,
            version,
            weight=weight,
            key=key,
            actor=self._who(actor),
            reason=reason,
            force=force,
        )

    def deploy_ab(
        self,
        name: str,
        variants: str | Sequence[tuple[int, float]],
        *,
        key: str,
        reason: str = "",
        force: bool = False,
        actor: str | None = None,
    ) -> Event:
        """Split all of ``name``'s traffic between versions by weight, sticky by the request field ``key``.

        Args:
            name: the model.
            variants: (version, weight percent) pairs summing to 100, or their text ``6:50,7:50``.
            key: the request field that keeps each user on one variant.
            reason: why, for the audit log.
            force: let versions their gates rejected take traffic (recorded).
            actor: who asks (default: the project's actor).

        Raises:
            ConfigError: the variants' text does not parse.
            NotFoundError: no such model or version.
            ConflictError: a rejected version without ``force``, or a canary in place.
        """
        from mlfactory.serving import deploy_ab, parse_variants

        pairs = parse_variants(variants) if isinstance(variants, str) else variants
        return deploy_ab(
            self.metadata, name, pairs, key=key, actor=self._who(actor), reason=reason, force=force
        )

    def deploy_shadow(
        self, name: str, version: int | None, *, reason: str = "", actor: str | None = None
    ) -> Event:
        """Give ``version`` a copy of ``name``'s traffic, its answers logged and never returned (None stops
        the shadow). A rejected version may shadow.

        Raises:
            NotFoundError: no such model or version.
        """
        from mlfactory.serving import deploy_shadow

        return deploy_shadow(self.metadata, name, version, actor=self._who(actor), reason=reason)

    def deploy_clear(self, name: str, *, reason: str = "", actor: str | None = None) -> Event:
        """Remove canary, A/B split and shadow: ``production`` takes all traffic again.

        Raises:
            NotFoundError: no such model, or it has no routing policy.
        """
        from mlfactory.serving import deploy_clear

        return deploy_clear(self.metadata, name, actor=self._who(actor), reason=reason)

    def routing(self, name: str) -> dict[str, Any]:
        """A model's aliases, routing policy and the share of traffic each version gets: keys ``model``,
        ``aliases``, ``policy``, ``traffic_percent`` and ``shadow`` (what ``GET /v1/admin/routing/NAME``
        answers).

        Raises:
            NotFoundError: no such model.
        """
        from mlfactory.serving import deploy_status

        return deploy_status(self.metadata, name)
