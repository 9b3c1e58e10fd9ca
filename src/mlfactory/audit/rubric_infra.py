"""The rubric's third section, ML infrastructure: tests infrastructure.1 to infrastructure.7, decided from
the gates, the controller's and the routing's events (canaries, rollbacks and how long they took) and the
on-demand checks' runs."""

from __future__ import annotations

from dataclasses import dataclass

from mlfactory.audit.model import Section, Status
from mlfactory.audit.rubric_common import CONTROLLER, Facts, RubricTest, Verdict, from_check, seconds
from mlfactory.entities import Event


def reproducible(facts: Facts, model: str) -> Verdict:
    """infrastructure.1: training twice with the same seed and inputs gives the same holdout predictions."""
    return from_check(facts, "infra.reproducible", model, "training twice on the same inputs")


def spec_tested(facts: Facts, model: str) -> Verdict:
    """infrastructure.2: unit tests of the model's training code run outside mlfactory's stores."""
    folder = facts.project.root / "tests"
    seen = "a tests/ folder exists" if folder.is_dir() else "the project has no tests/ folder"
    return Verdict(
        Status.UNDECIDED,
        f"{seen}; no store records a test run of models.{model}'s training code",
        "unit-test the model's training on a few rows in CI and keep the results with the project",
    )


def integration(facts: Facts, model: str) -> Verdict:
    """infrastructure.3: the whole pipeline, data to gated version, ran by itself (a controller retrain), or
    once by hand."""
    retrains = facts.events(model, ["rollout.retraining"])
    by_controller = [e for e in retrains if e.actor.startswith(CONTROLLER)]
    if by_controller:
        last = by_controller[0]
        return Verdict(
            Status.AUTOMATED,
            f"the controller ran the pipeline end to end by itself {len(by_controller)} time(s); newest "
            f"event {last.id} at {last.time:%Y-%m-%d %H:%M}",
        )
    served = facts.served(model)
    fix = f"set models.{model}.policy and run `mlfactory controller run`, so each retrain runs the pipeline"
    if served is None or not (served.lineage.run and served.lineage.dataset):
        return Verdict(
            Status.MISSING, "no version records a run and a dataset: the pipeline never ran whole", fix
        )
    return Verdict(
        Status.MANUAL,
        f"{model}/{served.version} went from dataset {served.lineage.dataset} through run "
        f"{served.lineage.run[:8]} to a gated version, started by hand",
        fix,
    )


def validated(facts: Facts, model: str) -> Verdict:
    """infrastructure.4: declared quality gates judge every version before it may serve."""
    config, served = facts.config(model), facts.served(model)
    if config is None or not config.gates:
        return Verdict(
            Status.MISSING,
            "no quality gates declared: any trained version may serve",
            f"declare models.{model}.gates (e.g. - {{metric: accuracy, min: 0.9}})",
        )
    rules = ", ".join(g.rule for g in served.gates) if served is not None else ""
    if served is None:
        return Verdict(Status.AUTOMATED, f"{len(config.gates)} gates declared; no version trained yet")
    passed = sum(g.passed for g in served.gates)
    text = (
        f"{len(config.gates)} gates declared; {model}/{served.version} passed {passed} of {len(served.gates)}"
    )
    if served.status.value != "ready":
        return Verdict(
            Status.MANUAL,
            f"{text} ({rules}) and serves although its gates rejected it (forced by a person)",
            f"retrain until {model} passes its gates",
        )
    return Verdict(Status.AUTOMATED, f"{text} ({rules})")


def single_example(facts: Facts, model: str) -> Verdict:
    """infrastructure.5: one logged prediction can be replayed through each step of the pipeline."""
    return from_check(facts, "infra.single_example", model, "replaying one logged prediction step by step")


def _canary(event: Event) -> int | None:
    """The canary version a routing change set, if it set one."""
    to = event.payload.get("to")
    canary = to.get("canary") if isinstance(to, dict) else None
    return canary if isinstance(canary, int) else None


def canary(facts: Facts, model: str) -> Verdict:
    """infrastructure.6: versions go live through a canary, by the controller's policy."""
    config = facts.config(model)
    seen = [e for e in facts.events(model, ["routing.set"]) if _canary(e) is not None]
    policy = config is not None and config.policy is not None
    fix = f"set models.{model}.policy.rollout so the controller canaries every challenger"
    if not seen:
        text = (
            "a controller policy is set but no canary ran yet"
            if policy
            else "no version went live via a canary"
        )
        return Verdict(
            Status.MISSING, text, fix if not policy else f"let the controller roll out a {model} retrain"
        )
    last = seen[0]
    weight = last.payload["to"].get("canary_weight")
    text = (
        f"{len(seen)} canary rollout(s); newest: {model}/{_canary(last)} at {weight}% "
        f"(event {last.id}, by {last.actor}, {last.time:%Y-%m-%d %H:%M})"
    )
    if policy:
        return Verdict(Status.AUTOMATED, f"{text}; the controller's policy canaries every challenger")
    return Verdict(Status.MANUAL, f"{text}; started by hand, no controller policy", fix)


