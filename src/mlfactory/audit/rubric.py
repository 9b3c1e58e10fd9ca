"""The ML Test Score's 28 tests (Breck et al., 2017), each decided from the project's stored evidence.

Each test is judged per model in scope (:mod:`mlfactory.audit.rubric_data`, ``_model``, ``_infra`` and
``_monitoring`` hold the judges); a test stands only as well as its weakest model, so it is automated only
when it is automated for every model, and the evidence names the models that lack it. Every read is bounded
(see :class:`mlfactory.audit.rubric_common.Facts`), so the rubric takes seconds on large stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlfactory.audit import rubric_data, rubric_infra, rubric_model, rubric_monitoring
from mlfactory.audit.model import Scope, Status, TestOutcome
from mlfactory.audit.rubric_common import Facts, RubricTest, Verdict

if TYPE_CHECKING:
    from mlfactory.project import Project

TESTS: tuple[RubricTest, ...] = (
    *rubric_data.TESTS,
    *rubric_model.TESTS,
    *rubric_infra.TESTS,
    *rubric_monitoring.TESTS,
)

# the weakest status wins when models disagree: not done beats not decidable, which beats by hand
RANK = {Status.MISSING: 0, Status.UNDECIDED: 1, Status.MANUAL: 2, Status.AUTOMATED: 3}


def combine(verdicts: dict[str, Verdict]) -> Verdict:
    """One verdict for several models: the weakest status, the evidence per model (once when all agree),
    and which models lack what the best of them have."""
    if not verdicts:
        return Verdict(Status.MISSING, "no model in scope", "declare a model under models in mlfactory.yaml")
    status = min((v.status for v in verdicts.values()), key=RANK.__getitem__)
    texts = {v.evidence for v in verdicts.values()}
    if len(verdicts) == 1 or len(texts) == 1:
        evidence = next(iter(texts))
    else:
        evidence = "; ".join(f"{model}: {v.evidence}" for model, v in verdicts.items())
    lacking = [f"{m} ({v.status.value})" for m, v in verdicts.items() if v.status is not Status.AUTOMATED]
    if len(verdicts) > 1 and lacking and len(lacking) < len(verdicts):
        evidence = f"not automated for {', '.join(lacking)}; {evidence}"
    fixes = dict.fromkeys(v.fix for v in verdicts.values() if v.fix and v.status is not Status.AUTOMATED)
    return Verdict(status, evidence, "; ".join(fixes))


def decide(test: RubricTest, facts: Facts, models: tuple[str, ...]) -> TestOutcome:
    """One test's outcome over the models in scope."""
    verdict = combine({model: test.judge(facts, model) for model in models})
    return TestOutcome(
        id=test.id,
        section=test.section,
        title=test.title,
        status=verdict.status,
        evidence=verdict.evidence,
        fix="" if verdict.status is Status.AUTOMATED else verdict.fix,
        decided_by=test.decided_by,
    )


def score_rubric(project: Project, scope: Scope) -> tuple[TestOutcome, ...]:
    """The rubric's 28 outcomes for the models in ``scope``, in the paper's order (data.1 … monitoring.7).

    Args:
        project: the opened project, read through bounded queries only.
        scope: the models audited and the audit's "now" (ages and recent windows are measured from it).

    Returns:
        28 outcomes, 7 per section.
    """
    facts = Facts(project, scope)
    return tuple(decide(test, facts, scope.models) for test in TESTS)
