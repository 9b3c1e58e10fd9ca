"""The project file (`mlfactory.yaml`) as pydantic models: the one place every setting and its default lives.

Configuration is built once at the edge (CLI, server factory) by :func:`load_project_config` and passed down.
Environment variables ``MLFACTORY_<SECTION>__<KEY>`` override the file, e.g.
``MLFACTORY_STORES__METADATA=postgresql+psycopg://postgres@127.0.0.1:5432/test``, and ``MLFACTORY_<KEY>`` a
top-level value, e.g. ``MLFACTORY_COMPUTE=ray://head:10001``.
"""

from mlfactory.config.base import (
    CLASSIFICATION_METRICS,
    ENV_PREFIX,
    LOWER_IS_BETTER,
    PROJECT_FILE,
    REGRESSION_METRICS,
    ColumnType,
    Duration,
    parse_duration,
    parse_size,
)
from mlfactory.config.data import ColumnSpec, SourceConfig
from mlfactory.config.loading import effective_settings, find_project_root, load_project_config
from mlfactory.config.models import (
    CompareConfig,
    FeaturesConfig,
    GateConfig,
    ModelConfig,
    PolicyConfig,
    RolloutConfig,
    SplitConfig,
    TriggersConfig,
)
from mlfactory.config.monitoring import AlertRuleConfig, ColumnDriftConfig, DriftMethod, MonitoringConfig
from mlfactory.config.project import (
    ArtifactCacheConfig,
    ControllerConfig,
    FeatureSplitConfig,
    FeatureStoreConfig,
    LoadedConfig,
    ProjectConfig,
    StoresConfig,
)
from mlfactory.config.serving import BatchingConfig, PredictionLogConfig, ServerConfig

__all__ = [
    "CLASSIFICATION_METRICS",
    "ENV_PREFIX",
    "LOWER_IS_BETTER",
    "PROJECT_FILE",
    "REGRESSION_METRICS",
    "AlertRuleConfig",
    "ArtifactCacheConfig",
    "BatchingConfig",
    "ColumnDriftConfig",
    "ColumnSpec",
    "ColumnType",
    "CompareConfig",
    "ControllerConfig",
    "DriftMethod",
    "Duration",
    "FeatureSplitConfig",
    "FeatureStoreConfig",
    "FeaturesConfig",
    "GateConfig",
    "LoadedConfig",
    "ModelConfig",
    "MonitoringConfig",
    "PolicyConfig",
    "PredictionLogConfig",
    "ProjectConfig",
    "RolloutConfig",
    "ServerConfig",
    "SourceConfig",
    "SplitConfig",
    "StoresConfig",
    "TriggersConfig",
    "effective_settings",
    "find_project_root",
    "load_project_config",
    "parse_duration",
    "parse_size",
]
