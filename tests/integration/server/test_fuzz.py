"""Fuzzing every operation of ``/openapi.json`` with schemathesis: no request makes a 5xx, and each answer's
status code, content type and body are the ones the document gives for that operation.

Cases are drawn for all operations at once, half of them fitting the document and half breaking it (wrong
types, missing fields, values out of range); the ``name`` path parameter is pinned to the served model and,
in a share of the cases, the version to a registered one, so the cases reach the model and not only the 404
for an unknown name. ``MLFACTORY_FUZZ_CASES`` sets how many (default 300, a few seconds; the cases are the
same on every run unless ``MLFACTORY_FUZZ_SEED`` picks others).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from serving_helpers import VERSIONS, copy_project, make_client

CASES = int(os.environ.get("MLFACTORY_FUZZ_CASES", "300"))
SEED = os.environ.get("MLFACTORY_FUZZ_SEED")


def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx, except the documented 503 of a readiness endpoint for a registered version that takes no
    traffic (the server itself is healthy here)."""
    if response.status_code == 503 and case.operation.path.endswith("/ready"):
        return None
    return not_a_server_error(ctx, response, case)  # type: ignore[no-any-return]


CHECKS = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def served(spam_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = copy_project(spam_template, tmp_path_factory.mktemp("fuzz") / "spam")
    with make_client(root) as client:
        yield client


def _operations(client: TestClient) -> tuple[st.SearchStrategy[Any], list[Any]]:
    """Cases of every operation that takes parameters or a body (an operation first, then a case of it),
    and the operations that take nothing (one case each)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    choices: list[st.SearchStrategy[Any]] = []
    fixed = []
    for result in schema.get_all_operations():
        op = result.ok()
        if not list(op.iter_parameters()) and not op.body:
            fixed.append(op)
            continue
        names = {p.name for p in op.path_parameters}
        pins: list[dict[str, Any]] = [{"name": "spam"} if "name" in names else {}]
        if "version" in names:
            pins += [{"name": "spam", "version": v} for v in range(1, VERSIONS + 1)]
        choices.append(
            st.one_of([op.as_strategy(mode, path_parameters=pin) for pin in pins for mode in GenerationMode])
        )
    return st.sampled_from(choices).flatmap(lambda strategy: strategy), fixed


def test_no_request_makes_a_server_error_and_answers_match_the_document(served: TestClient) -> None:
    cases, fixed = _operations(served)
    seen: Counter[str] = Counter()

    def run(case: Any) -> None:
        seen[case.operation.label] += 1
        response = case.call()
        case.validate_response(response, checks=CHECKS)

    for op in fixed:
        run(op.Case())

    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        derandomize=SEED is None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(cases)
    def fuzz(case: Any) -> None:
        run(case)

    if SEED is not None:
        fuzz = seed(int(SEED))(fuzz)
    fuzz()
    total = sum(seen.values())
    print(f"fuzz: {total} cases over {len(seen)} operations: {dict(seen)}")
    assert total >= CASES * 0.9 and len(seen) >= 27, seen  # the cases ran, on every router's operations
    assert {"POST /v2/models/{name}/infer", "POST /invocations", "POST /v1/feedback"} <= set(seen)
