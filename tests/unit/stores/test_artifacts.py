from pathlib import Path

import pytest

from mlfactory.errors import ConfigError, IntegrityError, NotFoundError
from mlfactory.stores import LocalArtifactStore, open_artifact_store


def test_round_trip_and_content_addressing(artifacts: LocalArtifactStore, tmp_path: Path) -> None:
    d1 = artifacts.put_bytes(b"hello")
    assert artifacts.put_bytes(b"hello") == d1
    src = tmp_path / "f.bin"
    src.write_bytes(b"hello")
    assert artifacts.put_file(src) == d1
    assert artifacts.get_bytes(d1) == b"hello"
    assert artifacts.local_path(d1).read_bytes() == b"hello"
    assert not [p for p in artifacts.root.rglob(".tmp-*")]  # no temporary files left behind


def test_modified_artifact_is_refused_by_name(artifacts: LocalArtifactStore) -> None:
    digest = artifacts.put_bytes(b"model bytes")
    path = artifacts.root / digest[:2] / digest[2:]
    path.write_bytes(b"swapped bytes")
    with pytest.raises(IntegrityError, match=f"artifact {digest[:12]} .* was modified"):
        artifacts.get_bytes(digest)
    with pytest.raises(IntegrityError):
        artifacts.local_path(digest)


def test_missing_and_malformed_digests(artifacts: LocalArtifactStore) -> None:
    with pytest.raises(NotFoundError, match="missing"):
        artifacts.get_bytes("0" * 64)
    with pytest.raises(NotFoundError, match="not an artifact digest"):
        artifacts.get_bytes("../../etc/passwd")


def test_scheme_choice(tmp_path: Path) -> None:
    assert isinstance(open_artifact_store("file://" + str(tmp_path / "x"), tmp_path), LocalArtifactStore)
    assert open_artifact_store("rel", tmp_path).root == tmp_path / "rel"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="unsupported scheme 'ftp://'"):
        open_artifact_store("ftp://host/x", tmp_path)
