"""The rubric's second section, model development: tests model.1 to model.7, decided from the versions'
runs and metrics, the monitoring reports of the same versions, and the on-demand checks' runs."""

from __future__ import annotations

import statistics

from mlfactory.audit.model import Section, Status
from mlfactory.audit.rubric_common import (
    TOLERANCE,
    Facts,
    RubricTest,
    Verdict,
    by_controller,
    from_check,
    num,
    worse,
)
from mlfactory.entities import RunClause
from mlfactory.errors import NotFoundError

MIN_CORRELATION = 0.5  # offline and online metrics over three or more versions must correlate this well


def _nothing_trained(model: str) -> Verdict:
    return Verdict(Status.MISSING, f"model '{model}' has no registered version", f"mlfactory train {model}")


def _commit(facts: Facts, run_id: str | None) -> str | None:
    """The git commit a run recorded, if the run is still stored and recorded one."""
    try:
        run = facts.project.metadata.get_run(run_id) if run_id else None
    except NotFoundError:
        return None
    commit = run.environment.get("git_commit") if run is not None else None
    return str(commit) if commit else None


def reviewed(facts: Facts, model: str) -> Verdict:
    """model.1: the spec (the project file) was under version control when the served version trained."""
    served = facts.served(model)
    if served is None:
        return _nothing_trained(model)
    commit = _commit(facts, served.run_id)
    spec = served.lineage.project_file_sha256 or "unknown"
    if not commit:
        return Verdict(
            Status.MISSING,
            f"{model}/{served.version} was trained from project file {spec[:12]} outside version control "
            "(its run records no git commit)",
            "keep the project in git and change models.<name> through reviewed commits",
        )
    return Verdict(
        Status.MANUAL,
        f"{model}/{served.version} was trained at git commit {commit[:12]} (project file {spec[:12]}); "
        "the review itself is a person's act the stores cannot see",
        "require a review before a change to mlfactory.yaml merges",
    )


def _pairs(facts: Facts, model: str, metric: str) -> list[tuple[int, float, float]]:
    """(version, offline holdout value, newest realized online value) for the newest versions."""
    pairs = []
    for version in facts.newest(model):
        offline = version.metrics.get(metric)
        online = facts.realized(model, version.version)
        if isinstance(offline, int | float) and online is not None:
            pairs.append((version.version, float(offline), online[0]))
    return pairs


def correlate(facts: Facts, model: str) -> Verdict:
    """model.2: the holdout metric predicts the realized online metric of the same versions."""
    metric = facts.quality_metric(model)
    pairs = _pairs(facts, model, metric)
    fix = f"send labels (mlfactory feedback) and run `mlfactory monitor run --model {model}`"
    if not pairs:
        return Verdict(
            Status.MISSING, f"no version has a realized online {metric} from labelled traffic", fix
        )
    shown = ", ".join(f"v{v} offline {num(off)} / online {num(on)}" for v, off, on in pairs)
    offline, online = [p[1] for p in pairs], [p[2] for p in pairs]
    if len(pairs) >= 3 and len(set(offline)) > 1 and len(set(online)) > 1:
        r = statistics.correlation(offline, online)
        agree, how = r >= MIN_CORRELATION, f"correlation over {len(pairs)} versions {num(r)}"
    else:
        agree = all(abs(worse(metric, on, off)) <= TOLERANCE for _, off, on in pairs)
        how = f"within {TOLERANCE:.0%} of each other" if agree else f"more than {TOLERANCE:.0%} apart"
    if not agree:
        return Verdict(
            Status.MISSING, f"{metric}: {shown}; {how}", "find why the holdout misjudges live data"
        )
    if by_controller(facts, model):
        return Verdict(Status.AUTOMATED, f"{metric}: {shown}; {how}; the controller writes the reports")
    return Verdict(
        Status.MANUAL, f"{metric}: {shown}; {how}", f"set models.{model}.policy so reports run by themselves"
    )


