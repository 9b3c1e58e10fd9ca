"""Models written in the project (:mod:`mlfactory.estimators.project_class`) saved as data and their own code,
never pickle.

A project model saves itself into a folder as ``.safetensors`` weights and ``.json`` settings; any other
file (a pickle above all) is refused when the version is saved, naming the file. The artifact is a zip
(stored, uncompressed) of:

- ``mlfactory-project-model.json``, the manifest, always the first entry (so the format is recognised from
  the first bytes): the format and its version, the class's import path, the module's file and the SHA-256 of
  its text, the params, and the SHA-256 of every other entry;
- ``source/<module file>``: the module's text, exactly as it was when the version was trained;
- ``files/<name>``: each file the class saved.

Loading checks every entry against its hash in the manifest (the whole artifact's hash is checked by the
artifact store before), so a changed weights file or module is refused with an IntegrityError. The class is
then imported from the stored text under a module name made from its hash: a version runs the code it was
trained with, and two versions whose code differs load side by side. Its ``load`` gets the saved files in a
temporary folder, removed once it returns (so ``load`` reads everything it needs before returning).
"""

from __future__ import annotations

import json
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from mlfactory.errors import IntegrityError, MLFactoryError, TrainingError
from mlfactory.estimators.project_class import ModuleSource, ProjectModel
from mlfactory.registry.archive import opened, sha256, starts_with_entry, verified_entries, write_stored

MANIFEST = "mlfactory-project-model.json"
FORMAT = "mlfactory-project-model"
FORMAT_VERSION = 1
SAFE_SUFFIXES = (".safetensors", ".json")
_SOURCE = "source/"
_FILES = "files/"


def _saved_files(folder: Path, label: str) -> dict[str, bytes]:
    """Every file the class wrote under ``folder``, by its relative path; anything but a regular
    ``.safetensors`` or ``.json`` file is refused, named."""
    files: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_dir() and not path.is_symlink():
            continue
        if path.is_symlink() or not path.is_file() or path.suffix not in SAFE_SUFFIXES:
            raise TrainingError(
                f"{label}'s save() wrote '{name}'; a project model may save only .safetensors (weights) and "
                ".json (settings) files, never pickle or other code-carrying formats: save it as one of those"
            )
        files[name] = path.read_bytes()
    return files


def pack(model: ProjectModel) -> bytes:
    """The artifact of a fitted project model: the manifest, the module's text and the files it saved."""
    label = model.import_path
    if model.fitted is None:
        raise TrainingError(f"{label} is not fitted; only a fitted model is saved")
    with tempfile.TemporaryDirectory(prefix="mlfactory-model-") as folder:
        try:
            model.fitted.save(Path(folder))
        except Exception as exc:  # the project's own code
            raise TrainingError(f"{label}.save() failed: {type(exc).__name__}: {exc}") from exc
        files = _saved_files(Path(folder), label)
    entries = {_SOURCE + model.source.path: model.source.text.encode()}
    entries |= {_FILES + name: data for name, data in files.items()}
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "class": model.import_path,
        "module": model.source.path,
        "module_sha256": model.source.sha256,
        "params": model.params,
        "sha256": {name: sha256(data) for name, data in entries.items()},
    }
    try:
        manifest_bytes = json.dumps(manifest, indent=1).encode()
    except TypeError as exc:
        raise TrainingError(f"{label}'s params cannot be written as JSON: {exc}") from exc
    return write_stored([(MANIFEST, manifest_bytes), *entries.items()])


def is_project_model(data: bytes) -> bool:
    """Whether ``data`` is a project model's artifact: a zip whose first entry is its manifest."""
    return starts_with_entry(data, MANIFEST)


def _bad(label: str, why: str) -> IntegrityError:
    return IntegrityError(f"{label}'s project model artifact is inconsistent ({why}); refusing to load")


def _manifest(data: bytes, label: str) -> tuple[zipfile.ZipFile, dict[str, Any]]:
    archive, manifest = opened(
        data, MANIFEST, FORMAT, FORMAT_VERSION, "project model", label, lambda why: _bad(label, why)
    )
    hashes = manifest.get("sha256")
    source = _SOURCE + str(manifest.get("module"))
    if not isinstance(hashes, dict) or source not in hashes:
        raise _bad(label, f"{MANIFEST} has no hash for {source}")
    return archive, manifest


def _safe_name(name: str) -> bool:
    """A stored file the loader may write: under ``files/``, relative, no ``..``, a safe suffix."""
    path = PurePosixPath(name.removeprefix(_FILES))
    return (
        name.startswith(_FILES)
        and not path.is_absolute()
        and ".." not in path.parts
        and path.suffix in SAFE_SUFFIXES
    )


def _verified(archive: zipfile.ZipFile, manifest: dict[str, Any], label: str) -> dict[str, bytes]:
    """Every entry the manifest lists, each checked against its SHA-256; no other entry may be present."""
    hashes: dict[str, str] = manifest["sha256"]
    source = _SOURCE + manifest["module"]
    unsafe = sorted(n for n in hashes if n != source and not _safe_name(n))
    if unsafe:
        raise _bad(label, f"it holds files a project model may not load: {unsafe}")
    entries = verified_entries(archive, MANIFEST, hashes, label, lambda why: _bad(label, why))
    if manifest["module_sha256"] != hashes[source]:
        raise _bad(label, "the module's hash is not the one its lineage names")
    return entries


def load(data: bytes, label: str) -> ProjectModel:
    """The fitted project model of an artifact: every entry verified, the class imported from the stored
    module text, its ``load`` given the stored files."""
    archive, manifest = _manifest(data, label)
    entries = _verified(archive, manifest, label)
    text = entries.pop(_SOURCE + manifest["module"]).decode("utf-8")
    model = ProjectModel(
        str(manifest["class"]), ModuleSource.of(manifest["module"], text), dict(manifest.get("params") or {})
    )
    with tempfile.TemporaryDirectory(prefix="mlfactory-model-") as folder:
        for name, content in entries.items():
            path = Path(folder) / name.removeprefix(_FILES)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        try:
            model.fitted = model.cls.load(Path(folder))
        except MLFactoryError:
            raise
        except Exception as exc:  # the project's own code
            raise IntegrityError(
                f"{label}: {model.import_path}.load() failed on the files it saved: {type(exc).__name__}: "
                f"{exc}"
            ) from exc
    return model


def cap_threads(estimator: Any, threads: int) -> None:
    """Make PyTorch run each prediction on at most ``threads`` threads when ``estimator`` is a project model
    and PyTorch is loaded (it otherwise takes every core for each small request). The setting is the
    process's own, so it holds for every project model the server loads."""
    torch = sys.modules.get("torch")
    if isinstance(estimator, ProjectModel) and torch is not None:
        torch.set_num_threads(threads)
