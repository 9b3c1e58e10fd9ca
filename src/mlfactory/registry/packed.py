"""Large string→integer dicts (a text vectorizer's ``vocabulary_``) stored as three arrays beside skops.

skops writes every value of a dict as its own node: a fitted ``TfidfVectorizer`` with a 50,000-term
vocabulary becomes 50,000 one-number ``.npy`` files in its zip, plus 50,000 key-type nodes in its schema,
and skops lists the zip's entries again before writing each file, so saving grows with the square of the
vocabulary (minutes at 50,000 terms, hours at 500,000) and loading rebuilds every node.

A *packed* artifact is instead a zip (stored, uncompressed) of:

- ``mlfactory-model.json``, the manifest, always the first entry (so the format is recognised from the
  first bytes);
- ``model.skops``: the estimator as skops writes it, with each large vocabulary replaced by a placeholder
  string, so skops' trusted-type audit still covers every object;
- per vocabulary, ``vocabulary-<i>/keys.utf8`` (all terms concatenated), ``offsets.npy`` (where each term
  starts, in characters, and where the last ends) and ``values.npy`` (its integer, in the dict's order),
  read back with ``allow_pickle=False`` and checked for shape, dtype and consistency.

The entry count depends on the number of vocabularies, never on their size. The estimator itself is not
modified: placeholders go into a copy that shares its arrays. A vectorizer's ``stop_words_`` (scikit-learn
< 1.9: every term dropped by ``min_df``/``max_df``/``max_features``, documented as "only for introspection
and can be safely removed ... before pickling") is left out of the copy as well.
"""

from __future__ import annotations

import copy
import io
import itertools
import json
import secrets
import types
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlfactory.errors import IntegrityError
from mlfactory.registry.archive import opened, starts_with_entry, write_stored

MANIFEST = "mlfactory-model.json"
MODEL_ENTRY = "model.skops"
FORMAT = "mlfactory-packed-skops"
FORMAT_VERSION = 1
MIN_ENTRIES = 1_000  # smaller dicts cost skops little; they stay inside its archive
_SKIP = (str, bytes, int, float, complex, bool, type(None), np.generic, np.ndarray, type, types.ModuleType)
_CALLABLES = (types.FunctionType, types.BuiltinFunctionType, types.MethodType)


@dataclass
class _Vocabulary:
    placeholder: str
    keys: bytes
    offsets: np.ndarray
    values: np.ndarray
    value_type: str  # "int" (Python ints) or the NumPy dtype name of the values


@dataclass
class Stripped:
    """The estimator to hand to skops, and what was taken out of it."""

    estimator: Any
    vocabularies: list[_Vocabulary] = field(default_factory=list)
    dropped_stop_words: int = 0

    @property
    def packed(self) -> bool:
        return bool(self.vocabularies)


def _encode(d: dict[Any, Any]) -> tuple[bytes, np.ndarray, np.ndarray, str] | None:
    """``d`` as (utf-8 keys, character offsets, values, value type), or None when it is not packable."""
    if type(d) is not dict or len(d) < MIN_ENTRIES:
        return None
    if not all(type(k) is str for k in d):
        return None
    value_types = {type(v) for v in d.values()}
    if len(value_types) != 1:
        return None
    (vt,) = value_types
    if vt is int:
        dtype: np.dtype[Any] = np.dtype(np.int64)
        value_type = "int"
    elif issubclass(vt, np.integer):
        dtype = np.dtype(vt)
        value_type = dtype.name
    else:
        return None
    try:
        values = np.fromiter(d.values(), dtype=dtype, count=len(d))
    except OverflowError:
        return None
    offsets = np.zeros(len(d) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, d), dtype=np.int64, count=len(d)), out=offsets[1:])
    # surrogatepass: terms decoded with errors="surrogateescape" hold lone surrogates; keep them exactly
    return "".join(d).encode("utf-8", "surrogatepass"), offsets, values, value_type


def _children(x: Any) -> list[Any]:
    if isinstance(x, (list, tuple)):
        return list(x)
    if isinstance(x, dict):
        return list(x.values())
    if isinstance(x, _CALLABLES):
        return []
    state = getattr(x, "__dict__", None)
    return list(state.values()) if isinstance(state, dict) else []


