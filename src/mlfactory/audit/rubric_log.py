"""The rubric's reads of the prediction log, each one bounded DuckDB query: NaN and infinity in the newest
rows (counted in the database, where a null input stays apart from a NaN one), and latency per version."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlfactory.audit.rubric_common import LOG_ROWS, Facts
from mlfactory.stores.predictions.layout import INPUT_PREFIX

if TYPE_CHECKING:
    import duckdb

    from mlfactory.stores.predictions.tree import SegmentRef

FLOATS = ("FLOAT", "DOUBLE")


@dataclass(frozen=True)
class NonFinite:
    """NaN and infinity in the newest logged rows: rows read, rows and per-column counts found, an example."""

    rows: int = 0
    total_bad: int = 0
    bad: dict[str, int] = field(default_factory=dict)
    example: str | None = None


def _checks(columns: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Column -> a SQL test that is true when the row's value there is NaN or infinite."""
    tests = {}
    for name, kind in columns:
        quoted = '"' + name.replace('"', '""') + '"'
        if kind in FLOATS and (name == "prediction" or name.startswith(INPUT_PREFIX)):
            tests[name] = f"coalesce(isnan({quoted}) OR isinf({quoted}), false)"
        elif name == "probabilities" and kind.removesuffix("[]") in FLOATS:
            tests[name] = f"coalesce(len(list_filter({quoted}, lambda p: isnan(p) OR isinf(p))) > 0, false)"
    return tests


def nonfinite(facts: Facts, model: str) -> NonFinite:
    """Count NaN and infinity in the newest :data:`LOG_ROWS` rows the model logged since
    ``facts.log_since``."""
    reader = facts.project.predictions

    def run(con: duckdb.DuckDBPyConnection, files: list[SegmentRef]) -> NonFinite:
        source = reader.source(con, files)
        described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        tests = _checks([(str(r[0]), str(r[1])) for r in described])
        any_bad = " OR ".join(tests.values()) or "false"
        counts = ", ".join(f"count(*) FILTER (WHERE {t})" for t in tests.values())
        # the cut-off time of the newest rows first, from the time column alone, so the wide columns are
        # read only for those rows (row groups older than the cut-off are skipped by their statistics)
        newest = (
            f"SELECT time FROM {source} WHERE model = ? AND time >= ? ORDER BY time DESC LIMIT {LOG_ROWS}"
        )
        cutoff = con.execute(f"SELECT min(time) FROM ({newest})", [model, facts.log_since]).fetchone()
        sql = (
            f"SELECT count(*), count(*) FILTER (WHERE {any_bad}), min(request_id) FILTER (WHERE {any_bad})"
            f"{', ' + counts if counts else ''} FROM {source} WHERE model = ? AND time >= ?"
        )
        row = con.execute(sql, [model, cutoff[0] if cutoff and cutoff[0] else facts.log_since]).fetchone()
        assert row is not None  # an aggregate answers one row
        per = {name: int(n) for name, n in zip(tests, row[3:], strict=True) if n}
        return NonFinite(int(row[0]), int(row[1]), per, row[2])

    return reader.read(model, facts.log_since, None, run, NonFinite())


def latency_by_version(facts: Facts, model: str) -> list[tuple[int, tuple[float | None, float | None]]]:
    """(version, (p50, p99) in ms) over the log's window, newest version first; each version's figures from
    the route that answered most of its rows."""
    groups = facts.project.predictions.traffic(facts.log_since, facts.now, model=model)
    best: dict[int, tuple[int, tuple[float | None, float | None]]] = {}
    for g in groups:
        if g.rows and g.rows > best.get(g.version, (0, (None, None)))[0]:
            best[g.version] = (g.rows, (g.latencies.get("latency_p50_ms"), g.latencies.get("latency_p99_ms")))
    return [(v, best[v][1]) for v in sorted(best, reverse=True)]
