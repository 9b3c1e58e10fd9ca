"""A fitted TF-IDF or count vectorizer's counts for a batch of documents, at once over their bytes.

scikit-learn analyzes one document at a time in Python (lowercase, a regular expression, the n-grams
joined into new strings, a dict per document): about 20 µs for a short email, most of a 1,000-row request
of the quickstart's spam model. Over ASCII, the default analyzer is byte arithmetic: lowercasing maps
bytes, ``\\w`` is a fixed set of bytes, and a token of ``(?u)\\b\\w\\w+\\b`` is a run of at least two of them
(one for ``(?u)\\b\\w+\\b``). So the ASCII documents of a batch are tokenized together with NumPy on their
UTF-8 bytes (as :mod:`mlfactory.data.text` measures text views), each token is numbered by its word in the
vocabulary's terms (one hash lookup of one Arrow array, ``pyarrow.compute.index_in``), and an n-gram is
found by its words' numbers (one integer, looked up the same way): no n-gram is built as a string.
Documents with any byte above 127, and every document of a batch under :data:`BULK` (building the lookups'
hash tables, a few hundred µs, costs more than it saves there), are tokenized one at a time by the
vectorizer's own preprocessor and tokenizer, their n-grams looked up as tuples of tokens (strings hashed
once already) rather than joined into new strings in a Python loop.

Counts come back as :class:`Entries`, not a scipy.sparse matrix: for the few rows of a micro-batch,
building and checking a CSR matrix (index dtypes, formats, duplicates) costs more than the arithmetic. The
caller checks the counts, weighted, against the vectorizer's own ``transform`` at load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import chain, repeat
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp


class Entries(NamedTuple):
    """A sparse (n, width) matrix's nonzero entries in row order, each row's columns ascending and distinct:
    the layout of a CSR matrix with sorted indices, so row sums add in the order scikit-learn's do."""

    rows: np.ndarray
    cols: np.ndarray
    data: np.ndarray
    shape: tuple[int, int]

    def csr(self) -> sp.csr_matrix:
        """As a scipy.sparse matrix (to compare with scikit-learn's)."""
        return sp.csr_matrix((self.data, (self.rows, self.cols)), shape=self.shape)


