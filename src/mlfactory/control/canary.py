"""Canary analysis: challenger against champion on the same live traffic, with tests and minimum samples."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlfactory.config import RolloutConfig
from mlfactory.control.stats import distribution_shift, hits, worse_proportion

Decision = Literal["promote", "rollback", "wait", "inconclusive"]
QUALITY = frozenset({"accuracy"})  # metrics judged on labelled rows
MIN_LABELLED = 30  # labelled rows per side before accuracy is compared at all


@dataclass(frozen=True)
class Check:
    metric: str
    challenger: float | None
    champion: float | None
    regression: float | None
    p_value: float | None
    status: Literal["ok", "regressed", "insufficient"]
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str
    checks: list[Check] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reason": self.reason,
            "rows": self.rows,
            "checks": [c.to_dict() for c in self.checks],
        }


def _accuracy(frame: pd.DataFrame, classes: list[Any] | None) -> tuple[int, int]:
    labelled = frame[frame["label"].notna()] if "label" in frame else frame.iloc[0:0]
    if labelled.empty:
        return 0, 0
    return int(hits(labelled["prediction"], labelled["label"], classes).sum()), len(labelled)


def _check(
    metric: str,
    limit: float,
    alpha: float,
    chal: pd.DataFrame,
    champ: pd.DataFrame,
    errors: dict[str, tuple[int, int]],
    classes: list[Any] | None,
) -> Check:
    if metric == "accuracy":
        hc, nc = _accuracy(chal, classes)
        hp, np_ = _accuracy(champ, classes)
        if min(nc, np_) < MIN_LABELLED:
            return Check(
                metric,
                None,
                None,
                None,
                None,
                "insufficient",
                f"{nc} labelled canary rows and {np_} labelled production rows; need {MIN_LABELLED} each",
            )
        drop, p = worse_proportion(hc, nc, hp, np_)
        bad = drop > limit and p < alpha
        return Check(
            metric,
            hc / nc,
            hp / np_,
            drop,
            p,
            "regressed" if bad else "ok",
            f"accuracy {hc / nc:.3f} vs {hp / np_:.3f} (drop {drop:+.3f}, one-sided p={p:.3g}, "
            f"allowed {limit})",
        )
    if metric == "error_rate":
        ec, nc = errors.get("challenger", (0, len(chal)))
        ep, np_ = errors.get("champion", (0, len(champ)))
        rise, p = worse_proportion(nc - ec, nc, np_ - ep, np_)
        bad = rise > limit and p < alpha
        return Check(
            metric,
            ec / max(nc, 1),
            ep / max(np_, 1),
            rise,
            p,
            "regressed" if bad else "ok",
            f"error rate {ec}/{nc} vs {ep}/{np_} (p={p:.3g}, allowed rise {limit})",
        )
    if metric == "latency_p95_ms":
        if chal.empty or champ.empty:
            return Check(metric, None, None, None, None, "insufficient", "no rows yet")
        c95 = float(np.percentile(chal["latency_ms"], 95))
        p95 = float(np.percentile(champ["latency_ms"], 95))
        rise = c95 - p95
        return Check(
            metric,
            c95,
            p95,
            rise,
            None,
            "regressed" if rise > limit else "ok",
            f"p95 latency {c95:.1f} ms vs {p95:.1f} ms (allowed rise {limit} ms)",
        )
    js, p = distribution_shift(chal["prediction"].tolist(), champ["prediction"].tolist())
    bad = js > limit and p < alpha
    return Check(
        metric,
        js,
        0.0,
        js,
        p,
        "regressed" if bad else "ok",
        f"prediction distribution Jensen–Shannon distance {js:.3f} (p={p:.3g}, allowed {limit})",
    )


def analyze_canary(
    challenger: pd.DataFrame,
    champion: pd.DataFrame,
    policy: RolloutConfig,
    *,
    elapsed_s: float,
    errors: dict[str, tuple[int, int]] | None = None,
    classes: list[Any] | None = None,
) -> Verdict:
    """Decide a canary from logged rows of both versions in the same window (with ``label`` joined in).

    Roll back at once on a significant regression; promote only when the minimum rows and duration are
    reached and every compared metric is ``ok``; otherwise wait, and say ``inconclusive`` once the canary
    has run longer than ``max_canary_duration`` without the evidence (the policy's
    ``canary_inconclusive`` then decides).
    """
    errors = errors or {}
    rows = {"challenger": len(challenger), "champion": len(champion)}
    checks = [
        _check(c.metric, c.max_regression, policy.significance, challenger, champion, errors, classes)
        for c in policy.compare
    ]
    regressed = [c for c in checks if c.status == "regressed"]
    if regressed:
        return Verdict("rollback", "; ".join(c.detail for c in regressed), checks, rows)
    waiting = []
    if len(challenger) < policy.min_canary_rows:
        waiting.append(f"{len(challenger)}/{policy.min_canary_rows} canary rows")
    if elapsed_s < policy.min_canary_duration:
        waiting.append(f"{elapsed_s:.0f}/{policy.min_canary_duration:.0f} s")
    waiting += [c.detail for c in checks if c.status == "insufficient"]
    if waiting:
        if elapsed_s >= policy.max_canary_duration:
            return Verdict(
                "inconclusive",
                f"not enough evidence after the maximum duration ({policy.max_canary_duration:.0f} s): "
                + "; ".join(waiting),
                checks,
                rows,
            )
        return Verdict("wait", "; ".join(waiting), checks, rows)
    unjudged = "" if QUALITY & {c.metric for c in checks} else " (no metric on labelled rows is compared)"
    return Verdict(
        "promote",
        "no compared metric regressed: " + "; ".join(c.detail for c in checks) + unjudged,
        checks,
        rows,
    )
