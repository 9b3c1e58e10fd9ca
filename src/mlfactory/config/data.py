"""Sources and their declared columns."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlfactory.config.base import ColumnType, _Strict


class ColumnSpec(_Strict):
    """A declared column: its type and the checks ingestion applies."""

    type: ColumnType
    nullable: bool = True
    max_null_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None


class SourceConfig(_Strict):
    """A named, documented input: a file, a folder of files, or a SQL query."""

    kind: Literal["csv", "parquet", "folder", "sql"]
    path: str | None = None
    query: str | None = None
    url: str | None = None
    owner: str = "unknown"
    description: str = ""
    columns: dict[str, ColumnSpec] | None = Field(
        default=None, description="declared schema; inferred from the first valid snapshot when omitted"
    )
    max_null_rate: float = Field(default=0.5, ge=0.0, le=1.0)
    key: list[str] | None = Field(
        default=None,
        description="columns that identify a row (e.g. [message_id]); training keeps one row per key and "
        "leaves out labelled traffic whose key the dataset already has",
    )

    @model_validator(mode="after")
    def _kind_needs(self) -> SourceConfig:
        if self.kind == "sql":
            if not self.query or not self.url:
                raise ValueError("a source of kind 'sql' needs both 'query' and 'url'")
        elif not self.path:
            raise ValueError(f"a source of kind '{self.kind}' needs 'path'")
        return self
