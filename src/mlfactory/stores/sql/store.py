"""The metadata store over SQLAlchemy: SQLite (WAL) by default, PostgreSQL by URL.

Each area lives in its own module as a mixin over :class:`SqlBase`; every method is one transaction.
"""

from __future__ import annotations

from mlfactory.stores.metadata import MetadataStore
from mlfactory.stores.sql.audits import AuditsMixin
from mlfactory.stores.sql.base import SqlBase
from mlfactory.stores.sql.control import ControlStoreMixin
from mlfactory.stores.sql.datasets import DatasetsMixin
from mlfactory.stores.sql.features import FeaturesMixin
from mlfactory.stores.sql.feedback import FeedbackMixin
from mlfactory.stores.sql.monitoring import MonitoringMixin
from mlfactory.stores.sql.registry import RegistryMixin
from mlfactory.stores.sql.routing import RoutingMixin
from mlfactory.stores.sql.runs import RunsMixin
from mlfactory.stores.sql.tokens import TokensMixin


class SqlMetadataStore(
    DatasetsMixin,
    RunsMixin,
    RegistryMixin,
    RoutingMixin,
    FeedbackMixin,
    FeaturesMixin,
    MonitoringMixin,
    ControlStoreMixin,
    TokensMixin,
    AuditsMixin,
    SqlBase,
    MetadataStore,
):
    """Metadata in one SQL database (SQLite or PostgreSQL)."""
