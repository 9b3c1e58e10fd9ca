"""Fixtures of the controller's unit tests (the fakes live in :mod:`unit.control.fakes`)."""

from collections.abc import Iterator

import pytest

from unit.control.fakes import World, new_world


@pytest.fixture
def world() -> Iterator[World]:
    w = new_world()
    yield w
    w.store.close()
