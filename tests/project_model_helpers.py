"""A model class written in the project, for the tests of project models: a small PyTorch network over the
spam emails' numeric columns and hashed subject and body tokens, seeded, that trains in about a second.

``SOURCE`` is the module's text, written beside ``mlfactory.yaml`` as ``spam_net.py`` by
:func:`use_project_model`; ``variant`` changes what the code does in a way a test can see (a temperature
on the probabilities, a predict that raises on one subject, a save that writes a pickle).
"""

from __future__ import annotations

from pathlib import Path

import yaml

SOURCE = '''
"""A spam classifier written in the project: hashed tokens and numbers into a two-layer network."""

import json
import zlib
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

BUCKETS = 1024
TEMPERATURE = 1.0
FAIL_ON = None
EXTRA_FILE = None
THREADS = []  # PyTorch's thread count at each predict_proba call


def _tokens(text):
    return str(text).lower().replace(",", " ").replace(".", " ").split()


class SpamNet:
    def __init__(self, hidden=16, epochs=80, lr=0.05, seed=0, numeric=(), text=()):
        self.hidden, self.epochs, self.lr, self.seed = hidden, epochs, lr, seed
        self.numeric, self.text = list(numeric), list(text)

    def _matrix(self, X):
        num = X[self.numeric].to_numpy(dtype=np.float32)
        num = np.nan_to_num((num - self.mean_) / self.scale_)
        words = np.zeros((len(X), BUCKETS), dtype=np.float32)
        for col in self.text:
            for i, value in enumerate(X[col].fillna("")):
                for token in _tokens(value):
                    words[i, zlib.crc32(f"{col}:{token}".encode()) % BUCKETS] = 1.0
        return torch.from_numpy(np.hstack([num, words]).astype(np.float32))

    def _network(self, inputs, outputs):
        return torch.nn.Sequential(
            torch.nn.Linear(inputs, self.hidden), torch.nn.ReLU(), torch.nn.Linear(self.hidden, outputs)
        )

    def fit(self, X, y):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a network this small only waits on more threads
        try:
            return self._fit(X, y)
        finally:
            torch.set_num_threads(threads)

    def _fit(self, X, y):
        torch.manual_seed(self.seed)
        self.classes_ = np.unique(y)
        num = X[self.numeric].to_numpy(dtype=np.float32)
        self.mean_ = np.nanmean(num, axis=0)
        self.scale_ = np.nanstd(num, axis=0) + 1e-6
        x = self._matrix(X)
        target = torch.from_numpy(np.searchsorted(self.classes_, y))
        self.net_ = self._network(x.shape[1], len(self.classes_))
        optimizer = torch.optim.Adam(self.net_.parameters(), lr=self.lr)
        for _ in range(self.epochs):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(self.net_(x), target)
            loss.backward()
            optimizer.step()
        return self

    def predict_proba(self, X):
        if FAIL_ON is not None and (X[self.text[0]] == FAIL_ON).any():
            raise RuntimeError("the network cannot take this subject")
        THREADS.append(torch.get_num_threads())
        with torch.no_grad():
            logits = self.net_(self._matrix(X)).double() / TEMPERATURE
        return torch.softmax(logits, dim=1).numpy()

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def save(self, folder):
        save_file(self.net_.state_dict(), str(Path(folder) / "weights.safetensors"))
        settings = {
            "hidden": self.hidden,
            "numeric": self.numeric,
            "text": self.text,
            "classes": self.classes_.tolist(),
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
        }
        (Path(folder) / "settings.json").write_text(json.dumps(settings))
        if EXTRA_FILE is not None:
            (Path(folder) / EXTRA_FILE).write_bytes(b"not data")

    @classmethod
    def load(cls, folder):
        settings = json.loads((Path(folder) / "settings.json").read_text())
        model = cls(hidden=settings["hidden"], numeric=settings["numeric"], text=settings["text"])
        model.classes_ = np.asarray(settings["classes"])
        model.mean_ = np.asarray(settings["mean"], dtype=np.float32)
        model.scale_ = np.asarray(settings["scale"], dtype=np.float32)
        state = load_file(str(Path(folder) / "weights.safetensors"))
        model.net_ = model._network(state["0.weight"].shape[1], len(model.classes_))
        model.net_.load_state_dict(state)
        return model
'''

NUMERIC = ["n_links", "n_attachments", "hour_sent"]
TEXT = ["subject", "body"]
PARAMS = {"hidden": 32, "epochs": 40, "lr": 0.02, "seed": 3, "numeric": NUMERIC, "text": TEXT}


def variant(temperature: float = 1.0, fail_on: str | None = None, extra_file: str | None = None) -> str:
    """The module's text with its switches set."""
    return (
        SOURCE.replace("TEMPERATURE = 1.0", f"TEMPERATURE = {temperature!r}")
        .replace("FAIL_ON = None", f"FAIL_ON = {fail_on!r}")
        .replace("EXTRA_FILE = None", f"EXTRA_FILE = {extra_file!r}")
    )


def write_module(root: Path, source: str = SOURCE) -> None:
    (root / "spam_net.py").write_text(source)


def use_project_model(root: Path, source: str = SOURCE) -> None:
    """Make the spam project's model the ``SpamNet`` class of ``spam_net.py`` (numeric and text columns)."""
    write_module(root, source)
    path = root / "mlfactory.yaml"
    config = yaml.safe_load(path.read_text())
    model = config["models"]["spam"]
    model |= {"model": "spam_net.SpamNet", "params": PARAMS, "features": {"numeric": NUMERIC, "text": TEXT}}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
