"""Models written in the project: saved as safetensors, JSON and their own module's text, every entry verified
on load, the class imported from the stored text (not the file beside the project), and nothing else
accepted: no pickle, no class that does not implement the interface, no tampered byte.

The classes here use ``safetensors.numpy``, so these tests need no deep-learning library.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlfactory.config import ModelConfig
from mlfactory.errors import ConfigError, IntegrityError, TrainingError
from mlfactory.estimators.project_class import ProjectModel, build
from mlfactory.registry import project_models
from mlfactory.registry.archive import sha256
from mlfactory.registry.packaging import load_model, save_model
from mlfactory.stores import LocalArtifactStore
from mlfactory.training import build_estimator, fit_model

pytest.importorskip("safetensors")

LINEAR = '''
import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

SHIFT = 0.0
EXTRA = None


class Linear:
    """Least squares on the numeric columns, thresholded at the middle of the two classes."""

    def __init__(self, columns=("a", "b")):
        self.columns = list(columns)

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        x = np.c_[X[self.columns].to_numpy(float), np.ones(len(X))]
        target = (y == self.classes_[1]).astype(float)
        self.w_ = np.linalg.lstsq(x, target, rcond=None)[0]
        return self

    def predict_proba(self, X):
        x = np.c_[X[self.columns].to_numpy(float), np.ones(len(X))]
        p = np.clip(x @ self.w_ + SHIFT, 0.0, 1.0)
        return np.c_[1 - p, p]

    def predict(self, X):
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]

    def save(self, folder):
        save_file({"w": self.w_}, str(Path(folder) / "weights.safetensors"))
        (Path(folder) / "settings.json").write_text(
            json.dumps({"columns": self.columns, "classes": self.classes_.tolist()})
        )
        if EXTRA is not None:
            (Path(folder) / EXTRA).write_bytes(b"\\x80\\x04K\\x01.")

    @classmethod
    def load(cls, folder):
        settings = json.loads((Path(folder) / "settings.json").read_text())
        model = cls(settings["columns"])
        model.classes_ = np.asarray(settings["classes"])
        model.w_ = load_file(str(Path(folder) / "weights.safetensors"))["w"]
        return model
'''


def _frame(seed: int = 0, n: int = 200) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    return x, np.where(x["a"] + 0.5 * x["b"] > 0, "spam", "ham")


def _project(tmp_path: Path, source: str = LINEAR, name: str = "linear") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / f"{name}.py").write_text(source)
    return tmp_path


def _fitted(tmp_path: Path, source: str = LINEAR) -> ProjectModel:
    x, y = _frame()
    return build(_project(tmp_path, source), "linear.Linear", {"columns": ["a", "b"]}).fit(x, y)


@pytest.fixture
def artifacts(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def _rewritten(data: bytes, change: dict[str, bytes]) -> bytes:
    """The artifact with some entries' bytes replaced, the manifest (and its hashes) left as they were."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in source.infolist():
            z.writestr(info.filename, change.get(info.filename, source.read(info.filename)))
    return out.getvalue()


def test_a_saved_model_loads_back_with_the_same_answers_and_only_data_and_its_source(
    tmp_path: Path, artifacts: LocalArtifactStore
) -> None:
    model = _fitted(tmp_path)
    digest, trusted = save_model(model, artifacts, [])
    assert trusted == []
    data = artifacts.get_bytes(digest)
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert names == [
        project_models.MANIFEST,
        "source/linear.py",
        "files/settings.json",
        "files/weights.safetensors",
    ]
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read(project_models.MANIFEST))
    assert manifest["class"] == "linear.Linear" and manifest["module_sha256"] == model.source.sha256
    loaded = load_model(artifacts, digest, [], "m/1")
    assert isinstance(loaded, ProjectModel)
    x, _ = _frame(seed=1)
    assert loaded.predict(x).tolist() == model.predict(x).tolist()
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert loaded.classes_.tolist() == ["ham", "spam"]
    assert model.source.sha256[:32] in type(loaded.fitted).__module__
    assert save_model(model, artifacts, [])[0] == digest  # the same model gives the same bytes