def tuned(facts: Facts, model: str) -> Verdict:
    """model.3: a search block tunes the params at every training; a past search alone is manual."""
    config = facts.config(model)
    clauses = [RunClause("tags", "model", "=", model), RunClause("tags", "search.best_trial", "!=", "")]
    searches = facts.project.metadata.find_runs(clauses, limit=1)
    last = f"; newest search run {searches[0].id[:8]}" if searches else ""
    if config is not None and config.search is not None:
        space = ", ".join(sorted(config.search.space))
        return Verdict(
            Status.AUTOMATED,
            f"models.{model}.search tunes {space} on {config.search.metric} at every training{last}",
        )
    fix = f"declare models.{model}.search (space, metric, trials) in mlfactory.yaml"
    if searches:
        return Verdict(Status.MANUAL, f"a search ran once{last}, but the project file declares none now", fix)
    return Verdict(Status.MISSING, "no hyper-parameter search ever ran; params are set by hand", fix)


def staleness_known(facts: Facts, model: str) -> Verdict:
    """model.4: how fast the model decays with age was measured."""
    return from_check(facts, "model.staleness", model, "how fast the model decays with age")


def simpler(facts: Facts, model: str) -> Verdict:
    """model.5: declared or default baselines on the same split do not beat the model."""
    return from_check(facts, "model.simpler_baseline", model, "the model against simpler baselines")


def _worst_slice(metrics: dict[str, object], metric: str) -> str:
    """The slice with the lowest value of ``metric`` in a version's per-segment metrics."""
    found = []
    slices = metrics.get("slices")
    for segment, values in slices.items() if isinstance(slices, dict) else []:
        for value, numbers in values.items() if isinstance(values, dict) else []:
            if isinstance(numbers, dict) and isinstance(numbers.get(metric), int | float):
                found.append((float(numbers[metric]), f"{segment}={value}", numbers.get("rows")))
    if not found:
        return "no per-segment metrics stored"
    low, name, rows = min(found)
    return f"worst slice {name}: {metric} {num(low)} over {rows} holdout rows"


def slices(facts: Facts, model: str) -> Verdict:
    """model.6: quality per declared segment, judged by the slices check."""
    config, served = facts.config(model), facts.served(model)
    if config is None or not config.segments:
        return Verdict(
            Status.MISSING,
            "no segments declared: quality is never measured per slice",
            f"declare models.{model}.segments (columns to slice the holdout by)",
        )
    metric = facts.quality_metric(model)
    worst = _worst_slice(served.metrics, metric) if served is not None else "no version yet"
    verdict = from_check(facts, "model.slices", model, "quality on every declared segment")
    if verdict.status is Status.MISSING and facts.check("model.slices", model) is None:
        return Verdict(
            Status.MANUAL,
            f"segments {', '.join(config.segments)} measured at every training, read by a person; {worst}",
            verdict.fix,
        )
    return Verdict(verdict.status, f"{verdict.evidence}; {worst}", verdict.fix)


def inclusion(facts: Facts, model: str) -> Verdict:
    """model.7: fairness and inclusion reviews are not recorded by mlfactory."""
    return Verdict(
        Status.UNDECIDED,
        "no store records which groups the model must serve equally or a review of it",
        "declare the protected groups as segments and record their review in the model card",
    )


TESTS = (
    RubricTest(
        "model.1",
        Section.MODEL,
        "model specs are reviewed and submitted",
        "the served version's run: its git commit and project-file hash",
        reviewed,
    ),
    RubricTest(
        "model.2",
        Section.MODEL,
        "offline and online metrics correlate",
        "the newest versions' holdout metric against the realized metric of their monitoring reports",
        correlate,
    ),
    RubricTest(
        "model.3",
        Section.MODEL,
        "all hyperparameters have been tuned",
        "models.<name>.search in the project file and runs tagged search.best_trial",
        tuned,
    ),
    RubricTest(
        "model.4",
        Section.MODEL,
        "the impact of model staleness is known",
        "the newest 'model.staleness' check run",
        staleness_known,
    ),
    RubricTest(
        "model.5",
        Section.MODEL,
        "a simpler model is not better",
        "the newest 'model.simpler_baseline' check run",
        simpler,
    ),
    RubricTest(
        "model.6",
        Section.MODEL,
        "model quality is sufficient on all important data slices",
        "models.<name>.segments, the version's per-slice metrics and the newest 'model.slices' check run",
        slices,
    ),
    RubricTest(
        "model.7",
        Section.MODEL,
        "the model has been tested for considerations of inclusion",
        "a recorded inclusion review over declared protected groups, which no store holds",
        inclusion,
    ),
)
