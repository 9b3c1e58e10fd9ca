"""Checked rows: what a model is given, as typed columns or one float matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


class Batch:
    """Checked rows as typed columns: float64 for numbers, object for categories and text.

    When every input is numeric the rows are kept as one ``(n, k)`` float64 matrix. ``violations`` is set
    when rules were flagged rather than enforced: per row, None or the rules it broke.
    """

    __slots__ = ("_columns", "matrix", "n", "names", "nulls", "violations")

    def __init__(
        self,
        names: Sequence[str],
        *,
        matrix: np.ndarray | None = None,
        columns: dict[str, np.ndarray] | None = None,
        violations: np.ndarray | None = None,
    ) -> None:
        self.names = tuple(names)
        self.matrix = matrix
        self._columns = columns
        self.n = int(matrix.shape[0]) if matrix is not None else len(next(iter(columns.values())))  # type: ignore[union-attr]
        self.violations = violations
        self.nulls: dict[str, np.ndarray] | None = None  # missing text values (made empty), while checking

    @property
    def columns(self) -> dict[str, np.ndarray]:
        """Each input's values (views into the matrix when the rows are one)."""
        if self._columns is None:
            assert self.matrix is not None
            self._columns = {name: self.matrix[:, j] for j, name in enumerate(self.names)}
        return self._columns

    def frame(self) -> pd.DataFrame:
        """The rows as the DataFrame the model was trained on."""
        import pandas as pd  # only models that take a frame need it

        if self.matrix is not None:
            return pd.DataFrame(self.matrix, columns=list(self.names), copy=False)
        return pd.DataFrame(self.columns, copy=False)

    def take(self, index: np.ndarray) -> Batch:
        """The rows at ``index``, with their flagged rules."""
        flagged = None if self.violations is None else self.violations[index]
        if self.matrix is not None:
            return Batch(self.names, matrix=self.matrix[index], violations=flagged)
        return Batch(self.names, columns={k: v[index] for k, v in self.columns.items()}, violations=flagged)

    def flagged(self) -> list[list[str]] | None:
        """Per row, the declared rules it broke (empty for a row that broke none); None when nothing was
        flagged."""
        if self.violations is None:
            return None
        return [v or [] for v in self.violations.tolist()]

    @staticmethod
    def concat(batches: Sequence[Batch]) -> Batch:
        """Batches of the same inputs as one, in order (a single batch is returned as it is)."""
        if len(batches) == 1:
            return batches[0]
        first = batches[0]
        flagged = None
        if any(b.violations is not None for b in batches):
            flagged = np.concatenate(
                [np.full(b.n, None, dtype=object) if b.violations is None else b.violations for b in batches]
            )
        if all(b.matrix is not None for b in batches):
            return Batch(first.names, matrix=np.concatenate([b.matrix for b in batches]), violations=flagged)
        return Batch(
            first.names,
            columns={k: np.concatenate([b.columns[k] for b in batches]) for k in first.names},
            violations=flagged,
        )
