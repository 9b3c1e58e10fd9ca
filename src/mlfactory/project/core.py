"""The Project: one project file, its stores, and the lifecycle operations over them."""

from __future__ import annotations

import getpass
import re
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mlfactory.config import LoadedConfig, ModelConfig, load_project_config
from mlfactory.entities import PRODUCTION, ApiToken, DatasetVersion, Event, ModelVersion, Role, Run, RunStatus
from mlfactory.errors import ConfigError, NotFoundError
from mlfactory.project.audits import AuditMethods
from mlfactory.project.deploy import DeployMethods
from mlfactory.project.lineage import LineageMethods
from mlfactory.project.log import LogMethods
from mlfactory.project.mlflow_interop import MlflowMethods
from mlfactory.project.monitor import MonitorMethods
from mlfactory.project.onnx import OnnxMethods
from mlfactory.project.operate import OperateMethods
from mlfactory.project.prune import PruneMethods
from mlfactory.project.storage import StorageMethods
from mlfactory.project.views import ViewMethods
from mlfactory.registry import Registry
from mlfactory.stores import open_artifact_store, open_metadata_store
from mlfactory.tracking import reap_runs, search_runs

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.data.ingest import IngestResult
    from mlfactory.features.store import FeatureStore
    from mlfactory.project.batch import OnBadRows, ProgressCallback
    from mlfactory.project.train import TrainResult
    from mlfactory.project.verify import VerifyReport
    from mlfactory.training import FeedbackRows


TOKEN_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