def strip(estimator: Any) -> Stripped:
    """A copy of ``estimator`` with large vocabularies replaced by placeholders (the estimator if none)."""
    from sklearn.feature_extraction.text import CountVectorizer

    nonce = secrets.token_hex(16)  # placeholders cannot collide with a string the model already holds
    memo: dict[int, Any] = {}
    vocabularies: list[_Vocabulary] = []
    dropped = 0
    seen: set[int] = set()
    stack = [estimator]
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, np.ndarray):
            memo[id(x)] = x  # the copy shares the arrays (the bulk of a model) rather than duplicate them
            continue
        if isinstance(x, _SKIP):
            continue
        encoded = _encode(x) if isinstance(x, dict) else None
        if encoded is not None:
            placeholder = f"<mlfactory:packed-vocabulary:{nonce}:{len(vocabularies)}>"
            memo[id(x)] = placeholder
            vocabularies.append(_Vocabulary(placeholder, *encoded))
            continue
        if isinstance(x, CountVectorizer) and isinstance(getattr(x, "stop_words_", None), (set, frozenset)):
            memo[id(x.stop_words_)] = None
            dropped += len(x.stop_words_)
        stack.extend(reversed(_children(x)))
    if not vocabularies and not dropped:
        return Stripped(estimator)
    return Stripped(copy.deepcopy(estimator, memo), vocabularies, dropped)


def substitute(root: Any, table: dict[str, Any]) -> tuple[Any, Counter[str]]:
    """Replace every string in ``table`` reachable from ``root`` (in place; tuples are rebuilt).

    Returns the (possibly new) root and how many times each string was replaced.
    """
    counts: Counter[str] = Counter()
    done: dict[int, Any] = {}

    def visit(x: Any) -> Any:
        if type(x) is str:
            if x in table:
                counts[x] += 1
                return table[x]
            return x
        if isinstance(x, (*_SKIP, *_CALLABLES)):
            return x
        if id(x) in done:
            return done[id(x)]
        done[id(x)] = x
        if type(x) is tuple:
            new = tuple(visit(v) for v in x)
            if any(a is not b for a, b in zip(new, x, strict=True)):
                done[id(x)] = new
                return new
            return x
        if isinstance(x, list):
            _replace_in(x, enumerate(x), visit)
        elif isinstance(x, dict):
            _replace_in(x, x.items(), visit)
        elif isinstance(state := getattr(x, "__dict__", None), dict):
            _replace_in(state, state.items(), visit)
        return x

    return visit(root), counts


def _replace_in(target: Any, items: Iterable[tuple[Any, Any]], visit: Callable[[Any], Any]) -> None:
    """Put each item ``visit`` replaced back into ``target``: a list, a dict or an object's ``__dict__``."""
    for k, v in list(items):  # listed first: the target changes while it is walked
        nv = visit(v)
        if nv is not v:
            target[k] = nv


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def pack(stripped: Stripped, skops_bytes: bytes) -> bytes | None:
    """The packed artifact, or None when a placeholder is somewhere this module cannot put it back."""
    with zipfile.ZipFile(io.BytesIO(skops_bytes)) as z:
        schema = z.read("schema.json").decode()
    _, reachable = substitute(
        stripped.estimator, {v.placeholder: v.placeholder for v in stripped.vocabularies}
    )
    entries = []
    for v in stripped.vocabularies:
        # skops wrote each placeholder once per reference; every one must be where load will look for it
        if schema.count(v.placeholder) != reachable[v.placeholder]:
            return None
        entries.append(
            {
                "placeholder": v.placeholder,
                "entries": len(v.values),
                "characters": int(v.offsets[-1]),
                "value_type": v.value_type,
                "occurrences": reachable[v.placeholder],
            }
        )
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "model": MODEL_ENTRY,
        "vocabularies": entries,
        "dropped_stop_words": stripped.dropped_stop_words,
    }
    files = [(MANIFEST, json.dumps(manifest, indent=1).encode()), (MODEL_ENTRY, skops_bytes)]
    for i, v in enumerate(stripped.vocabularies):
        files.append((f"vocabulary-{i}/keys.utf8", v.keys))
        files.append((f"vocabulary-{i}/offsets.npy", _npy(v.offsets)))
        files.append((f"vocabulary-{i}/values.npy", _npy(v.values)))
    return write_stored(files)


