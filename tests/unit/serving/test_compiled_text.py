"""A vectorizer's counts a batch at a time over bytes are exactly scikit-learn's, for ASCII documents and
every other kind (empty, no tokens, non-ASCII, tokens across document ends), large batches and small."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from mlfactory.serving import compiled_text
from mlfactory.serving.compiled_columns import _text
from mlfactory.serving.compiled_text import BULK, Entries, text_counts

WORDS = ["free", "Money", "now", "meeting", "at", "a", "x", "3pm", "re_sched", "WIN", "big", "today", "é"]
ODD = [
    "",
    " ",
    "!!",
    "a",
    "ab",
    "ünïcode free money",
    "Straße NOW now",
    "tab\tfree\nmoney",
    "x y z",
    "9 99 999",
]


def docs(n: int, seed: int) -> list[str]:
    """Seeded documents: the words above in mixed case and separators, words never seen, odd documents."""
    rng = np.random.default_rng(seed)
    seps = [" ", "  ", ", ", "\n", ".", "-", "'"]
    out = []
    for i in range(n):
        words = [*rng.choice(WORDS, size=int(rng.integers(0, 12))), *(["novel"] if i % 5 == 0 else [])]
        out.append("".join(f"{w}{rng.choice(seps)}" for w in words).strip(" ") or ODD[i % len(ODD)])
    return out + ODD


def exact(a: Entries, b: sp.spmatrix) -> bool:
    """The same matrix, its entries row by row with each row's columns ascending and distinct (the order
    the row sums depend on)."""
    ordered = bool(np.all(np.diff(a.rows * a.shape[1] + a.cols) > 0))
    return ordered and a.shape == b.shape and (a.csr() != sp.csr_matrix(b)).nnz == 0


VECTORIZERS = [
    CountVectorizer(),
    CountVectorizer(ngram_range=(1, 3), lowercase=False),
    CountVectorizer(token_pattern=r"(?u)\b\w+\b", ngram_range=(2, 2)),
    CountVectorizer(strip_accents="unicode"),
    CountVectorizer(stop_words=["now"], ngram_range=(1, 2)),  # not reproduced over bytes: analyzer only
    CountVectorizer(token_pattern=r"\w{3,}"),  # the same
]


@pytest.mark.parametrize("vectorizer", VECTORIZERS, ids=range(len(VECTORIZERS)))
def test_counts_equal_scikit_learns_for_large_and_small_batches(vectorizer: CountVectorizer) -> None:
    vectorizer.fit(docs(400, seed=1))
    counts = text_counts(vectorizer)
    fresh = docs(300, seed=2)  # words the vectorizer never saw, non-ASCII, empty documents
    assert exact(counts(fresh), vectorizer.transform(fresh))
    for small in (fresh[: BULK - 1], fresh[-3:], [""], ["Free MONEY"]):
        assert exact(counts(small), vectorizer.transform(small))


@pytest.mark.parametrize("size", [1, 4, 8, 16, BULK - 1])
@pytest.mark.parametrize(
    "vectorizer",
    [CountVectorizer(ngram_range=(1, 2)), CountVectorizer(ngram_range=(2, 3)), CountVectorizer()],
    ids=["1-2", "2-3", "1"],
)
def test_small_batches_count_n_grams_as_scikit_learn_does(vectorizer: CountVectorizer, size: int) -> None:
    vectorizer.fit(docs(400, seed=1))
    counts = text_counts(vectorizer)
    fresh = docs(200, seed=6)
    odd = ["", "ünïcode free money now", "free free FREE money money", "Straße now now"]
    for start in range(0, 40, size):
        batch = [*fresh[start : start + size - 1], odd[start % len(odd)]]  # an odd one in every batch
        assert exact(counts(batch), vectorizer.transform(batch))


def test_small_batches_of_the_default_analyzer_never_build_n_gram_strings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vectorizer = CountVectorizer(ngram_range=(1, 3)).fit(docs(400, seed=1))
    batch = docs(BULK - 1, seed=7)
    expected = vectorizer.transform(batch)

    def refused() -> None:
        raise AssertionError("the analyzer joins each n-gram into a new string")

    monkeypatch.setattr(vectorizer, "build_analyzer", refused)
    assert exact(text_counts(vectorizer)(batch), expected)


def test_ascii_documents_take_the_byte_path_and_others_the_analyzer(monkeypatch: pytest.MonkeyPatch) -> None:
    vectorizer = CountVectorizer(ngram_range=(1, 2)).fit(docs(400, seed=1))
    analyzed: list[str] = []
    tokenizer = vectorizer.build_tokenizer()

    def counted(doc: str) -> list[str]:
        analyzed.append(doc)
        return tokenizer(doc)

    monkeypatch.setattr(vectorizer, "build_tokenizer", lambda: counted)
    batch = ["free money now", "ünïcode free money", "", "a big win today", *["meeting at 3pm"] * BULK]
    counts = text_counts(vectorizer)(batch)
    assert analyzed == ["ünïcode free money"]
    assert exact(counts, vectorizer.transform(batch))


def test_a_batch_with_a_lone_surrogate_is_counted_by_the_analyzer() -> None:
    vectorizer = CountVectorizer().fit(docs(100, seed=1))
    batch = [*docs(BULK, seed=2), "free \ud800 money"]  # no UTF-8 bytes for it, as Python allows
    assert exact(text_counts(vectorizer)(batch), vectorizer.transform(batch))


def test_a_token_ending_a_document_does_not_run_into_the_next() -> None:
    vectorizer = CountVectorizer(ngram_range=(1, 2)).fit(["free money", "money now", "freemoney", "free"])
    batch = ["free", "money", "free", "money now"] * BULK
    assert exact(text_counts(vectorizer)(batch), vectorizer.transform(batch))


@pytest.mark.parametrize(
    "vectorizer",
    [TfidfVectorizer(ngram_range=(1, 2), min_df=2), TfidfVectorizer(sublinear_tf=True, norm="l1")],
    ids=["default", "sublinear-l1"],
)
def test_the_weighted_block_is_exactly_the_vectorizers_transform(vectorizer: TfidfVectorizer) -> None:
    vectorizer.fit(docs(400, seed=3))
    block = _text(vectorizer, "body")
    assert block is not None
    fresh = docs(200, seed=4)
    got = block({"body": np.array(fresh, dtype=object)}, len(fresh))
    assert isinstance(got, Entries)
    assert exact(got, vectorizer.transform(fresh))


def test_counts_that_differ_from_the_vectorizers_are_declined_at_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vectorizer = TfidfVectorizer(ngram_range=(1, 2)).fit(docs(400, seed=5))
    assert _text(vectorizer, "body") is not None
    monkeypatch.setattr(compiled_text, "_LOWER", np.arange(256, dtype=np.uint8))  # lowercasing forgotten
    assert _text(vectorizer, "body") is None