@dataclass(frozen=True)
class RollbackSeen:
    """The newest rollback in the event log and how long the bad version had been live when it ended."""

    event: Event
    bad: int | None  # the version taken off traffic
    good: int | None  # the version serving again
    live_seconds: float | None  # from the bad version going live to the rollback


def _went_live(facts: Facts, model: str, rollback: Event) -> tuple[int | None, Event | None]:
    """The version a rollback took off traffic and the event that had put it live."""
    if rollback.kind == "alias.rollback":
        bad, alias = rollback.payload.get("from"), rollback.payload.get("alias")
        for e in facts.events(model, ["alias.set", "alias.rollback"], until=rollback.time):
            if e.payload.get("alias") == alias and e.payload.get("to") == bad and e.id < rollback.id:
                return bad, e
        return bad, None
    for e in facts.events(model, ["routing.set"], until=rollback.time):  # a canary the controller ended
        if _canary(e) is not None and e.id < rollback.id:
            return _canary(e), e
    return None, None


def last_rollback(facts: Facts, model: str) -> RollbackSeen | None:
    """The newest rollback of the model (an alias moved back, or a canary the controller rolled back)."""
    found = facts.events(model, ["alias.rollback", "rollout.rolled_back"])
    if not found:
        return None
    event = found[0]
    bad, live = _went_live(facts, model, event)
    good = event.payload.get("to") if event.kind == "alias.rollback" else None
    live_seconds = (event.time - live.time).total_seconds() if live is not None else None
    return RollbackSeen(event, bad, good if isinstance(good, int) else None, live_seconds)


def rollback(facts: Facts, model: str) -> Verdict:
    """infrastructure.7: a rollback was exercised, with how long the bad version was live."""
    seen = last_rollback(facts, model)
    if seen is None:
        return Verdict(
            Status.MISSING,
            "no rollback was ever exercised",
            f"rehearse one: `mlfactory rollback {model}` after a promotion (or let a canary fail)",
        )
    e = seen.event
    what = f"v{seen.bad}" if seen.bad is not None else "the challenger"
    if seen.good is not None:
        done = f"moved {e.payload.get('alias')} from {what} back to v{seen.good} in one atomic step"
    else:
        done = f"took canary {what} off traffic while production kept the champion"
    took = "" if seen.live_seconds is None else f", {seconds(seen.live_seconds)} after {what} went live"
    return Verdict(
        Status.AUTOMATED,
        f"last rollback: event {e.id} ({e.kind}) by {e.actor} at {e.time:%Y-%m-%d %H:%M:%S} {done}{took}",
    )


TESTS = (
    RubricTest(
        "infrastructure.1",
        Section.INFRASTRUCTURE,
        "training is reproducible",
        "the newest 'infra.reproducible' check run",
        reproducible,
    ),
    RubricTest(
        "infrastructure.2",
        Section.INFRASTRUCTURE,
        "model specs are unit tested",
        "recorded results of unit tests of the model's training code, which no store holds",
        spec_tested,
    ),
    RubricTest(
        "infrastructure.3",
        Section.INFRASTRUCTURE,
        "the ML pipeline is integration tested",
        "controller retrains (rollout.retraining events) and the served version's lineage",
        integration,
    ),
    RubricTest(
        "infrastructure.4",
        Section.INFRASTRUCTURE,
        "model quality is validated before attempting to serve it",
        "models.<name>.gates and the served version's gate results",
        validated,
    ),
    RubricTest(
        "infrastructure.5",
        Section.INFRASTRUCTURE,
        "the model allows debugging by observing the step-by-step computation of training or inference "
        "on a single example",
        "the newest 'infra.single_example' check run",
        single_example,
    ),
    RubricTest(
        "infrastructure.6",
        Section.INFRASTRUCTURE,
        "models are tested via a canary process before they enter production serving environments",
        "routing.set events with a canary and models.<name>.policy",
        canary,
    ),
    RubricTest(
        "infrastructure.7",
        Section.INFRASTRUCTURE,
        "models can be quickly and safely rolled back to a previous serving version",
        "alias.rollback and rollout.rolled_back events, timed from the version's going live",
        rollback,
    ),
)
