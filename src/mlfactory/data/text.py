"""Text views: the numbers a text column is monitored by, measured one way for a model's reference and for
every window of its prediction log.

Per document: its characters (code points), its words (runs of non-whitespace, as ``re``'s ``\\S+`` finds
them) and the share of its tokens outside a vocabulary (tokens: :data:`TOKEN_PATTERN` in the lowercased
document, as scikit-learn's ``CountVectorizer`` finds them, so vocabularies of stored references still
apply).

Each document is tokenized once. ASCII documents, most of most logs, are measured a batch at a time on their
lowercased UTF-8 bytes with numpy: over ASCII, Python's word and whitespace classes are fixed ranges of bytes
and lowercasing maps bytes (and changes no byte's class), so the counts are the ones ``re`` gives, not an
approximation. Tokens are looked up by their bytes in a hash set of the vocabulary's ASCII words
(:class:`Vocabulary`). Other documents (any byte above 127) go through ``re`` one by one, exactly as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlfactory import arrays

TOKEN_PATTERN = r"(?u)\b\w+\b"
TEXT_FEATURES = ("chars", "words", "oov_rate")
_TOKEN = re.compile(TOKEN_PATTERN)
_WORDS = re.compile(r"\S+")


# Python's ``\w`` and ``\s`` (str.isspace) restricted to ASCII bytes, as ranges: wrapping uint8 arithmetic
# makes each range one comparison (``b - low < size``)
_SPACE_RANGES = ((9, 5), (28, 5))  # \t \n \v \f \r, and \x1c \x1d \x1e \x1f and the space
_WORD_RANGES = ((ord("a"), 26), (ord("0"), 10), (ord("_"), 1))  # lowercase bytes: A-Z are lowered first


def _in_ranges(
    data: np.ndarray, ranges: tuple[tuple[int, int], ...], out: np.ndarray, work: np.ndarray
) -> None:
    """Mark in ``out`` the bytes that fall in any of ``ranges`` (first byte, size); ``work`` (uint8, as
    long as ``data``) is scratch."""
    for i, (low, size) in enumerate(ranges):
        np.subtract(data, np.uint8(low), out=work)
        if i == 0:
            np.less(work, size, out=out)
        else:
            flags = work.view(bool)
            np.less(work, size, out=flags)
            out |= flags


@dataclass(frozen=True, eq=False)  # an Arrow array inside: compared by identity
class Vocabulary:
    """A vocabulary prepared for lookups, once per reference.

    Attributes:
        words: every word.
        ascii_words: the ASCII ones as bytes (an Arrow array tokens are looked up in, by hash).
    """

    words: frozenset[str]
    ascii_words: pa.LargeBinaryArray

    @classmethod
    def of(cls, words: Iterable[str]) -> Vocabulary:
        """Prepare ``words`` (a reference's stored vocabulary)."""
        unique = frozenset(words)
        ascii_words = sorted(w for w in unique if w.isascii())
        return cls(unique, arrays.texts(ascii_words).cast(pa.large_binary()))

    def known(self, low: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Which tokens (lowercase ASCII bytes ``low[start:end]``, in order, not overlapping) are words of
        the vocabulary."""
        if not len(starts):
            return np.zeros(0, dtype=bool)
        bounds = np.empty(2 * len(starts), dtype=np.int64)
        bounds[0::2], bounds[1::2] = starts, ends
        # the tokens and the bytes between them as one binary array over ``low``, no bytes copied: the
        # tokens are its even items
        spans = pa.LargeBinaryArray.from_buffers(
            pa.large_binary(), len(bounds) - 1, [None, pa.py_buffer(bounds), pa.py_buffer(low)]
        )
        return arrays.booleans(pc.is_in(spans, value_set=self.ascii_words))[0::2]


def _utf8(docs: Any) -> tuple[pa.LargeStringArray, np.ndarray]:
    """The documents as one Arrow array (nulls as empty text) and which were present.

    Arrow text is taken as it is; any other column becomes text as pandas' ``astype(str)`` writes its
    values (pandas is imported only then: monitoring a log's text columns never loads it)."""
    if isinstance(docs, pa.ChunkedArray):
        docs = docs.combine_chunks()
    if isinstance(docs, pa.Array):
        kind = docs.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            present = arrays.valid(docs)
            text = docs.cast(pa.large_string())
            if text.null_count:
                zeros = pa.py_buffer(np.zeros(len(text) + 1, dtype=np.int64))
                empty = pa.Array.from_buffers(pa.large_string(), len(text), [None, zeros, pa.py_buffer(b"")])
                text = pc.coalesce(text, empty)
            return text, present
        docs = docs.to_pandas()
    import pandas as pd  # numbers or Python objects: written as text by pandas

    s = docs if isinstance(docs, pd.Series) else pd.Series(docs)
    present = s.notna().to_numpy()
    text = s.astype("str").where(s.notna(), "")
    arr = pa.array(text)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.large_string()), present


def _per_doc(positions: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per document (bytes ``offsets[i]`` to ``offsets[i + 1]``), how many of the sorted byte ``positions``
    fall in it."""
    return np.diff(np.searchsorted(positions, offsets, side="left")).astype("float64")


def _run_starts(member: np.ndarray, firsts: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Positions where a run of member bytes starts (a document's first byte starts one); ``out`` (bool,
    as long as ``member``) is scratch."""
    out[:1] = member[:1]
    np.greater(member[1:], member[:-1], out=out[1:])
    out[firsts] = member[firsts]
    return np.flatnonzero(out)


def _run_ends(member: np.ndarray, lasts: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Positions just past the end of each run of member bytes (a document's last byte ends one); ``out``
    is scratch."""
    out[-1:] = member[-1:]
    np.greater(member[:-1], member[1:], out=out[:-1])
    out[lasts] = member[lasts]
    return np.flatnonzero(out) + 1


def _bytes(arr: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
    """The array's documents' bytes as one numpy array, and where each document starts (and the last
    ends) in it."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data_buffer = arr.buffers()[2]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.empty(0, np.uint8)
    return data[offsets[0] : offsets[-1]], offsets - offsets[0]


def _byte_counts(arr: pa.LargeStringArray, vocabulary: Vocabulary) -> tuple[np.ndarray, ...]:
    """Per document, from its lowercased bytes: words, tokens, known tokens, and whether it is all ASCII."""
    low, offsets = _bytes(pc.ascii_lower(arr))
    filled = offsets[:-1] < offsets[1:]
    firsts, lasts = offsets[:-1][filled], offsets[1:][filled] - 1
    # every pass over the bytes writes into these: a new array as long costs a page fault per 4 KiB. The
    # ranges' scratch bytes share ``edges``, which no pass reads while the ranges are classed
    member, edges = np.empty(len(low), bool), np.empty(len(low), bool)
    work = edges.view(np.uint8)
    np.greater_equal(low, 128, out=edges)
    ascii_doc = _per_doc(np.flatnonzero(edges), offsets) == 0
    _in_ranges(low, _SPACE_RANGES, member, work)
    np.logical_not(member, out=member)
    words = _per_doc(_run_starts(member, firsts, edges), offsets)
    _in_ranges(low, _WORD_RANGES, member, work)
    starts = _run_starts(member, firsts, edges)
    known = vocabulary.known(low, starts, _run_ends(member, lasts, edges))
    return words, _per_doc(starts, offsets), _per_doc(starts[known], offsets), ascii_doc


def _by_re(docs: list[str], vocabulary: Vocabulary) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Words, tokens and known tokens of documents measured one by one with ``re``."""
    words, tokens, known = (np.empty(len(docs)) for _ in range(3))
    for i, doc in enumerate(docs):
        found = _TOKEN.findall(doc.lower())
        words[i] = len(_WORDS.findall(doc))
        tokens[i] = len(found)
        known[i] = sum(1 for t in found if t in vocabulary.words)
    return words, tokens, known


def text_views(docs: Any, vocabulary: Vocabulary | Iterable[str]) -> dict[str, np.ndarray]:
    """Per document: characters, words (whitespace-separated) and the share of tokens outside
    ``vocabulary`` (NaN for a document without tokens). Nulls stay NaN in every view.

    The reference and every window are measured with this function, so both sides agree. Pass a prepared
    :class:`Vocabulary` when measuring many batches against one vocabulary.
    """
    vocab = vocabulary if isinstance(vocabulary, Vocabulary) else Vocabulary.of(vocabulary)
    arr, present = _utf8(docs)
    chars = arrays.floats(pc.utf8_length(arr))
    words, tokens, known, ascii_doc = _byte_counts(arr, vocab)
    other = np.flatnonzero(~ascii_doc)
    if len(other):
        docs = [arr[i].as_py() for i in other.tolist()]  # measured one by one anyway
        words[other], tokens[other], known[other] = _by_re(docs, vocab)
    with np.errstate(divide="ignore", invalid="ignore"):
        oov = np.where(tokens > 0, 1.0 - known / tokens, np.nan)
    missing = ~present
    for view in (chars, words, oov):
        view[missing] = np.nan
    return {"chars": chars, "words": words, "oov_rate": oov}
