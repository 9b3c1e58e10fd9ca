"""Training a text model: fit, save and load of TF-IDF + logistic regression at 50k and 500k terms.

    .venv/bin/python benchmarks/training.py                                  # mlfactory's model format
    .venv/bin/python benchmarks/training.py --format mlfactory skops-plain   # + plain skops, side by side
    .venv/bin/python benchmarks/training.py --quick                          # 2,000 terms (smoke run)

The model is what mlfactory builds for a text column (``training/fit.py``): a Pipeline of a ColumnTransformer
with ``TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=TERMS)`` and a LogisticRegression. The
corpus is synthetic and seeded: pseudo-words drawn with Zipf-like frequencies (p ∝ 1/(rank + 2.7)), documents
of 75-225 tokens, about one document per 12.5 terms wanted, labels from a hidden linear score over the words;
the last 500 documents are held out to check that loaded models predict exactly as the fitted one.

Formats, each a separate process per vocabulary size (skops imported before any timing):

- ``mlfactory``: ``save_model`` / ``load_model`` into a local artifact store (hashing and verifying the
  bytes, auditing types), i.e. what ``train`` and ``serve`` pay;
- ``skops-plain``: the same steps as before packing: ``skops.io.dumps`` + ``get_untrusted_types`` +
  ``put_bytes``, then ``get_bytes`` + ``get_untrusted_types`` + ``skops.io.loads``, on the very same fitted
  model. Plain skops grows with the square of the vocabulary, so it runs under ``--plain-timeout``.

Native thread pools (BLAS, OpenMP) are capped with threadpoolctl and the ``*_NUM_THREADS`` variables
(``--threads``, default 1) for fitting, saving and loading alike.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, console, fmt_ratio, fmt_seconds, machine, median, write_json

CACHE = ROOT / ".bench-cache" / "training"
FORMATS = ("mlfactory", "skops-plain")
HOLDOUT = 500
SEED = 7
ZIPF_SHIFT, ZIPF_EXPONENT = 2.7, 1.0
TOKENS = (75, 225)
DOCS_PER_TERM = 1 / 12.5
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "sa"]
SYLLABLES += ["do", "fu", "gi", "ha", "ju", "be", "co", "we", "xa", "yo"]


def corpus(terms: int) -> tuple[list[str], np.ndarray]:
    """Seeded documents and labels for a vocabulary of about ``terms`` unigrams and bigrams."""
    rng = np.random.default_rng(SEED)
    n_words = max(terms // 2, 200)
    syllables = np.array(SYLLABLES)
    picks, lengths = rng.integers(0, len(syllables), size=(n_words, 3)), rng.integers(1, 4, size=n_words)
    words = np.array(
        ["".join(syllables[picks[i, : lengths[i]]]) + np.base_repr(i, 36).lower() for i in range(n_words)]
    )
    p = 1.0 / (np.arange(1, n_words + 1) + ZIPF_SHIFT) ** ZIPF_EXPONENT
    p /= p.sum()
    docs = max(int(terms * DOCS_PER_TERM), 400) + HOLDOUT
    sizes = rng.integers(*TOKENS, size=docs)
    tokens = rng.choice(n_words, size=int(sizes.sum()), p=p)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    weights = rng.normal(size=n_words) * (rng.random(n_words) < 0.05)  # a few words decide the label
    score = np.add.reduceat(weights[tokens], bounds[:-1]) / sizes
    labels = (score > np.median(score)).astype(int)
    return [" ".join(words[tokens[a:b]]) for a, b in itertools.pairwise(bounds)], labels


def build(terms: int) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    text = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=terms)
    pre = ColumnTransformer([("text_body", text, "body")], remainder="drop")
    return Pipeline([("preprocess", pre), ("model", LogisticRegression(max_iter=1000))])


def frames(terms: int) -> tuple[Any, np.ndarray, Any]:
    import pandas as pd

    docs, labels = corpus(terms)
    x = pd.DataFrame({"body": docs})
    return x.iloc[:-HOLDOUT], labels[:-HOLDOUT], x.iloc[-HOLDOUT:]


def _entries(data: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return len(z.namelist())


def _emit(payload: dict[str, Any]) -> None:
    print(json.dumps(payload), flush=True)  # one line per stage: a timed-out worker still reports its stages


# -- workers: each runs in its own process -------------------------------------------------------------------


def worker_mlfactory(terms: int, workdir: Path, threads: int, repeats: int) -> None:
    """Fit, then save and load with mlfactory; leaves the artifact for the plain-skops worker."""
    import skops.io  # noqa: F401  (imported before timing: a server pays it once, whatever the format)
    from threadpoolctl import threadpool_limits

    from mlfactory.registry.packaging import load_model, save_model
    from mlfactory.stores import LocalArtifactStore

    x, y, holdout = frames(terms)
    artifacts = LocalArtifactStore(workdir / "artifacts")
    with threadpool_limits(limits=threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on some seeds: timing, not model quality
        start = time.perf_counter()
        model = build(terms).fit(x, y)
        fit_s = time.perf_counter() - start
        vocabulary = len(model.named_steps["preprocess"].named_transformers_["text_body"].vocabulary_)
        _emit({"stage": "fit", "fit_s": fit_s, "vocabulary": vocabulary, "docs": len(x) + HOLDOUT})
        expected = model.predict_proba(holdout)
        np.save(workdir / "expected.npy", expected)
        save_s, load_s = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            digest, trusted = save_model(model, artifacts, [])
            save_s.append(time.perf_counter() - start)
        for _ in range(repeats):
            start = time.perf_counter()
            loaded = load_model(artifacts, digest, trusted, "bench/1")
            load_s.append(time.perf_counter() - start)
        same = bool((loaded.predict_proba(holdout) == expected).all())
    data = artifacts.get_bytes(digest)
    (workdir / "model.json").write_text(json.dumps({"digest": digest, "trusted": trusted}))
    _emit(
        {
            "stage": "done",
            "save_s": median(save_s),
            "load_s": median(load_s),
            "save_all_s": save_s,
            "load_all_s": load_s,
            "bytes": len(data),
            "entries": _entries(data),
            "same_predictions": same,
        }
    )


def _fast_dumps(sio: Any, model: Any) -> bytes:
    """``skops.io.dumps`` with its per-array ``namelist()`` check answered from the zip's name index.

    Same bytes as ``dumps``, in linear time: only used to produce a plain skops file whose *loading* can be
    measured when plain saving did not finish within ``--plain-timeout``."""
    original = zipfile.ZipFile.namelist
    zipfile.ZipFile.namelist = lambda self: self.NameToInfo  # type: ignore[assignment,method-assign,attr-defined,return-value]
    try:
        return sio.dumps(model)  # type: ignore[no-any-return]
    finally:
        zipfile.ZipFile.namelist = original  # type: ignore[method-assign]


def worker_plain(terms: int, workdir: Path, threads: int, load_only: bool) -> None:
    """The steps save_model/load_model took before packing, on the model the mlfactory worker fitted."""
    import skops.io as sio
    from threadpoolctl import threadpool_limits

    from mlfactory.registry.packaging import load_model
    from mlfactory.stores import LocalArtifactStore

    _, _, holdout = frames(terms)
    artifacts = LocalArtifactStore(workdir / "artifacts")
    saved = json.loads((workdir / "model.json").read_text())
    model = load_model(artifacts, saved["digest"], saved["trusted"], "bench/1")
    expected = np.load(workdir / "expected.npy")
    with threadpool_limits(limits=threads):
        start = time.perf_counter()
        data = _fast_dumps(sio, model) if load_only else sio.dumps(model)
        trusted = sio.get_untrusted_types(data=data)
        digest = artifacts.put_bytes(data)
        stage = {"stage": "save", "bytes": len(data), "entries": _entries(data)}
        if not load_only:
            stage["save_s"] = time.perf_counter() - start
        _emit(stage)
        del data, model
        start = time.perf_counter()
        data = artifacts.get_bytes(digest)
        sio.get_untrusted_types(data=data)
        loaded = sio.loads(data, trusted=trusted)
        load_s = time.perf_counter() - start
        same = bool((loaded.predict_proba(holdout) == expected).all())
    _emit({"stage": "done", "load_s": load_s, "same_predictions": same})


def _worker_main(argv: list[str]) -> None:
    mode, terms, workdir, threads = argv[0], int(argv[1]), Path(argv[2]), int(argv[3])
    if mode == "mlfactory":
        worker_mlfactory(terms, workdir, threads, int(argv[4]))
    else:
        worker_plain(terms, workdir, threads, load_only=mode == "skops-plain-load")


def _environ(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    env["PYTHONWARNINGS"] = "ignore"
    return env


def run_worker(args: list[str], threads: int, timeout: float) -> dict[str, Any]:
    """Run a worker; merge the stages it reported, noting a timeout (its process is killed) or a failure."""
    cmd = [sys.executable, __file__, "--worker", *args]
    timed_out = None
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=_environ(threads), cwd=ROOT
        )
        stdout, failed = proc.stdout, proc.returncode != 0
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or ""
        stdout, failed, timed_out = out.decode() if isinstance(out, bytes) else out, False, timeout
    result: dict[str, Any] = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            stage = json.loads(line)
            stage.pop("stage")
            result.update(stage)
    if timed_out is not None:
        result["timed_out_after_s"] = timed_out
    if failed:
        result["failed"] = proc.stderr[-2000:]
    return result


# -- main ----------------------------------------------------------------------------------------------------


def bench_size(
    terms: int, formats: list[str], threads: int, repeats: int, plain_timeout: float
) -> dict[str, Any]:
    CACHE.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(dir=CACHE, prefix=f"{terms}-"))
    try:
        console.print(f"[dim]{terms:,} terms: fit + mlfactory save/load…[/dim]")
        ours = run_worker(["mlfactory", str(terms), str(workdir), str(threads), str(repeats)], threads, 3600)
        if "failed" in ours or "timed_out_after_s" in ours:
            raise RuntimeError(f"the mlfactory worker did not finish: {ours}")
        out: dict[str, Any] = {
            "terms": terms,
            "vocabulary": ours.pop("vocabulary"),
            "docs": ours.pop("docs"),
            "fit_s": ours.pop("fit_s"),
            "formats": {},
        }
        if "mlfactory" in formats:
            out["formats"]["mlfactory"] = ours
        if "skops-plain" in formats:
            console.print(
                f"[dim]{terms:,} terms: plain skops save/load (at most {plain_timeout:.0f} s)…[/dim]"
            )
            plain = run_worker(
                ["skops-plain", str(terms), str(workdir), str(threads)], threads, plain_timeout
            )
            if "save_s" not in plain and "failed" not in plain:
                console.print(
                    f"[dim]{terms:,} terms: plain skops load, of a file written in linear time…[/dim]"
                )
                args = ["skops-plain-load", str(terms), str(workdir), str(threads)]
                plain.update(run_worker(args, threads, plain_timeout))
                plain["load_of"] = "the same bytes, written by skops.io.dumps with O(1) zip-name lookups"
            out["formats"]["skops-plain"] = plain
            out["plain_over_mlfactory"] = {
                op: plain[f"{op}_s"] / ours[f"{op}_s"] if f"{op}_s" in plain else None
                for op in ("save", "load")
            }
        return out
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _ratio(r: float) -> str:
    return f"{r:.2g}x" if r < 1 else fmt_ratio(r)


def _cell(m: dict[str, Any], key: str) -> str:
    if f"{key}_s" in m:
        return fmt_seconds(m[f"{key}_s"])
    if "timed_out_after_s" in m:
        return f"> {m['timed_out_after_s']:.0f} s"
    return "failed" if "failed" in m else "-"


def print_table(results: list[dict[str, Any]], threads: int) -> None:
    from rich.table import Table

    t = Table(
        title=f"text model: TF-IDF (1-2 grams) + logistic regression, {threads} native thread(s)",
        title_justify="left",
        header_style="bold",
    )
    for c in (
        "terms",
        "format",
        "fit",
        "save",
        "load",
        "save ÷ fit",
        "load ÷ fit",
        "artifact",
        "zip entries",
        "same answers",
    ):
        t.add_column(c)
    for r in results:
        for name, m in r["formats"].items():
            t.add_row(
                f"{r['vocabulary']:,}",
                name,
                fmt_seconds(r["fit_s"]),
                _cell(m, "save"),
                _cell(m, "load"),
                _ratio(m["save_s"] / r["fit_s"]) if "save_s" in m else "-",
                _ratio(m["load_s"] / r["fit_s"]) if "load_s" in m else "-",
                f"{m['bytes'] / 2**20:.1f} MiB" if "bytes" in m else "-",
                f"{m['entries']:,}" if "entries" in m else "-",
                str(m.get("same_predictions", "-")),
            )
    console.print(t)
    if any("timed_out_after_s" in m for r in results for m in r["formats"].values()):
        console.print(
            "> N s: stopped after --plain-timeout; its load is of the same bytes, written in linear time"
        )
    for r in results:
        ratios = r.get("plain_over_mlfactory")
        if ratios:
            text = ", ".join(f"{op} {fmt_ratio(v)}" for op, v in ratios.items() if v is not None)
            text = text or "plain skops did not finish"
            console.print(f"{r['vocabulary']:,} terms, plain skops ÷ mlfactory: {text}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        _worker_main(argv[1:])
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2,000 terms, one repetition (smoke run)")
    parser.add_argument("--terms", type=int, nargs="*", help="vocabulary sizes (default 50000 500000)")
    parser.add_argument(
        "--format",
        nargs="+",
        choices=FORMATS,
        default=["mlfactory"],
        dest="formats",
        help="formats to measure (default mlfactory; add skops-plain for the format before packing)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="native threads (threadpoolctl, *_NUM_THREADS)"
    )
    parser.add_argument(
        "--repeats", type=int, help="mlfactory save/load repetitions (default 3; medians shown)"
    )
    parser.add_argument(
        "--plain-timeout", type=float, default=900, help="seconds allowed to plain skops per size"
    )
    parser.add_argument("--output", type=Path, help="JSON path (default benchmarks/results/training.json)")
    args = parser.parse_args(argv)
    sizes = args.terms or ([2_000] if args.quick else [50_000, 500_000])
    repeats = args.repeats or (1 if args.quick else 3)
    results = [bench_size(n, args.formats, args.threads, repeats, args.plain_timeout) for n in sizes]
    print_table(results, args.threads)
    path = write_json(
        "training",
        {
            "benchmark": "training",
            "quick": args.quick,
            "machine": machine(),
            "settings": {
                "threads": args.threads,
                "repeats": repeats,
                "formats": args.formats,
                "plain_timeout_s": args.plain_timeout,
                "seed": SEED,
                "vectorizer": {"ngram_range": [1, 2], "min_df": 2, "max_features": "terms"},
                "estimator": "LogisticRegression(max_iter=1000)",
                "corpus": {
                    "zipf": f"p ∝ 1/(rank + {ZIPF_SHIFT})^{ZIPF_EXPONENT}",
                    "tokens_per_doc": list(TOKENS),
                    "docs_per_term": DOCS_PER_TERM,
                    "holdout": HOLDOUT,
                },
            },
            "results": results,
        },
        args.output,
    )
    console.print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
