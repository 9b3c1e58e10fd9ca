"""Text views: the numbers a text column is monitored by, measured one way for a model's reference and for
every window of its prediction log.

Per document: its characters (code points), its words (runs of non-whitespace, as ``re``'s ``\\S+`` finds
them) and the share of its tokens outside a vocabulary (tokens: :data:`TOKEN_PATTERN` in the lowercased
document, as scikit-learn's ``CountVectorizer`` finds them, so vocabularies of stored references still
apply).

Each document is tokenized once. ASCII documents, most of most logs, are measured a batch at a time on their
UTF-8 bytes with numpy: over ASCII, Python's word and whitespace classes are fixed sets of bytes and
lowercasing maps bytes, so the counts are the ones ``re`` gives, not an approximation. A token is looked up
by its bytes read eight at a time (:class:`Vocabulary`); one longer than every ASCII word of the vocabulary
is outside it. Other documents (any byte above 127) go through ``re`` one by one, exactly as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TOKEN_PATTERN = r"(?u)\b\w+\b"
TEXT_FEATURES = ("chars", "words", "oov_rate")
_TOKEN = re.compile(TOKEN_PATTERN)
_WORDS = re.compile(r"\S+")
_MIX = np.uint64(0x9E3779B97F4A7C15)  # spreads a long token's 8-byte parts into one sortable key
_KEEP = np.array([(1 << (8 * r)) - 1 for r in range(9)], dtype=np.uint64)  # the low r bytes of a part


def _byte_set(members: bytes) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    table[np.frombuffer(members, dtype=np.uint8)] = True
    return table


# Python's ``\w`` and ``\s`` (str.isspace) restricted to ASCII
_WORD_BYTES = _byte_set(b"0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NON_SPACE_BYTES = ~_byte_set(b" \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f")
_LOWER = np.arange(256, dtype=np.uint8)
_LOWER[ord("A") : ord("Z") + 1] += 32


def _mixed(parts: list[np.ndarray]) -> np.ndarray:
    """One key per row of 8-byte parts (wrapping arithmetic; equal keys are checked part by part)."""
    key = parts[0].copy()
    for part in parts[1:]:
        key = key * _MIX + part
    return key


@dataclass(frozen=True, eq=False)  # arrays inside: compared by identity
class Vocabulary:
    """A vocabulary prepared for lookups, once per reference.

    Attributes:
        words: every word.
        keys: the ASCII words' keys (:func:`_mixed` of their parts), sorted.
        parts: ``width`` arrays: per key, its word's bytes as little-endian 8-byte parts, zero-padded.
        width: parts of the longest ASCII word.
        distinct: the distinct keys (an Arrow array, looked up by hash), and
        first: where each of them first occurs in ``keys``.
        ties: the most words sharing one key (1 unless two keys collide).
    """

    words: frozenset[str]
    keys: np.ndarray
    parts: tuple[np.ndarray, ...]
    width: int
    distinct: pa.Array
    first: np.ndarray
    ties: int

    @classmethod
    def of(cls, words: Iterable[str]) -> Vocabulary:
        """Prepare ``words`` (a reference's stored vocabulary)."""
        unique = frozenset(words)
        ascii_words = sorted(w for w in unique if w.isascii() and w)
        width = max(((len(w) + 7) // 8 for w in ascii_words), default=1)
        raw = b"".join(w.encode("ascii").ljust(8 * width, b"\0") for w in ascii_words)
        matrix = np.frombuffer(raw, dtype="<u8").reshape(len(ascii_words), width).astype(np.uint64)
        keys = _mixed(list(matrix.T))
        order = np.argsort(keys, kind="stable")
        parts = tuple(np.ascontiguousarray(matrix[order, j]) for j in range(width))
        distinct, first, counts = np.unique(keys[order], return_index=True, return_counts=True)
        ties = int(counts.max(initial=1))
        return cls(unique, keys[order], parts, width, pa.array(distinct), first, ties)

    def known(self, low: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Which tokens (lowercase ASCII bytes ``low[start:start + length]``) are words of the vocabulary."""
        if not len(self.keys) or not len(starts):
            return np.zeros(len(starts), dtype=bool)
        padded = np.zeros(len(low) + 8, dtype=np.uint8)
        padded[: len(low)] = low
        # every position's next 8 bytes as one little-endian integer (an overlapping view, no copy)
        eights = np.ndarray((len(low),), dtype="<u8", buffer=padded, strides=(1,))
        # a token longer than every word is cut short here, and left out below. Most tokens fit in their
        # first 8 bytes: only the ``long`` ones have further parts (0 for all others)
        head = eights[starts] & _KEEP[np.minimum(lengths, 8)]
        long = np.flatnonzero(lengths > 8)
        tails = _tails(eights, starts[long], lengths[long], self.width)
        keys = head * np.uint64(pow(int(_MIX), self.width - 1, 1 << 64))  # _mixed of (head, 0, …, 0)
        keys[long] = _mixed([head[long], *tails])
        found = pc.fill_null(pc.index_in(pa.array(keys), value_set=self.distinct), -1)
        at = found.to_numpy(zero_copy_only=False)
        hit = (at >= 0) & (lengths <= 8 * self.width)
        first = self.first[np.maximum(at, 0)]
        out = np.zeros(len(starts), dtype=bool)
        for tie in range(self.ties):  # a token is compared byte for byte with each word of its key
            where = np.minimum(first + tie, len(self.keys) - 1)
            same = hit & (self.parts[0][where] == head)
            if self.width > 1:  # a short token's other parts are 0: equal iff the word is short too
                same &= self.parts[1][where] == 0
                at_long = where[long]
                whole = hit[long] & (self.parts[0][at_long] == head[long])
                for mine, theirs in zip(tails, self.parts[1:], strict=True):
                    whole &= theirs[at_long] == mine
                same[long] = whole
            out |= same
        return out


def _tails(eights: np.ndarray, starts: np.ndarray, lengths: np.ndarray, width: int) -> list[np.ndarray]:
    """Parts 1 to ``width − 1`` of tokens longer than 8 bytes: bytes 8j to 8j + 8 as one integer, 0 past
    the token's end (``eights[start + 8j] & KEEP[clip(length − 8j, 0, 8)]``)."""
    last = len(eights) - 1
    return [
        eights[np.minimum(starts + 8 * j, last)] & _KEEP[np.clip(lengths - 8 * j, 0, 8)]
        for j in range(1, width)
    ]


def _utf8(docs: Any) -> tuple[pa.LargeStringArray, np.ndarray]:
    """The documents as one Arrow array (nulls as empty text) and which were present."""
    s = docs if isinstance(docs, pd.Series) else pd.Series(docs)
    present = s.notna().to_numpy()
    text = s.astype("str").where(s.notna(), "")
    arr = pa.array(text)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.large_string()), present


def _per_doc(positions: np.ndarray, offsets: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Per document (bytes ``offsets[i]`` to ``offsets[i + 1]``), how many of the sorted byte ``positions``
    fall in it (or the sum of their ``weights``)."""
    cut = np.searchsorted(positions, offsets, side="left")
    if weights is None:
        return np.diff(cut).astype("float64")
    total = np.concatenate([[0.0], np.cumsum(weights, dtype="float64")])
    return np.asarray(total[cut[1:]] - total[cut[:-1]], dtype="float64")


def _run_starts(member: np.ndarray, firsts: np.ndarray) -> np.ndarray:
    """Positions where a run of member bytes starts (a document's first byte starts one)."""
    start = member.copy()
    start[1:] &= ~member[:-1]
    start[firsts] = member[firsts]
    return np.flatnonzero(start)


def _run_ends(member: np.ndarray, lasts: np.ndarray) -> np.ndarray:
    """Positions just past the end of each run of member bytes (a document's last byte ends one)."""
    end = member.copy()
    end[:-1] &= ~member[1:]
    end[lasts] = member[lasts]
    return np.flatnonzero(end) + 1


def _byte_counts(arr: pa.LargeStringArray, vocabulary: Vocabulary) -> tuple[np.ndarray, ...]:
    """Per document, from its bytes: words, tokens, known tokens, and whether it is all ASCII."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data_buffer = arr.buffers()[2]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.empty(0, np.uint8)
    data = data[offsets[0] : offsets[-1]]
    offsets = offsets - offsets[0]
    ends = offsets[1:]
    filled = offsets[:-1] < ends
    firsts, lasts = offsets[:-1][filled], ends[filled] - 1
    ascii_doc = _per_doc(np.flatnonzero(data >= 128), offsets) == 0
    words = _per_doc(_run_starts(_NON_SPACE_BYTES[data], firsts), offsets)
    member = _WORD_BYTES[data]
    starts = _run_starts(member, firsts)
    lengths = _run_ends(member, lasts) - starts
    known = vocabulary.known(_LOWER[data], starts, lengths)
    return words, _per_doc(starts, offsets), _per_doc(starts, offsets, known), ascii_doc


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
    chars = pc.utf8_length(arr).to_numpy(zero_copy_only=False).astype("float64")
    words, tokens, known, ascii_doc = _byte_counts(arr, vocab)
    other = np.flatnonzero(~ascii_doc)
    if len(other):
        words[other], tokens[other], known[other] = _by_re(arr.take(other).to_pylist(), vocab)
    with np.errstate(divide="ignore", invalid="ignore"):
        oov = np.where(tokens > 0, 1.0 - known / tokens, np.nan)
    missing = ~present
    for view in (chars, words, oov):
        view[missing] = np.nan
    return {"chars": chars, "words": words, "oov_rate": oov}
