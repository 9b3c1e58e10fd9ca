"""The faster forms of the estimate's bootstrap interpolation and of the text views' token parts give the
very same numbers as the straightforward formulas they replaced (bit for bit, on seeded data): a stored
report must not change because monitoring got faster."""

from __future__ import annotations

import numpy as np
import pytest

from mlfactory.data.text import Vocabulary
from mlfactory.monitoring import build_calibration
from mlfactory.monitoring.estimate import EstimateCounts, _Replicates


def _straight_interp(grid: np.ndarray, values: np.ndarray, score: np.ndarray) -> np.ndarray:
    """The original formula, ``values`` as replicates × grid."""
    if len(grid) == 1:
        return np.repeat(values[:, :1], len(score), axis=1)
    i = np.clip(np.searchsorted(grid, score, side="right") - 1, 0, len(grid) - 2)
    f = np.clip((score - grid[i]) / (grid[i + 1] - grid[i]), 0.0, 1.0)
    return np.asarray(values[:, i] * (1.0 - f) + values[:, i + 1] * f)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("points", [1, 2, 33])
def test_interp_matches_the_straightforward_formula(seed: int, points: int) -> None:
    rng = np.random.default_rng(seed)
    grid = np.unique(rng.random(points))
    values = np.sort(rng.random((100, len(grid))), axis=1)  # replicates × grid
    score = np.concatenate([rng.uniform(-0.2, 1.2, 5000), grid])  # outside the grid and on its points
    got = _Replicates._interp(grid, np.ascontiguousarray(values.T), score)
    expected = _straight_interp(grid, values, score)
    np.testing.assert_array_equal(got, expected)
    if points > 1:  # the same layout, so sums over rows add in the same order
        assert got.strides == expected.strides
    for r in range(0, 100, 17):  # and it is np.interp, replicate by replicate
        np.testing.assert_allclose(got[r], np.interp(score, grid, values[r]), rtol=0, atol=1e-15)


def _straight_boot(counts: EstimateCounts, proba: np.ndarray, pred: np.ndarray, lab: np.ndarray) -> tuple:
    """The bootstrap sums as first written: every part's labelled columns selected and summed."""
    boot = counts.calibration.bootstrap
    assert boot is not None
    grids = [np.asarray(g, dtype="float64") for g in boot["grid"]]
    values = [np.asarray([rep[j] for rep in boot["replicates"]]) for j in range(len(grids))]
    correct, labelled = np.zeros(len(boot["replicates"])), np.zeros(len(boot["replicates"]))
    for part in np.array_split(np.arange(len(pred)), max(1, len(pred) // 4096)):
        if len(grids) == 1:
            p1 = _straight_interp(grids[0], values[0], proba[part, 1])
            right = np.where(pred[part] == 1, p1, 1.0 - p1)
        else:
            q = np.stack(
                [
                    _straight_interp(g, v, proba[part, j])
                    for j, (g, v) in enumerate(zip(grids, values, strict=True))
                ]
            )
            total = q.sum(axis=0)
            picked = q[pred[part], :, np.arange(len(part))].T
            right = np.divide(picked, total, out=np.full_like(total, 1.0 / len(grids)), where=total > 0)
        correct += right.sum(axis=1)
        labelled += right[:, lab[part]].sum(axis=1)
    return correct, labelled


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("labelled", ["none", "all", "some", "blocks"])
def test_bootstrap_sums_match_the_straightforward_loop(k: int, labelled: str) -> None:
    rng = np.random.default_rng(11 + k)
    logits = rng.normal(size=(600, k))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(k, p=p) for p in proba])
    calibration = build_calibration(labels, proba, list(range(k)))
    assert calibration is not None and calibration.bootstrap is not None
    n = 20_000
    window = rng.dirichlet(np.ones(k), size=n)
    pred = window.argmax(axis=1)
    truth = rng.integers(0, k, n)
    lab = {
        "none": np.zeros(n, bool),
        "all": np.ones(n, bool),
        "some": rng.random(n) < 0.3,
        "blocks": np.arange(n) // 4096 % 2 == 0,  # whole parts labelled, whole parts not
    }[labelled]
    counts = EstimateCounts([str(c) for c in range(k)], calibration)
    counts.add(pred, window, np.where(lab, truth, -1))
    correct, labelled_sums = _straight_boot(counts, window, pred, lab)
    if k == 2:  # summed through the grid weights: the same sums up to rounding
        np.testing.assert_allclose(counts.boot_correct, correct, rtol=1e-12, atol=0)
        np.testing.assert_allclose(counts.boot_labelled, labelled_sums, rtol=1e-12, atol=1e-9)
    else:
        np.testing.assert_array_equal(counts.boot_correct, correct)
        np.testing.assert_array_equal(counts.boot_labelled, labelled_sums)


@pytest.mark.parametrize("width", [1, 2, 5])
def test_known_tokens_are_exactly_the_words(width: int) -> None:
    """Tokens of 1 to 40 bytes, separated by one or more other bytes or by none (where one document ends
    and the next starts), against vocabularies of words up to ``8 * width`` bytes sharing prefixes: a
    token is known exactly when it is a word, whatever its length or neighbours."""
    rng = np.random.default_rng(width)
    letters = np.array(list("abcab_09"))
    words = {"".join(rng.choice(letters, size=rng.integers(1, 8 * width + 1))) for _ in range(300)}
    words |= {"ab", "a" * 8, "a" * 9, "b" * (8 * width), "é"}
    tokens = [
        *sorted(words - {"é"})[:150],
        *("".join(rng.choice(letters, size=rng.integers(1, 41))) for _ in range(3000)),
    ]
    tokens += ["a" * 8, "a" * 9, "a", "b" * (8 * width), "b" * (8 * width + 1), "b" * (8 * width - 1)]
    gaps = rng.choice(["", " ", ", ", "\n\t -"], size=len(tokens))
    data = np.frombuffer("".join(g + t for g, t in zip(gaps, tokens, strict=True)).encode(), dtype=np.uint8)
    lengths = np.array([len(t) for t in tokens])
    ends = np.cumsum([len(g) + n for g, n in zip(gaps, lengths, strict=True)])
    got = Vocabulary.of(words).known(data, ends - lengths, ends)
    np.testing.assert_array_equal(got, [t in words for t in tokens])
    assert not Vocabulary.of([]).known(data, ends - lengths, ends).any()
