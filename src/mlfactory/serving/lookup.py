"""Online features for served versions that declare a feature service.

A request to such a version may carry only the entity keys and the request-time inputs.
:class:`OnlineFeatures` looks the service's features up for every row of the request in one batched read,
merges them into the payload (a value the request carries wins, so a caller can pin one), and returns each
row's status
(``present``, ``not_found``, ``stale``). The model's policy decides what a missing row means: ``reject``
answers 422 naming the rows and keys, ``defaults`` uses the view's declared defaults. The policy comes from
the project file when the model is declared there (so changing it needs no retraining), else from the
version's signature.

The store is opened once, when the server starts; a store that cannot be reached is retried at most once per
``retry_interval`` seconds, every request meanwhile fails with a 503 naming the URL, and :meth:`check`
(behind ``/readyz``) reports it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from mlfactory.config import LoadedConfig
from mlfactory.errors import MLFactoryError, StoreUnavailableError, ValidationError
from mlfactory.features.enrich import lookup
from mlfactory.features.online.base import OnlineStore, open_online_store
from mlfactory.features.spec import ServiceSpec
from mlfactory.inputs import Columns, Payload, Records

log = logging.getLogger("mlfactory.serving")
Opener = Callable[[], OnlineStore]


class OnlineFeatures:
    """The server's handle on the online feature store.

    Args:
        url: the online store's URL (for messages; ``opener`` connects).
        opener: opens the store (raises StoreUnavailableError when it cannot).
        policies: per model, the project file's ``on_missing_features`` (overrides the signature's).
        retry_interval: seconds between attempts to open a store that could not be reached.
    """

    def __init__(
        self,
        url: str,
        opener: Opener,
        *,
        policies: Mapping[str, str] | None = None,
        retry_interval: float = 1.0,
    ) -> None:
        self.url = _masked(url)
        self._opener = opener
        self.policies = dict(policies or {})
        self.retry_interval = retry_interval
        self._store: OnlineStore | None = None
        self._error: str | None = None
        self._next_try = 0.0
        self._lock = threading.Lock()

    @classmethod
    def for_url(
        cls,
        url: str,
        *,
        namespace: str = "",
        root: Path | None = None,
        policies: Mapping[str, str] | None = None,
    ) -> OnlineFeatures:
        """Features from the store at ``url`` (``stores.online``), namespaced like the feature store's."""
        return cls(url, lambda: open_online_store(url, namespace=namespace, root=root), policies=policies)

    # -- the connection ---------------------------------------------------------------------------------

    def open(self) -> OnlineStore:
        """The open store; opens it (at most once per ``retry_interval`` while it cannot be reached)."""
        store = self._store
        if store is not None:
            return store
        with self._lock:
            if self._store is not None:
                return self._store
            now = time.monotonic()
            if self._error is not None and now < self._next_try:
                raise StoreUnavailableError(self._error)
            try:
                self._store = self._opener()
            except MLFactoryError as exc:
                self._error = self._unavailable(exc)
                self._next_try = now + self.retry_interval
                raise StoreUnavailableError(self._error) from None
            self._error = None
            return self._store

    def _unavailable(self, exc: Exception) -> str:
        if isinstance(exc, StoreUnavailableError):  # the store's own message names its (masked) URL
            return str(exc)
        return f"online store {self.url} cannot be used: {exc}"

    def check(self) -> dict[str, Any]:
        """Whether the store answers now (pings it): ``{"url", "ok", "error"}``."""
        try:
            self.open().ping()
        except MLFactoryError as exc:
            self._error = self._unavailable(exc)
            return {"url": self.url, "ok": False, "error": self._error}
        self._error = None
        return {"url": self.url, "ok": True, "error": None}

    def close(self) -> None:
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()

    # -- lookups ----------------------------------------------------------------------------------------

    def policy(self, model: str, spec: ServiceSpec) -> str:
        """``reject`` or ``defaults`` for a model: the project file's, else the version's."""
        return self.policies.get(model) or spec.on_missing

    def complete(self, model: str, spec: ServiceSpec, payload: Payload, n: int) -> tuple[Payload, list[str]]:
        """The payload with the service's features merged in, and each row's status (one batched read).

        Raises:
            ValidationError: an entity key is missing, or (policy ``reject``) a row's entity is unknown or
                stale in the online store.
            StoreUnavailableError: the online store cannot be reached (names its URL).
        """
        keys = {k: _field(payload, k, n) for k in spec.join_keys}
        found = lookup(spec, self.open(), keys, n, on_missing=self.policy(model, spec))
        return _merge(payload, found.columns), found.statuses


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _field(payload: Payload, name: str, n: int) -> list[Any]:
    """One column of a payload, or a ValidationError saying the entity key is needed."""
    if isinstance(payload, Records):
        values = []
        for i, row in enumerate(payload.rows):
            if not isinstance(row, dict) or name not in row:
                raise ValidationError(
                    f"row {i} lacks the entity key '{name}' that this model's feature service looks its "
                    "features up by; add it to every row",
                    [f"row {i}: missing '{name}'"],
                )
            values.append(row[name])
        return values
    if isinstance(payload, Columns):
        col = payload.data.get(name)
        if col is None:
            raise ValidationError(
                f"missing column '{name}': this model's feature service looks its features up by it; send it "
                "with every request",
                [f"missing column '{name}'"],
            )
        return list(col) if isinstance(col, list | np.ndarray) else [col] * n
    if payload.names is None or name not in payload.names:
        raise ValidationError(
            f"this model looks its features up by '{name}'; send rows with column names (records, columns, "
            "or split rows with 'columns') that include it"
        )
    j = payload.names.index(name)
    return [r[j] for r in payload.rows]


def _merge(payload: Payload, features: dict[str, list[Any]]) -> Payload:
    """The payload with feature columns added; a value the request carries wins."""
    if isinstance(payload, Records):
        merged = []
        for i, row in enumerate(payload.rows):
            full = {f: vals[i] for f, vals in features.items()}
            full.update(row)
            merged.append(full)
        return Records(merged)
    if isinstance(payload, Columns):
        return Columns({**features, **payload.data}, payload.strings_are_numbers)
    assert payload.names is not None  # _field refused unnamed rows
    rows = payload.rows
    data: dict[str, Any] = dict(features)
    for j, name in enumerate(payload.names):
        data[name] = rows[:, j] if isinstance(rows, np.ndarray) else [r[j] for r in rows]
    return Columns(data, payload.strings_are_numbers)


def online_features(loaded: LoadedConfig) -> OnlineFeatures:
    """The server's online features for a project: ``stores.online``, namespaced by the project's name, with
    each declared model's ``on_missing_features``. Opened now when a model declares a feature service (a
    store that cannot be reached is logged and retried on use), lazily otherwise."""
    models = loaded.config.models
    features = OnlineFeatures.for_url(
        loaded.online_url(),
        namespace=loaded.config.name,
        policies={name: m.on_missing_features for name, m in models.items()},
    )
    if any(m.feature_service for m in models.values()):
        try:
            features.open()
        except StoreUnavailableError as exc:
            log.error("%s; models that look features up answer 503 until it is back", exc)
    return features