Counts = Callable[[list[str]], Entries]  # documents -> their (n, vocabulary) float64 counts
BULK = 32  # documents from which a batch is tokenized over its bytes
_PATTERNS = {r"(?u)\b\w\w+\b": 2, r"(?u)\b\w+\b": 1}  # token pattern -> shortest token
_WORD = np.zeros(256, dtype=bool)  # Python's ``\w`` over ASCII
_WORD[np.frombuffer(b"0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)] = (
    True
)
_LOWER = np.arange(256, dtype=np.uint8)
_LOWER[ord("A") : ord("Z") + 1] += 32


def _shortest_token(vectorizer: Any) -> int | None:
    """The shortest token of the vectorizer's pattern, or None when its analysis is not the default word
    analyzer this module reproduces over ASCII (own tokenizer, preprocessor or stop words, other patterns)."""
    if vectorizer.analyzer != "word" or vectorizer.input != "content":
        return None
    if vectorizer.tokenizer is not None or vectorizer.preprocessor is not None or vectorizer.stop_words:
        return None
    if vectorizer.strip_accents not in (None, "ascii", "unicode"):  # both leave ASCII as it is
        return None
    return _PATTERNS.get(vectorizer.token_pattern)


def _bytes(docs: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The documents' UTF-8 bytes end to end, where each starts (its end last), and which are ASCII."""
    arr = pa.array(docs, type=pa.large_string())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[: len(docs) + 1]
    data_buffer = arr.buffers()[2]
    data = np.frombuffer(data_buffer, dtype=np.uint8)[: offsets[-1]] if data_buffer else np.empty(0, np.uint8)
    high = np.concatenate([[0], np.cumsum(data >= 128)])
    return data, offsets, high[offsets[1:]] == high[offsets[:-1]]


def _tokens(
    data: np.ndarray, offsets: np.ndarray, shortest: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each token's first byte, length and document: runs of word bytes (not crossing documents) at least
    ``shortest`` long."""
    word = _WORD[data]
    filled = offsets[:-1] < offsets[1:]
    before = np.zeros_like(word)  # whether the byte before is a word byte of the same document
    before[1:] = word[:-1]
    before[offsets[:-1][filled]] = False
    after = np.zeros_like(word)
    after[:-1] = word[1:]
    after[offsets[1:][filled] - 1] = False
    starts = np.flatnonzero(word & ~before)
    lengths = np.flatnonzero(word & ~after) + 1 - starts
    keep = lengths >= shortest
    starts, lengths = starts[keep], lengths[keep]
    return starts, lengths, np.searchsorted(offsets, starts, side="right") - 1


def _strings(text: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """The tokens as one Arrow array of strings (their bytes copied end to end)."""
    edges = np.zeros(len(text) + 1, dtype=np.int8)
    edges[starts] = 1
    ends = np.zeros(len(text) + 1, dtype=np.int8)
    ends[starts + lengths] = 1  # a token may end where the next document's first one starts
    inside = np.cumsum(edges - ends, dtype=np.int8)[:-1] > 0
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(text[inside]))]
    return pa.Array.from_buffers(pa.large_string(), len(starts), buffers)


class _Terms:
    """The vocabulary as words and, per n-gram size, its terms' keys: an n-gram is known when its words
    are and its key (their numbers as one integer, in base ``len(words)``) is a term's."""

    def __init__(self, vocabulary: dict[str, int], ngrams: tuple[int, int]) -> None:
        split = {term: term.split(" ") for term in vocabulary}
        words = sorted({w for parts in split.values() for w in parts})
        number = {w: i for i, w in enumerate(words)}
        self.words = pa.array(words, type=pa.large_string())
        self.base = max(len(words), 1)
        self.sizes = range(ngrams[0], ngrams[1] + 1)
        self.keys: dict[int, tuple[pa.Array, np.ndarray]] = {}
        for n in self.sizes:
            found = [(term, parts) for term, parts in split.items() if len(parts) == n]
            keys = [self._key([number[w] for w in parts]) for _, parts in found]
            columns = np.array([vocabulary[term] for term, _ in found], dtype=np.int64)
            self.keys[n] = (pa.array(keys, type=pa.int64()), columns)

    def _key(self, numbers: list[int]) -> int:
        key = 0
        for w in numbers:
            key = key * self.base + w
        return key

    def fits(self) -> bool:
        """Whether the longest n-gram's key fits in 63 bits."""
        return bool(self.base ** max(self.sizes) < 2**63)

    def known(self, word: np.ndarray, doc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(document, column) of every n-gram of the tokens (their word numbers, -1 for none) that is a
        term: n consecutive tokens of one document."""
        rows, cols = [], []
        for n in self.sizes:
            first = np.arange(max(len(word) - n + 1, 0))
            ok = doc[first] == doc[first + n - 1]
            key = np.zeros(len(first), dtype=np.int64)
            for k in range(n):
                w = word[first + k]
                ok &= w >= 0
                key = key * self.base + w
            first, key = first[ok], key[ok]
            keys, columns = self.keys[n]
            at = pc.fill_null(pc.index_in(pa.array(key), value_set=keys), -1).to_numpy()
            rows.append(doc[first[at >= 0]])
            cols.append(columns[at[at >= 0]])
        return np.concatenate(rows), np.concatenate(cols)


def _columns(vectorizer: Any, default: bool) -> Callable[[str], Iterable[int]]:
    """A document's terms' columns (-1: not a term), those of the vectorizer's analyzer in another order. For
    the default word analyzer, whose tokens are runs of word characters (never a space), an n-gram is looked
    up by its tokens as a tuple, whose strings were hashed once already, rather than joined into a new string
    in a Python loop; any other analyzer is the vectorizer's own."""
    get = vectorizer.vocabulary_.get
    if not default:
        analyze = vectorizer.build_analyzer()
        return lambda doc: map(get, analyze(doc), repeat(-1))
    grams = {tuple(term.split(" ")): j for term, j in vectorizer.vocabulary_.items() if " " in term}
    preprocess, tokenize = vectorizer.build_preprocessor(), vectorizer.build_tokenizer()
    low, high = int(vectorizer.ngram_range[0]), int(vectorizer.ngram_range[1])
    sizes = range(max(low, 2), high + 1)

    def columns(doc: str) -> Iterable[int]:
        tokens = tokenize(preprocess(doc))
        words = map(get, tokens, repeat(-1)) if low == 1 else ()
        tuples = (zip(*(tokens[k:] for k in range(n)), strict=False) for n in sizes)  # sliding windows
        return chain(words, *(map(grams.get, t, repeat(-1)) for t in tuples))

    return columns


def _entries(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> Entries:
    """The counts of (row, column) hits, in row order and each row's columns ascending."""
    key = rows * shape[1] + cols
    key.sort()
    edges = np.ones(len(key) + 1, dtype=bool)  # where each distinct hit starts, and the end
    np.not_equal(key[1:], key[:-1], out=edges[1:-1])
    at = np.flatnonzero(edges)
    row, col = np.divmod(key[at[:-1]], shape[1])
    return Entries(row, col, (at[1:] - at[:-1]).astype(np.float64), shape)


def text_counts(vectorizer: Any) -> Counts:
    """The vectorizer's term counts per document (before any weighting): a batch's ASCII documents over
    their bytes when its analysis is the default word analyzer, every other document through its own."""
    shortest = _shortest_token(vectorizer)
    vocabulary: dict[str, int] = vectorizer.vocabulary_
    columns = _columns(vectorizer, default=shortest is not None)
    lower = _LOWER if vectorizer.lowercase else np.arange(256, dtype=np.uint8)
    known = _Terms(vocabulary, (int(vectorizer.ngram_range[0]), int(vectorizer.ngram_range[1])))
    if not known.fits():
        shortest = None

    def bulk(docs: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(document, column) of every known n-gram of the ASCII documents, and which are not ASCII."""
        assert shortest is not None
        data, offsets, ascii_doc = _bytes(docs)
        starts, lengths, doc = _tokens(data, offsets, shortest)
        keep = ascii_doc[doc]
        tokens = _strings(lower[data], starts[keep], lengths[keep])
        word = pc.fill_null(pc.index_in(tokens, value_set=known.words), -1).to_numpy().astype(np.int64)
        rows, cols = known.known(word, doc[keep])
        return rows, cols, np.flatnonzero(~ascii_doc)

    def counts(docs: list[str]) -> Entries:
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        one_by_one: Sequence[int] = range(len(docs))
        if shortest is not None and len(docs) >= BULK:
            try:
                r, c, alone = bulk(docs)
                rows.append(r)
                cols.append(c)
                one_by_one = alone.tolist()
            except UnicodeEncodeError:  # a lone surrogate has no UTF-8 bytes: every document one by one
                pass
        hits: list[int] = []  # every term's column (-1: not a term), document after document
        owners: list[int] = []  # each one's document
        for i in one_by_one:
            hits.extend(columns(docs[i]))
            owners.extend(repeat(i, len(hits) - len(owners)))
        found = np.array(hits, dtype=np.int64)
        hit = found >= 0
        rows.append(np.array(owners, dtype=np.int64)[hit])
        cols.append(found[hit])
        r, c = (np.concatenate(rows), np.concatenate(cols)) if len(rows) > 1 else (rows[0], cols[0])
        return _entries(r, c, (len(docs), len(vocabulary)))

    return counts
