"""Prometheus metrics of one app, in its own registry (several apps in one process never collide).

With ``mlfactory serve --workers N`` every worker is its own process and a scrape reaches one of them.
The command then points ``PROMETHEUS_MULTIPROC_DIR`` at a folder shared by the workers: prometheus-client
keeps counters and histograms in files there, and each scrape sums every worker's (the state collectors
still describe the worker that answered, which serves the same routes as the others).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from mlfactory.serving import ServingRuntime
from mlfactory.stores.predictions import PredictionLog

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _StateCollector:
    """Reads the runtime and the prediction log at scrape time."""

    def __init__(self, runtime: ServingRuntime, log: PredictionLog | None) -> None:
        self.runtime = runtime
        self.log = log

    def collect(self) -> Any:
        loaded = GaugeMetricFamily(
            "mlfactory_model_routes", "versions taking live traffic", labels=["model", "version", "route"]
        )
        for name, table in self.runtime.tables.items():
            for r in table.routes:
                loaded.add_metric([name, str(r.served.number), r.name], 1)
            if table.shadow is not None:
                loaded.add_metric([name, str(table.shadow.number), "shadow"], 1)
        yield loaded
        failures = GaugeMetricFamily(
            "mlfactory_model_load_failures", "versions that failed to load", labels=["model_version"]
        )
        for ref in self.runtime.failures:
            failures.add_metric([ref], 1)
        yield failures
        yield GaugeMetricFamily(
            "mlfactory_ready", "1 when every served model is loaded", value=1 if self.runtime.ready() else 0
        )
        shadow = CounterMetricFamily("mlfactory_shadow", "shadow requests not run", labels=["outcome"])
        shadow.add_metric(["skipped"], self.runtime.shadow_skipped)
        shadow.add_metric(["failed"], self.runtime.shadow_failed)
        yield shadow
        if self.log is not None:
            stats = self.log.stats()
            rows = CounterMetricFamily(
                "mlfactory_prediction_log_rows", "prediction log rows", labels=["outcome"]
            )
            rows.add_metric(["written"], stats["written_rows"])
            rows.add_metric(["dropped"], stats["dropped_rows"])
            yield rows
            yield GaugeMetricFamily(
                "mlfactory_prediction_log_pending_rows",
                "rows held in memory, waiting for the writer (or for storage that refuses writes)",
                value=stats["pending_rows"],
            )
            yield CounterMetricFamily(
                "mlfactory_prediction_log_write_failures",
                "segment writes the log's storage refused (each is tried again)",
                value=stats["write_errors"],
            )
            yield GaugeMetricFamily(
                "mlfactory_prediction_log_failing",
                "1 while the log's storage refuses writes",
                value=stats["failing"],
            )


class ServerMetrics:
    """Requests, errors and latency per endpoint; predictions per model, version and route."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mlfactory_requests", "HTTP requests", ["endpoint", "status"], registry=self.registry
        )
        self.errors = Counter(
            "mlfactory_request_errors",
            "HTTP requests answered with 4xx or 5xx",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlfactory_request_latency_seconds",
            "time to answer",
            ["endpoint"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "mlfactory_predictions", "rows predicted", ["model", "version", "route"], registry=self.registry
        )
        self._children: dict[tuple[Any, ...], Any] = {}
        self._collectors: list[Any] = []

    def add_collector(self, collector: Any) -> None:
        """A collector that reads state at scrape time (never summed across workers)."""
        self.registry.register(collector)
        self._collectors.append(collector)

    def watch(self, runtime: ServingRuntime, log: PredictionLog | None) -> None:
        self.add_collector(_StateCollector(runtime, log))
        runtime.observers.append(self.observe_prediction)

    def observe_prediction(self, model: str, version: int, route: str, rows: int) -> None:
        key = ("p", model, version, route)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.predictions.labels(model, str(version), route)
        child.inc(rows)

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        key = ("r", endpoint, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(endpoint, str(status)),
                self.latency.labels(endpoint),
                self.errors.labels(endpoint, str(status)) if status >= 400 else None,
            )
        children[0].inc()
        children[1].observe(seconds)
        if children[2] is not None:
            children[2].inc()

    def render(self) -> bytes:
        if not os.environ.get(MULTIPROC_ENV):
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged)  # type: ignore[no-untyped-call]  # counters and histograms of every worker, summed
        for collector in self._collectors:
            merged.register(collector)
        return generate_latest(merged)


class MetricsMiddleware:
    """Pure ASGI middleware: counts every HTTP request by route template and status, and times it."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(endpoint, status, time.perf_counter() - started)