@pytest.mark.parametrize("entry", ["files/weights.safetensors", "files/settings.json", "source/linear.py"])
def test_a_changed_entry_is_refused(tmp_path: Path, artifacts: LocalArtifactStore, entry: str) -> None:
    data = project_models.pack(_fitted(tmp_path))
    original = zipfile.ZipFile(io.BytesIO(data)).read(entry)
    tampered = _rewritten(data, {entry: original[:-1] + bytes([original[-1] ^ 1])})
    with pytest.raises(IntegrityError, match=f"m/1's {entry} does not match the hash"):
        project_models.load(tampered, "m/1")


def test_an_entry_the_manifest_does_not_list_is_refused(tmp_path: Path) -> None:
    data = project_models.pack(_fitted(tmp_path))
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in source.namelist():
            z.writestr(name, source.read(name))
        z.writestr("files/model.pkl", b"\x80\x04K\x01.")
    with pytest.raises(IntegrityError, match=r"files/model\.pkl"):
        project_models.load(out.getvalue(), "m/1")


def test_a_listed_file_of_another_type_is_refused_before_loading(tmp_path: Path) -> None:
    """Even with its hash in the manifest, a stored pickle is never written out or loaded."""
    data = project_models.pack(_fitted(tmp_path))
    source = zipfile.ZipFile(io.BytesIO(data))
    manifest = json.loads(source.read(project_models.MANIFEST))
    pickled = b"\x80\x04K\x01."
    manifest["sha256"]["files/model.pkl"] = sha256(pickled)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(project_models.MANIFEST, json.dumps(manifest))
        for name in source.namelist()[1:]:
            z.writestr(name, source.read(name))
        z.writestr("files/model.pkl", pickled)
    with pytest.raises(IntegrityError, match=r"may not load: \['files/model\.pkl'\]"):
        project_models.load(out.getvalue(), "m/1")


@pytest.mark.parametrize("extra", ["model.pkl", "weights.pt", "notes.txt"])
def test_a_class_saving_another_file_type_is_refused_naming_the_file(tmp_path: Path, extra: str) -> None:
    model = _fitted(tmp_path, LINEAR.replace("EXTRA = None", f"EXTRA = {extra!r}"))
    with pytest.raises(TrainingError, match=rf"wrote '{extra}'.*only \.safetensors.*\.json"):
        project_models.pack(model)


def test_two_versions_with_different_code_load_side_by_side_each_with_its_own(
    tmp_path: Path, artifacts: LocalArtifactStore
) -> None:
    first = _fitted(tmp_path / "a")
    second = _fitted(tmp_path / "b", LINEAR.replace("SHIFT = 0.0", "SHIFT = 0.25"))
    digests = [save_model(m, artifacts, [])[0] for m in (first, second)]
    loaded = [load_model(artifacts, d, [], f"m/{i}") for i, d in enumerate(digests, 1)]
    x, _ = _frame(seed=2)
    one, two = (m.predict_proba(x)[:, 1] for m in loaded)
    assert type(loaded[0].fitted).__module__ != type(loaded[1].fitted).__module__
    np.testing.assert_array_equal(one, first.predict_proba(x)[:, 1])
    np.testing.assert_array_equal(two, second.predict_proba(x)[:, 1])
    assert not np.array_equal(one, two)


def test_the_stored_code_runs_whatever_the_project_file_holds_now(
    tmp_path: Path, artifacts: LocalArtifactStore
) -> None:
    model = _fitted(tmp_path)
    digest, _ = save_model(model, artifacts, [])
    x, _ = _frame(seed=3)
    before = model.predict_proba(x)
    (tmp_path / "linear.py").write_text(LINEAR.replace("SHIFT = 0.0", "SHIFT = 0.5"))
    loaded = load_model(artifacts, digest, [], "m/1")
    np.testing.assert_array_equal(loaded.predict_proba(x), before)
    assert loaded.source.sha256 == model.source.sha256


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        (
            "    @classmethod\n    def load(cls, folder):",
            "    def load(self, folder):",
            "lacks load as a @classmethod",
        ),
        ("    def save(self, folder):", "    def store(self, folder):", "lacks save"),
        ("    def predict(self, X):", "    def guess(self, X):", "lacks predict"),
        ("    def fit(self, X, y):", "    def train(self, X, y):", "lacks fit"),
    ],
)
def test_a_class_missing_part_of_the_interface_is_refused_when_built(
    tmp_path: Path, old: str, new: str, says: str
) -> None:
    source = LINEAR.replace(old, new)
    assert source != LINEAR
    with pytest.raises(ConfigError, match=rf"linear\.Linear' {says}"):
        build(_project(tmp_path, source), "linear.Linear", {})


