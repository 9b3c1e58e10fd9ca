"""Exporting a model version to ONNX, checked against the model on the version's own holdout.

The rows are the version's holdout rebuilt by training's own step (:func:`mlfactory.project.train.prepare`)
from what its lineage recorded: its dataset version and its ``max_rows`` window, so the graph is judged on
the rows the version was judged on. Labelled traffic it trained on is left out here (reading it back belongs
to the controller, above this layer); it only moves which rows fall in the holdout, and any rows of the
version's data serve to compare two runtimes of one model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from mlfactory.errors import ExportError
from mlfactory.project.base import ProjectState

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.entities import Lineage, Signature
    from mlfactory.project.core import Project


@dataclass(frozen=True)
class OnnxExport:
    """What ``export_onnx`` wrote and how closely the graph answered like the model.

    Attributes:
        ref: the version exported (``name/version``).
        output: where the graph was written (path, or URL without credentials).
        sha256: the graph's SHA-256.
        size: its size in bytes.
        rows_checked: holdout rows both answered.
        max_abs_diff: the largest difference of a class probability (a regressor's prediction) seen.
        tolerance: the largest difference allowed.
    """

    ref: str
    output: str
    sha256: str
    size: int
    rows_checked: int
    max_abs_diff: float
    tolerance: float


def with_onnx(
    project: Project,
    name: str,
    holdout: pd.DataFrame,
    estimator: Any,
    signature: Signature,
    lineage: Lineage,
    tolerance: float,
) -> Lineage:
    """``lineage`` with the version's ONNX graph (stored as an artifact) and its check on ``holdout``, for a
    model served as ONNX; ExportError, so no registration, when the graph cannot be made or answers
    differently."""
    from mlfactory.registry.onnx import LINEAGE_KEY, export_checked

    label = f"the new version of '{name}'"
    checked = export_checked(estimator, signature, holdout, tolerance=tolerance, label=label)
    digest = project.artifacts.put_bytes(checked.data)
    return dataclasses.replace(lineage, extra={**lineage.extra, LINEAGE_KEY: checked.record(digest)})


class OnnxMethods(ProjectState):
    """The Project's ONNX export."""

    def export_onnx(self, ref: str, output: str | Path, *, tolerance: float = 1e-4) -> OnnxExport:
        """Write version ``ref`` as an ONNX graph to ``output`` (a path, or an object URL such as
        ``s3://bucket/spam.onnx``), after checking it answers like the model on the version's holdout.

        Raises:
            NotFoundError: no such version, or its dataset version is gone.
            ExportError: a step has no ONNX converter, or the graph's answers differ beyond ``tolerance``
                (the message names how many holdout rows and the first of them).
            ConfigError: the onnx extra is not installed, or ``output`` names a folder.
        """
        import hashlib

        from mlfactory.project.train import prepare
        from mlfactory.registry.onnx import export_checked
        from mlfactory.stores.fs import put_url

        project = cast("Project", self)  # the mixin is only ever part of a Project
        version = self.registry.resolve(ref)
        lineage = version.lineage
        if lineage.dataset is None:
            raise ExportError(f"{version.ref} records no dataset version, so its holdout cannot be rebuilt")
        rows = prepare(
            project,
            version.name,
            dataset=lineage.dataset,
            allow_invalid=True,  # the version was trained on it; exporting it blocks nothing
            feedback=None,
            max_rows=lineage.max_rows,
        ).holdout
        loaded = self.registry.load(version)
        checked = export_checked(
            loaded.estimator, version.signature, rows, tolerance=tolerance, label=version.ref
        )
        where = put_url(str(output), checked.data, Path.cwd(), self.config.stores.storage_options)
        a = checked.agreement
        return OnnxExport(
            version.ref,
            where,
            hashlib.sha256(checked.data).hexdigest(),
            len(checked.data),
            a.rows,
            a.max_abs_diff,
            a.tolerance,
        )
