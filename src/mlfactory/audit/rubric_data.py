"""The rubric's first section, data and features: tests data.1 to data.7, decided from the project file's
sources and schemas, the dataset versions ingest validated, and the feature-importance check's runs."""

from __future__ import annotations

from mlfactory.audit.model import Section, Status
from mlfactory.audit.rubric_common import Facts, RubricTest, Verdict, from_check


def _undeclared(model: str) -> Verdict:
    return Verdict(
        Status.MISSING,
        f"model '{model}' is registered but no longer declared in the project file",
        f"declare models.{model} in mlfactory.yaml",
    )


def schema(facts: Facts, model: str) -> Verdict:
    """data.1: the source's columns are declared, so every ingest validates against them (strict)."""
    config = facts.config(model)
    if config is None:
        return _undeclared(model)
    source = facts.project.config.sources.get(config.source)
    columns = source.columns if source is not None else None
    versions = facts.datasets(config.source)
    seen = "never ingested"
    if versions:
        last = versions[-1]
        reasons = "; ".join(last.validation.get("reasons", [])[:2])
        result = "valid" if last.valid else f"invalid ({reasons})"
        origin = last.validation.get("schema_origin", "unknown")
        seen = f"newest snapshot {last.id} checked against the {origin} schema: {result}"
    if columns:
        return Verdict(
            Status.AUTOMATED,
            f"{len(columns)} columns of source '{config.source}' declared with types and ranges, enforced at "
            f"every ingest; {seen}",
        )
    return Verdict(
        Status.MISSING,
        f"source '{config.source}' declares no columns: snapshots meet only a schema inferred "
        f"from data; {seen}",
        f"declare sources.{config.source}.columns (type, nullable, min, max, categories) in mlfactory.yaml",
    )


def beneficial(facts: Facts, model: str) -> Verdict:
    """data.2: permutation importance on the holdout names no feature that adds nothing."""
    return from_check(facts, "data.feature_importance", model, "each feature's importance")


def cost(facts: Facts, model: str) -> Verdict:
    """data.3: what a feature costs (latency, memory, upkeep) is not recorded anywhere."""
    config = facts.config(model)
    count = 0 if config is None else sum(map(len, (config.features.numeric, config.features.categorical)))
    count += 0 if config is None else len(config.features.text)
    return Verdict(
        Status.UNDECIDED,
        f"{count} input features; no store records what each one costs to compute, serve or maintain",
        "record per-feature cost (lookup latency, memory) next to its importance",
    )


def meta_level(facts: Facts, model: str) -> Verdict:
    """data.4: every feature is a declared column of a documented source with an owner."""
    config = facts.config(model)
    if config is None:
        return _undeclared(model)
    source = facts.project.config.sources.get(config.source)
    features = [*config.features.numeric, *config.features.categorical, *config.features.text]
    declared = set(source.columns or {}) if source is not None else set()
    undeclared = [f for f in features if f not in declared]
    owner = source.owner if source is not None else "unknown"
    lacking = []
    if undeclared:
        lacking.append(f"features not declared as source columns: {', '.join(undeclared[:5])}")
    if owner == "unknown" or source is None or not source.description:
        lacking.append(f"source '{config.source}' lacks an owner or a description")
    if lacking:
        return Verdict(
            Status.MISSING,
            "; ".join(lacking),
            f"declare sources.{config.source}.columns, owner and description in mlfactory.yaml",
        )
    return Verdict(
        Status.MANUAL,
        f"all {len(features)} features are declared columns of source '{config.source}' (owner {owner}); "
        "what else they must meet is a team's review, not stored",
        "write the requirements down as declared column rules so ingest enforces them",
    )


def privacy(facts: Facts, model: str) -> Verdict:
    """data.5: access controls and PII handling of the data pipeline live outside mlfactory's stores."""
    return Verdict(
        Status.UNDECIDED,
        "no store records who may read the sources and snapshots or which columns hold personal data",
        "mark personal-data columns and restrict access to the data and artifact stores",
    )


def new_features(facts: Facts, model: str) -> Verdict:
    """data.6: the time from a feature idea to production is not recorded."""
    return Verdict(
        Status.UNDECIDED,
        f"{facts.feature_views()} feature views registered; the time from proposing a feature to serving it "
        "is not recorded",
        "record when a feature is proposed, so its lead time to production can be measured",
    )


def feature_code_tested(facts: Facts, model: str) -> Verdict:
    """data.7: a model without project feature code has nothing untested; feature views' tests are not
    recorded."""
    config = facts.config(model)
    if config is None:
        return _undeclared(model)
    if config.feature_service is None:
        return Verdict(
            Status.AUTOMATED,
            "the model uses no project feature code: its inputs are declared source columns transformed "
            "by mlfactory's own packaged preprocessing",
        )
    return Verdict(
        Status.UNDECIDED,
        f"feature service '{config.feature_service}' runs project code (features.py) whose test results are "
        "not stored",
        "test features.py in CI and keep the results with the project",
    )


TESTS = (
    RubricTest(
        "data.1",
        Section.DATA,
        "feature expectations are captured in a schema",
        "sources.<name>.columns in the project file and each dataset version's validation",
        schema,
    ),
    RubricTest(
        "data.2",
        Section.DATA,
        "all features are beneficial",
        "the newest 'data.feature_importance' check run",
        beneficial,
    ),
    RubricTest(
        "data.3",
        Section.DATA,
        "no feature's cost is too much",
        "per-feature cost (serving latency, memory, upkeep), which no store records",
        cost,
    ),
    RubricTest(
        "data.4",
        Section.DATA,
        "features adhere to meta-level requirements",
        "declared source columns, owners and descriptions in the project file",
        meta_level,
    ),
    RubricTest(
        "data.5",
        Section.DATA,
        "the data pipeline has appropriate privacy controls",
        "access policies and personal-data markings, which no store records",
        privacy,
    ),
    RubricTest(
        "data.6",
        Section.DATA,
        "new features can be added quickly",
        "when each feature was proposed and first served, which no store records",
        new_features,
    ),
    RubricTest(
        "data.7",
        Section.DATA,
        "all input feature code is tested",
        "the model's feature service in the project file; test results of features.py (not stored)",
        feature_code_tested,
    ),
)