def default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class Project(
    AuditMethods,
    DeployMethods,
    LineageMethods,
    LogMethods,
    MlflowMethods,
    MonitorMethods,
    OnnxMethods,
    OperateMethods,
    PruneMethods,
    StorageMethods,
    ViewMethods,
):
    """An opened project. Use as a context manager, or call :meth:`close`.

    The one entrance to mlfactory for the CLI, the server's admin routes and any other client. Data,
    training, tokens and batch scoring are here; routing (:class:`~mlfactory.project.deploy.DeployMethods`),
    monitoring (:class:`~mlfactory.project.monitor.MonitorMethods`) and models, runs, events, the
    controller switch and feedback (:class:`~mlfactory.project.operate.OperateMethods`) come from one
    module per area.
    """

    def __init__(self, loaded: LoadedConfig, actor: str | None = None) -> None:
        self.loaded = loaded
        self.config = loaded.config
        self.root = loaded.root
        self.actor = actor or default_actor()
        self.metadata = open_metadata_store(loaded.metadata_url())
        self.artifacts = open_artifact_store(
            loaded.config.stores.artifacts,
            loaded.root,
            loaded.config.stores.storage_options,
            cache_max_size=loaded.config.stores.artifact_cache.limit(),
        )
        self.registry = Registry(self.metadata, self.artifacts)
        self._features: FeatureStore | None = None

    def close(self) -> None:
        if "compute" in self.__dict__:  # opened on first use (ProjectState.compute)
            self.compute.close()
        if self._features is not None:
            self._features.close()
        if "predictions" in self.__dict__:  # opened on first use (ProjectState.predictions)
            self.predictions.close()
        self.metadata.close()

    @property
    def features(self) -> FeatureStore:
        """The project's feature store (definitions from ``features.module``, online store by URL)."""
        if self._features is None:
            from mlfactory.features.store import FeatureStore

            self._features = FeatureStore(self.loaded, self.metadata, self.artifacts, compute=self.compute)
        return self._features

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()

    # -- configuration ----------------------------------------------------------------------------------

    def model_config(self, name: str | None = None) -> tuple[str, ModelConfig]:
        """The named model's settings, or the only model's when the project declares one."""
        models = self.config.models
        if not models:
            raise ConfigError("the project file declares no models; add one under 'models:'")
        if name is None:
            if len(models) > 1:
                raise ConfigError(f"the project declares several models ({', '.join(models)}); name one")
            name = next(iter(models))
        if name not in models:
            raise NotFoundError(f"no model '{name}' in the project file (models: {', '.join(models)})")
        return name, models[name]

    # -- data -------------------------------------------------------------------------------------------

    def ingest(self, source: str) -> IngestResult:
        """Snapshot a declared source into a dataset version (validated, profiled, hashed)."""
        from mlfactory.data.ingest import ingest  # pandas: only commands that read data pay for it

        return ingest(self.loaded, self.metadata, self.artifacts, source)

    def datasets(self, source: str | None = None) -> list[DatasetVersion]:
        return self.metadata.list_datasets(source)

    def dataset(self, ref: str) -> DatasetVersion:
        """A dataset version by id, ``SOURCE@N`` or ``SOURCE`` (its newest version)."""
        source, _, number = ref.partition("@")
        if not number and source not in self.config.sources:
            return self.metadata.get_dataset(ref)
        versions = self.metadata.list_datasets(source)
        if not versions:
            raise NotFoundError(
                f"source '{source}' has no dataset version yet; run `mlfactory ingest {source}`"
            )
        match = [d for d in versions if str(d.version) == number] if number else versions[-1:]
        if not match:
            raise NotFoundError(
                f"source '{source}' has no version {number} (versions: {[d.version for d in versions]})"
            )
        return match[0]

    # -- access ------------------------------------------------------------------------------------------

    def create_token(self, name: str, role: Role | str) -> str:
        """Create a named API token with a role; returns its secret, which is shown this once and never
        stored (only its SHA-256 is)."""
        try:
            kind = Role(role)
        except ValueError:
            raise ConfigError(
                f"'{role}' is not a role; choose one of {', '.join(r.value for r in Role)}"
            ) from None
        if not TOKEN_NAME.match(name):
            raise ConfigError(f"token name '{name}' must be letters, digits, '-', '_' or '.' (at most 128)")
        secret = ApiToken.new_secret()
        self.metadata.add_token(name, kind, ApiToken.digest(secret), actor=self.actor)
        return secret

    def tokens(self) -> list[ApiToken]:
        return self.metadata.list_tokens()

    def revoke_token(self, name: str, *, reason: str = "") -> Event:
        return self.metadata.revoke_token(name, actor=self.actor, reason=reason)

    def verify(self) -> VerifyReport:
        """Check every stored artifact's hash and every reference between the stores (`mlfactory verify`)."""
        from mlfactory.project.verify import verify_project

        return verify_project(self)

    # -- training and tracking ---------------------------------------------------------------------------

    def train(
        self,
        model: str | None = None,
        *,
        dataset: str | None = None,
        allow_invalid: bool = False,
        feedback: FeedbackRows | None = None,
        max_rows: int | None = None,
        actor: str | None = None,
        search_timeout: float | None = None,
    ) -> TrainResult:
        """Train, evaluate, gate and register a model; see :func:`mlfactory.project.train.train_model`."""
        from mlfactory.project.train import train_model

        return train_model(
            self,
            model,
            dataset=dataset,
            allow_invalid=allow_invalid,
            feedback=feedback,
            max_rows=max_rows,
            actor=actor,
            search_timeout=search_timeout,
        )

    def runs(
        self,
        *,
        where: str | None = None,
        name: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        archived: bool = False,
    ) -> list[Run]:
        """Runs, newest first, optionally filtered (see :func:`mlfactory.tracking.filter_runs`); archived
        ones (`mlfactory prune`) only when ``archived``. Runs still marked running whose process on this
        machine is gone are marked failed first (:func:`reap_runs`)."""
        reap_runs(self.metadata)
        state = RunStatus(status) if status else None
        if where:
            return search_runs(
                self.metadata, where, name=name, status=state, limit=limit, include_archived=archived
            )
        return self.metadata.list_runs(name=name, status=state, limit=limit, include_archived=archived)

    # -- registry ---------------------------------------------------------------------------------------

    def promote(
        self, name: str, version: int, *, alias: str = PRODUCTION, reason: str = "", force: bool = False
    ) -> Event:
        return self.registry.promote(name, version, alias=alias, actor=self.actor, reason=reason, force=force)

    def rollback(self, name: str, *, alias: str = PRODUCTION, reason: str = "") -> Event:
        return self.registry.rollback(name, alias=alias, actor=self.actor, reason=reason)

    # -- batch scoring ----------------------------------------------------------------------------------

    def predict_file(
        self,
        ref: str,
        input_path: Path | str,
        output_path: Path | str,
        *,
        on_bad_rows: OnBadRows = "report",
        batch_rows: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Score a Parquet or CSV file, a folder of them or a partitioned dataset (a path, relative to the
        working folder, or an object-storage URL) in record batches; writes the input plus prediction columns
        to a ``.parquet``/``.csv`` file or a folder of Parquet parts. See :mod:`mlfactory.project.batch`.

        Args:
            ref: the model version (``NAME@ALIAS``, ``NAME/VERSION`` or ``NAME``).
            input_path: what to score.
            output_path: where the scored rows go.
            on_bad_rows: ``fail``, ``skip`` or ``report`` (to ``<output>.rejected.parquet``) a row failing
                its input check.
            batch_rows: rows scored together (memory follows this, not the input's size); 65,536 if None.
            progress: called after each batch with the rows done so far.

        Returns:
            ``model``, ``rows`` (scored), ``output``, ``rows_in``, ``bad_rows``, ``parts``, ``rejected`` and
            ``seconds``.
        """
        from mlfactory.project.batch import DEFAULT_BATCH_ROWS, open_place, score_dataset
        from mlfactory.project.batch_ray import RayScoring, ray_to_score, score_on_ray

        version = self.registry.resolve(ref)
        options = self.config.stores.storage_options
        if (ray := ray_to_score(self.compute, version)) is not None:
            job = RayScoring(
                version, self.config.stores.artifacts, self.root, options, str(input_path), Path.cwd(),
                on_bad_rows, batch_rows or DEFAULT_BATCH_ROWS,
            )  # fmt: skip
            return score_on_ray(ray, job, str(output_path), progress=progress).to_dict()
        model = self.registry.load(version)
        result = score_dataset(
            model,
            open_place(input_path, Path.cwd(), options),
            open_place(output_path, Path.cwd(), options),
            enrich=lambda frame: self._with_store_features(model.version, frame),
            dates=self._timestamp_column(model.version),
            on_bad_rows=on_bad_rows,
            batch_rows=batch_rows or DEFAULT_BATCH_ROWS,
            progress=progress,
        )
        return result.to_dict()

    def _timestamp_column(self, version: ModelVersion) -> tuple[str, ...]:
        """The column a feature-service version's point-in-time join reads as its rows' times, if declared."""
        declared = self.loaded.config.models.get(version.name)
        stamp = declared.timestamp if declared is not None and version.signature.feature_service else None
        return (stamp,) if stamp else ()

    def _with_store_features(self, version: ModelVersion, frame: pd.DataFrame) -> pd.DataFrame:
        """For a version that looks features up when served, the rows with those features joined point-in-time
        (at the model's timestamp column when the rows carry it, else now); columns the rows carry win."""
        if not version.signature.feature_service:
            return frame
        import pandas as pd

        from mlfactory.features.spec import ServiceSpec

        spec = ServiceSpec.from_signature(version.signature)
        if spec is None or all(f in frame.columns for f in spec.features):
            return frame
        declared = self.loaded.config.models.get(version.name)
        ts = declared.timestamp if declared is not None and declared.timestamp in frame.columns else None
        feats = self.features.features_for(spec, frame, ts)
        feats = feats.drop(columns=[c for c in feats.columns if c in frame.columns])
        return pd.concat([feats, frame], axis=1)


def open_project(
    path: Path | str | None = None, *, env: Mapping[str, str] | None = None, actor: str | None = None
) -> Project:
    """Open the project at ``path`` (or the nearest one above the working folder)."""
    return Project(load_project_config(path, env), actor=actor)