def is_packed(data: bytes) -> bool:
    """Whether ``data`` is a packed artifact: a zip whose first entry is the manifest."""
    return starts_with_entry(data, MANIFEST)


def _inconsistent(label: str, why: str) -> IntegrityError:
    return IntegrityError(f"{label}'s packed model artifact is inconsistent ({why}); refusing to load")


@dataclass
class Unpacked:
    """A packed artifact opened: the skops bytes to audit and load, and how to finish the loaded model."""

    skops_bytes: bytes
    manifest: dict[str, Any]
    archive: zipfile.ZipFile
    label: str

    def _bad(self, why: str) -> IntegrityError:
        return _inconsistent(self.label, why)

    def _array(self, name: str) -> np.ndarray:
        try:
            a = np.load(io.BytesIO(self.archive.read(name)), allow_pickle=False)
        except (KeyError, ValueError, OSError) as exc:
            raise self._bad(f"{name}: {exc}") from None
        if not isinstance(a, np.ndarray) or a.ndim != 1 or a.dtype.kind not in "iu":
            raise self._bad(f"{name} is not a one-dimensional integer array")
        return a

    def _vocabulary(self, i: int, spec: dict[str, Any]) -> dict[str, Any]:
        n, chars, value_type = spec["entries"], spec["characters"], spec["value_type"]
        try:
            text = self.archive.read(f"vocabulary-{i}/keys.utf8").decode("utf-8", "surrogatepass")
        except (KeyError, UnicodeDecodeError) as exc:
            raise self._bad(f"vocabulary {i} terms: {exc}") from None
        offsets, values = (
            self._array(f"vocabulary-{i}/offsets.npy"),
            self._array(f"vocabulary-{i}/values.npy"),
        )
        if len(text) != chars or len(offsets) != n + 1 or len(values) != n:
            raise self._bad(f"vocabulary {i} does not have {n} terms of {chars} characters")
        if offsets[0] != 0 or offsets[-1] != chars or (n and np.diff(offsets).min() < 0):
            raise self._bad(f"vocabulary {i} has term offsets out of order")
        if values.dtype.name != ("int64" if value_type == "int" else value_type):
            raise self._bad(f"vocabulary {i} values are {values.dtype.name}, the manifest says {value_type}")
        keys = [text[a:b] for a, b in itertools.pairwise(offsets.tolist())]
        vocabulary = dict(zip(keys, values.tolist() if value_type == "int" else list(values), strict=True))
        if len(vocabulary) != n:
            raise self._bad(f"vocabulary {i} repeats terms")
        return vocabulary

    def restore(self, estimator: Any) -> Any:
        """Put the vocabularies back into the estimator skops loaded."""
        specs = self.manifest["vocabularies"]
        table = {spec["placeholder"]: self._vocabulary(i, spec) for i, spec in enumerate(specs)}
        estimator, counts = substitute(estimator, table)
        for spec in specs:
            if counts[spec["placeholder"]] != spec["occurrences"]:
                found = counts[spec["placeholder"]]
                raise self._bad(f"a vocabulary was found {found} times, expected {spec['occurrences']}")
        return estimator


def unpack(data: bytes, label: str) -> Unpacked:
    """Open a packed artifact, checking its manifest."""

    def bad(why: str) -> IntegrityError:
        return _inconsistent(label, why)

    archive, manifest = opened(data, MANIFEST, FORMAT, FORMAT_VERSION, "packed", label, bad)
    try:
        skops_bytes = archive.read(MODEL_ENTRY)
    except KeyError as exc:
        raise bad(str(exc)) from None
    specs = manifest.get("vocabularies")
    keys = {"placeholder": str, "entries": int, "characters": int, "value_type": str, "occurrences": int}
    if not isinstance(specs, list) or not all(
        isinstance(s, dict) and all(isinstance(s.get(k), t) for k, t in keys.items()) for s in specs
    ):
        raise bad(f"{MANIFEST} has malformed vocabulary entries")
    return Unpacked(skops_bytes, manifest, archive, label)
