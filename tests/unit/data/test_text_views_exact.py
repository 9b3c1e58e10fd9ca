"""Text views measured once per document give the numbers of the straightforward measurement: pandas'
lengths and word counts, scikit-learn's vectorizers for tokens and vocabulary hits (what the reference and
the windows were measured with before, so stored references still compare like with like)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlfactory.data.profile import Vocabulary, text_views
from text_view_helpers import straightforward_views

ASCII = [*"abcdefxyzABCXYZ0129_ -.,!'\t\n\x0b\x0c\r\x1c\x1f", "supercalifragilistic", "Photos"]
OTHER = ["é", "İ", "ß", "Ω", "ǅ", "٣", "😀", "\xa0", "\u2003", "\x85", "\u200b", "ﬁ"]
WORDS = [
    "a", "ab", "abc", "x", "xyz", "photos", "0", "129", "_", "a_b", "ab_c", "abcdefab", "abcdefabc",
    "supercalifragilistic", "supercalifragilisticexpialidocious", "é", "i̇", "ss", "ω", "a-b", "ABC",
]  # fmt: skip


def _documents(rng: np.random.Generator, n: int, alphabet: list[str]) -> list[str | None]:
    docs: list[str | None] = ["".join(rng.choice(alphabet, size=rng.integers(0, 30))) for _ in range(n)]
    for i in rng.choice(n, size=n // 20, replace=False):
        docs[i] = None
    return docs


@pytest.mark.parametrize("seed", range(6))
def test_views_match_the_straightforward_measurement(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ascii_docs = _documents(rng, 3000, ASCII)
    mixed = _documents(rng, 1000, ASCII + OTHER)  # any byte above 127 takes the per-document path
    vocabulary = list(rng.choice(WORDS, size=int(rng.integers(1, len(WORDS))), replace=False))
    for docs in (ascii_docs + mixed, ascii_docs):
        for series in (pd.Series(docs, dtype=object), pd.Series(docs, dtype="str")):
            expected, got = straightforward_views(series, vocabulary), text_views(series, vocabulary)
            for view, values in expected.items():
                np.testing.assert_array_equal(got[view], values, err_msg=f"{view}, seed {seed}")


def test_a_prepared_vocabulary_and_odd_inputs_give_the_same_views() -> None:
    docs = pd.Series([1, 2.5, None, "AbC abc_x", "", "supercalifragilisticexpialidocious!"], dtype=object)
    prepared = Vocabulary.of(WORDS)
    for words, vocabulary in ((WORDS, WORDS), (WORDS, prepared), ([], [])):
        expected, got = straightforward_views(docs, words), text_views(docs, vocabulary)
        for view, values in expected.items():
            np.testing.assert_array_equal(got[view], values)


@pytest.mark.parametrize("seed", range(3))
def test_every_ascii_byte_is_classed_as_python_classes_it(seed: int) -> None:
    """Documents of all 128 ASCII characters, control bytes included, and words at the edges of the
    byte ranges the batch path classes by (``/ 0 9 :``, ``@ A Z [``, ``^ _ `` ` ``, `` ` a z {``)."""
    rng = np.random.default_rng(100 + seed)
    alphabet = [chr(b) for b in range(128)]
    docs = [*_documents(rng, 2000, alphabet), "".join(alphabet), "".join(reversed(alphabet))]
    vocabulary = ["a", "z", "az", "0", "9", "09", "_", "a_z9", "za", "@", "[", "`", "{", "/", ":", "^"]
    series = pd.Series(docs, dtype=object)
    expected, got = straightforward_views(series, vocabulary), text_views(series, vocabulary)
    for view, values in expected.items():
        np.testing.assert_array_equal(got[view], values, err_msg=f"{view}, seed {seed}")