def test_a_missing_file_or_class_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no file missing\.py in the project folder"):
        build(tmp_path, "missing.Model", {})
    with pytest.raises(ConfigError, match=r"linear\.py defines no 'Other'"):
        build(_project(tmp_path), "linear.Other", {})


def test_a_module_needing_torch_where_it_is_missing_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ModuleNotFoundError
    source = "import torch\n" + LINEAR
    with pytest.raises(ConfigError, match=r"needs torch.*pip install 'mlfactory\[torch\]'"):
        build(_project(tmp_path, source), "linear.Linear", {})


def test_the_interface_and_a_class_without_torch_never_import_it(tmp_path: Path) -> None:
    _project(tmp_path)
    code = (
        "import sys, numpy as np, pandas as pd\n"
        "from pathlib import Path\n"
        "from mlfactory.estimators.project_class import build\n"
        "from mlfactory.registry import project_models\n"
        f"m = build(Path({str(tmp_path)!r}), 'linear.Linear', {{}})\n"
        "x = pd.DataFrame({'a': [0.0, 1.0, -1.0], 'b': [1.0, 0.0, 2.0]})\n"
        "m.fit(x, np.array([0, 1, 0]))\n"
        "project_models.load(project_models.pack(m), 'm/1')\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def _config(**model: Any) -> dict[str, Any]:
    return {"source": "s", "label": "y", "features": {"numeric": ["a", "b"]}, **model}


def test_model_and_estimator_are_exclusive() -> None:
    with pytest.raises(ValueError, match="give either `model`.*or `estimator`.*not both"):
        ModelConfig.model_validate(
            _config(model="linear.Linear", estimator="sklearn.tree.DecisionTreeClassifier")
        )
    with pytest.raises(ValueError, match="must be an import path like reviews_model.TextCNN"):
        ModelConfig.model_validate(_config(model="Linear"))


def test_training_builds_the_class_from_the_project_folder_with_its_params(tmp_path: Path) -> None:
    _project(tmp_path)
    config = ModelConfig.model_validate(
        _config(model="linear.Linear", params={"columns": ["a"]}), context={"root": tmp_path}
    )
    built = build_estimator(config)
    assert isinstance(built, ProjectModel) and built.params == {"columns": ["a"]}
    x, y = _frame()
    fitted = fit_model(config, x.assign(y=y))
    assert fitted is not built and built.fitted is None  # training fits a fresh clone
    assert fitted.fitted.columns == ["a"] and fitted.classes_.tolist() == ["ham", "spam"]


def test_torch_threads_are_capped_for_a_project_model_only(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        project_models.cap_threads(object(), 1)
        assert torch.get_num_threads() == 2
        project_models.cap_threads(_fitted(tmp_path), 1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_class_failing_to_fit_is_a_training_error_naming_it(tmp_path: Path) -> None:
    failing = "        raise RuntimeError('no convergence')"
    source = LINEAR.replace("        self.classes_ = np.unique(y)", failing)
    x, y = _frame()
    with pytest.raises(TrainingError, match=r"linear\.Linear\.fit failed: RuntimeError: no convergence"):
        build(_project(tmp_path, source), "linear.Linear", {}).fit(x, y)
    with pytest.raises(ConfigError, match=r"bad params for linear\.Linear"):
        build(_project(tmp_path), "linear.Linear", {"depth": 3}).fit(x, y)
