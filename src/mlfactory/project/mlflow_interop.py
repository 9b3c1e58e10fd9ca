"""The Project's methods that move models between mlfactory and MLflow, both ways.

``export_mlflow`` writes a version as an MLflow model directory (see :mod:`mlfactory.registry.mlflow_export`)
that ``mlflow models serve`` answers as mlfactory does; ``import_mlflow`` brings an MLflow registered model's
versions, runs and aliases into the registry (see :mod:`mlfactory.registry.mlflow_import`). Neither needs
the mlflow package: MLflow pins its own pandas and NumPy ranges.

An imported model need not be declared in ``mlfactory.yaml``: it is served from its aliases like any other
version (under ``reject`` for invalid input). Declaring it lends the import its ``label`` and
``trusted_types``, and is what ``mlfactory train`` needs to retrain it on mlfactory's own data.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlfactory.project.base import ProjectState

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.entities import ModelVersion
    from mlfactory.registry.mlflow_import import ImportReport

EXAMPLE_ROWS = 5


class MlflowMethods(ProjectState):
    """Export to and import from MLflow."""

    def _example_rows(self, version: ModelVersion) -> pd.DataFrame | None:
        """A few rows of the version's training data, as its input example (None when it has no dataset
        here, e.g. a version imported from MLflow, or its inputs include looked-up store features)."""
        from mlfactory.data.ingest import load_dataset

        if version.lineage.dataset is None:
            return None
        frame = load_dataset(self.registry.artifacts, self.metadata.get_dataset(version.lineage.dataset))
        names = version.signature.input_names
        if any(n not in frame.columns for n in names):
            return None
        return frame.loc[: EXAMPLE_ROWS - 1, names].reset_index(drop=True)

    def export_mlflow(self, ref: str, output: str | Path) -> Path:
        """Write the version ``ref`` (NAME/VERSION, NAME@ALIAS or NAME) as an MLflow model directory at
        ``output`` (new, or an empty folder); returns its path.

        Raises:
            NotFoundError: no such model, version or alias.
            ConflictError: ``output`` exists and holds something.
            IntegrityError: the stored model does not match its hash or its trusted types.
        """
        from mlfactory import __version__
        from mlfactory.registry.mlflow_export import export_model

        loaded = self.registry.load(ref)
        mv = loaded.version
        meta = {
            "mlfactory_version": __version__,
            "mlfactory_model": mv.ref,
            "mlfactory_artifact": mv.artifact,
            "mlfactory_run": mv.run_id,
            "mlfactory_task": mv.signature.task,
        }
        return export_model(loaded, Path(output), example=self._example_rows(mv), meta=meta)

    def import_mlflow(self, tracking_uri: str, model: str, *, trust: bool = False) -> ImportReport:
        """Register every version of MLflow's registered model ``model`` (read from the MLflow database at
        ``tracking_uri``, e.g. ``sqlite:///mlflow.db``) not imported before, as versions of the mlfactory
        model of the same name, with their runs, metrics, params, tags and aliases (``champion`` becomes
        ``production``).

        ``trust`` allows unpickling: a pickled model runs whatever code it holds when loaded, so it is
        loaded only from a store the caller trusts, then re-saved with skops.

        Raises:
            ConfigError: a pickled model without ``trust``; no scikit-learn model; no named inputs; the URI
                is no MLflow database.
            NotFoundError: MLflow has no such registered model.
            TrainingError: the model cannot be saved safely.
        """
        from mlfactory.registry.mlflow_import import Importer, import_registered_model
        from mlfactory.registry.mlflow_store import read_registered_model, shown_uri

        registered = read_registered_model(tracking_uri, model)
        declared = self.config.models.get(model)
        importer = Importer(
            registry=self.registry,
            tracking_uri=shown_uri(tracking_uri),
            trust=trust,
            extra_trusted=list(declared.trusted_types) if declared else [],
            label=declared.label if declared else "label",
            actor=self.actor,
        )
        return import_registered_model(importer, registered)
