"""A window over a model without log files answers empty without opening a DuckDB connection."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlfactory.stores.predictions import LogWindow, PredictionReader, Window, window


def test_a_model_without_log_files_opens_no_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[object] = []
    real = window.connect
    monkeypatch.setattr(window, "connect", lambda: opened.append(1) or real())
    with LogWindow(PredictionReader(tmp_path / "log"), "m", Window(seconds=3600)) as empty:
        assert empty.groups() == [] and empty.parts(1, "production", []) == [] and empty.inputs == []
    assert opened == []
