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
    statuses: Counter[int] = Counter()

    def run(case: Any) -> None:
        seen[case.operation.label] += 1
        response = case.call()
        statuses[response.status_code] += 1
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
    print(
        f"fuzz: {total} cases over {len(seen)} operations, answers {sorted(statuses.items())}: {dict(seen)}"
    )
    assert total >= CASES * 0.9 and len(seen) >= 27, seen  # the cases ran, on every router's operations
    assert {"POST /v2/models/{name}/infer", "POST /invocations", "POST /v1/feedback"} <= set(seen)
    assert sum(n for code, n in statuses.items() if code < 300) >= 0.05 * total  # not only refusals


COLUMNS = ["n_links", "n_attachments", "hour_sent", "sender_domain", "language", "subject", "body"]
_text = st.text(st.characters(codec=None), max_size=12)  # lone surrogates included: JSON escapes them
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    _text,
    st.sampled_from(["0", "3", "1e3", "nan", "en", "mail.example.com", ""]),
)
_values = st.one_of(_scalars, st.lists(_scalars, max_size=2), st.dictionaries(_text, _scalars, max_size=1))
_columns = st.one_of(st.just(COLUMNS), st.lists(st.sampled_from([*COLUMNS, "extra"]), min_size=5, max_size=8))
_GOOD = {
    "n_links": st.integers(min_value=0, max_value=20),
    "n_attachments": st.integers(min_value=0, max_value=5),
    "hour_sent": st.integers(min_value=0, max_value=23),
    "sender_domain": st.sampled_from(["mail.example.com", "post.example.org", "unknown.test"]),
    "language": st.sampled_from(["en", "de", "fr"]),
    "subject": st.text(max_size=20),
    "body": st.text(max_size=40),
    "extra": st.integers(),
}
_V2_TYPES = ["INT64", "INT32", "UINT8", "FP64", "FP16", "BOOL", "BYTES"]


@st.composite
def _request(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str]]:
    """A request to one of the model's protocols with its real columns (some missing, repeated or extra)
    holding adversarial values: numbers of every size, NaN, infinity, text with lone surrogates, nesting."""
    n = draw(st.integers(min_value=0, max_value=3))
    cols = draw(_columns)
    # mostly values that fit (so whole requests get answered too), else hostile ones
    rows = [{c: draw(st.one_of(_GOOD[c], _GOOD[c], _GOOD[c], _values)) for c in cols} for _ in range(n)]
    kind = draw(st.sampled_from(["records", "columns", "split", "v2", "csv"]))
    json_type = {"content-type": "application/json"}
    if kind == "records":
        return "/v1/models/spam/predict", _dumps({"records": rows}), json_type
    if kind == "columns":
        data = {c: [r[c] for r in rows] for c in cols}
        return "/v1/models/spam/versions/1/predict", _dumps({"columns": data}), json_type
    if kind == "split":
        split = {"columns": cols, "data": [[r[c] for c in cols] for r in rows]}
        return "/invocations", _dumps({"dataframe_split": split}), json_type
    if kind == "v2":
        inputs = [
            {
                "name": c,
                "shape": [n],
                "datatype": draw(st.sampled_from(_V2_TYPES)),
                "data": [r[c] for r in rows],
            }
            for c in dict.fromkeys(cols)
        ]
        return "/v2/models/spam/infer", _dumps({"inputs": inputs}), json_type
    lines = [",".join(cols)] + [",".join(_csv_cell(r[c]) for c in cols) for r in rows]
    return (
        "/models/spam/invocations",
        "\n".join(lines).encode("utf-8", "surrogatepass"),
        {"content-type": "text/csv"},
    )


def _dumps(body: Any) -> bytes:
    import json

    return json.dumps(body).encode()  # NaN, Infinity and lone surrogates (escaped), as lenient encoders write


def _csv_cell(value: Any) -> str:
    return "" if value is None else str(value).replace(",", " ").replace("\n", " ")


def test_rows_shaped_like_the_models_inputs_never_make_a_server_error(served: TestClient) -> None:
    """Cases the document cannot describe: the served model's own columns holding hostile values, on every
    protocol. Each answer is a success or a refusal with an error message, never a 5xx."""
    answers: Counter[int] = Counter()

    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        derandomize=SEED is None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(_request())
    def fuzz(request: tuple[str, bytes, dict[str, str]]) -> None:
        path, body, headers = request
        response = served.post(path, content=body, headers=headers)
        answers[response.status_code] += 1
        assert response.status_code < 500, (path, body[:500], response.text)
        if response.status_code >= 400:
            assert response.json()["error"], response.text

    if SEED is not None:
        fuzz = seed(int(SEED))(fuzz)
    fuzz()
    print(f"fuzz (model rows): {sum(answers.values())} cases, answers {sorted(answers.items())}")
    assert sum(answers.values()) >= CASES * 0.9 and answers[200] > 0  # some requests fit and were answered
