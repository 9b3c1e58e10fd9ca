"""Properties of the quickstart's generated spam world that the product relies on."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlfactory.quickstart.world import COLUMNS, SpamWorld, describe

START = datetime(2024, 3, 1, tzinfo=UTC)
END = datetime(2024, 3, 15, tzinfo=UTC)
TRANSACTIONAL_DOMAINS = {"billing.example.com", "shop.example.com", "parcel.example.net"}


def _model() -> Pipeline:
    features = ColumnTransformer(
        [
            ("subject", TfidfVectorizer(), "subject"),
            ("body", TfidfVectorizer(), "body"),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), ["sender_domain", "language"]),
            ("numeric", StandardScaler(), ["n_links", "n_attachments", "hour_sent"]),
        ]
    )
    return Pipeline([("features", features), ("clf", LogisticRegression(max_iter=1000))])


def _accuracy(model: Pipeline, frame: pd.DataFrame) -> float:
    return float((model.predict(frame) == frame["is_spam"].to_numpy()).mean())


def _tokens(texts: pd.Series) -> set[str]:
    return set(" ".join(texts.tolist()).replace(",", " ").replace(".", " ").split())


@pytest.fixture(scope="module")
def old() -> pd.DataFrame:
    return SpamWorld(seed=11).emails(20_000, start=START, end=END)


@pytest.fixture(scope="module")
def new() -> pd.DataFrame:
    return SpamWorld(seed=12).emails(20_000, start=START, end=END, drift=1.0)


@pytest.fixture(scope="module")
def accuracies() -> dict[str, float]:
    world = SpamWorld(seed=7)
    train_old = world.emails(5_000, start=START, end=END)
    test_old = world.emails(5_000, start=START, end=END)
    test_new = world.emails(5_000, start=START, end=END, drift=1.0)
    old_model = _model().fit(train_old, train_old["is_spam"])
    train_new = world.emails(5_000, start=START, end=END, drift=1.0)
    fresh_new = world.emails(5_000, start=START, end=END, drift=1.0)
    new_model = _model().fit(train_new, train_new["is_spam"])
    return {
        "old_on_old": _accuracy(old_model, test_old),
        "old_on_new": _accuracy(old_model, test_new),
        "new_on_new": _accuracy(new_model, fresh_new),
    }


# --- shape, dtypes, ranges ---------------------------------------------------------------------


def test_columns_in_order_and_dtypes(old: pd.DataFrame) -> None:
    assert tuple(old.columns) == COLUMNS
    assert len(old) == 20_000
    for col in ("message_id", "sender_domain", "language", "subject", "body"):
        assert pd.api.types.is_string_dtype(old[col]), col
        assert old[col].map(type).eq(str).all(), col
        assert old[col].str.len().gt(0).all(), col
    assert isinstance(old["sent_at"].dtype, pd.DatetimeTZDtype)
    assert str(old["sent_at"].dt.tz) == "UTC"
    for col in ("n_links", "n_attachments", "hour_sent", "is_spam"):
        assert pd.api.types.is_integer_dtype(old[col]), col


def test_value_ranges(old: pd.DataFrame, new: pd.DataFrame) -> None:
    for frame in (old, new):
        assert frame["n_links"].ge(0).all()
        assert frame["n_attachments"].ge(0).all()
        assert frame["hour_sent"].between(0, 23).all()
        assert set(frame["is_spam"].unique()) <= {0, 1}
        assert set(frame["language"].unique()) == {"en", "de", "fr", "es"}
        assert frame["language"].value_counts(normalize=True).idxmax() == "en"
        assert frame["language"].eq("en").mean() > 0.5
        assert 8 <= frame["sender_domain"].nunique() <= 25
    assert 0.30 <= old["is_spam"].mean() <= 0.40
    assert old["subject"].str.split().str.len().between(1, 8).all()
    assert old["body"].str.split().str.len().ge(5).all()


def test_time_is_uniform_sorted_and_hour_matches(old: pd.DataFrame) -> None:
    sent = old["sent_at"]
    assert sent.is_monotonic_increasing
    assert sent.min() >= pd.Timestamp(START) and sent.max() <= pd.Timestamp(END)
    assert (old["hour_sent"] == sent.dt.hour).all()
    # Uniform over 14 days: each day holds about 1/14 of the mail.
    per_day = sent.dt.floor("D").value_counts(normalize=True)
    assert len(per_day) == 14
    assert per_day.between(0.5 / 14, 1.5 / 14).all()
    assert old["hour_sent"].nunique() == 24


def test_naive_datetimes_are_utc() -> None:
    frame = SpamWorld(seed=3).emails(50, start=datetime(2024, 1, 1), end=datetime(2024, 1, 2))
    assert str(frame["sent_at"].dt.tz) == "UTC"
    assert frame["sent_at"].min() >= pd.Timestamp("2024-01-01", tz="UTC")
    assert frame["sent_at"].max() <= pd.Timestamp("2024-01-02", tz="UTC")


def test_empty_and_invalid_requests() -> None:
    world = SpamWorld()
    empty = world.emails(0, start=START, end=END)
    assert tuple(empty.columns) == COLUMNS and empty.empty
    assert isinstance(empty["sent_at"].dtype, pd.DatetimeTZDtype)
    with pytest.raises(ValueError):
        world.emails(-1, start=START, end=END)
    with pytest.raises(ValueError):
        world.emails(10, start=START, end=END, drift=1.5)
    with pytest.raises(ValueError):
        world.emails(10, start=END, end=START)


# --- identity and determinism -----------------------------------------------------------------


def test_message_ids_unique_across_calls() -> None:
    world = SpamWorld(seed=5)
    frames = [world.emails(1_000, start=START, end=END, drift=d) for d in (0.0, 0.5, 1.0)]
    ids = pd.concat([f["message_id"] for f in frames])
    assert ids.is_unique
    assert ids.str.startswith("m-5-").all()


def test_same_seed_same_frames_different_seed_different() -> None:
    a, b, c = SpamWorld(seed=21), SpamWorld(seed=21), SpamWorld(seed=22)
    for drift in (0.0, 0.3, 1.0):
        fa = a.emails(2_000, start=START, end=END, drift=drift)
        fb = b.emails(2_000, start=START, end=END, drift=drift)
        fc = c.emails(2_000, start=START, end=END, drift=drift)
        pd.testing.assert_frame_equal(fa, fb)
        assert not fa.drop(columns="message_id").equals(fc.drop(columns="message_id"))
        assert not fa["message_id"].isin(fc["message_id"]).any()


def test_successive_calls_continue_the_stream() -> None:
    world = SpamWorld(seed=4)
    first = world.emails(500, start=START, end=END)
    second = world.emails(500, start=START, end=END)
    assert (
        not first.drop(columns="message_id")
        .reset_index(drop=True)
        .equals(second.drop(columns="message_id").reset_index(drop=True))
    )


# --- how the world changes ---------------------------------------------------------------------


def test_new_spam_comes_from_never_seen_domains(old: pd.DataFrame, new: pd.DataFrame) -> None:
    old_domains = set(old["sender_domain"])
    new_spam_domains = set(new.loc[new["is_spam"] == 1, "sender_domain"]) - old_domains
    assert len(new_spam_domains) >= 3
    share_from_unseen = new.loc[new["is_spam"] == 1, "sender_domain"].isin(new_spam_domains).mean()
    assert share_from_unseen > 0.4


def test_new_spam_uses_words_old_spam_never_used(old: pd.DataFrame, new: pd.DataFrame) -> None:
    old_spam = old[old["is_spam"] == 1]
    old_vocab = _tokens(old_spam["subject"]) | _tokens(old_spam["body"])
    new_spam = new[new["is_spam"] == 1]
    new_vocab = _tokens(new_spam["subject"]) | _tokens(new_spam["body"])
    novel = new_vocab - old_vocab
    assert len(novel) >= 15
    # Most new spam carries at least one of those words in its subject.
    has_novel = new_spam["subject"].str.split().map(lambda ws: bool(novel.intersection(ws)))
    assert has_novel.mean() > 0.4


def test_concept_change_invoices_with_attachment_turn_spam(old: pd.DataFrame, new: pd.DataFrame) -> None:
    def invoice_spam_rate(frame: pd.DataFrame) -> float:
        invoices = frame["sender_domain"].isin(TRANSACTIONAL_DOMAINS) & frame["n_attachments"].gt(0)
        assert invoices.sum() > 500
        return float(frame.loc[invoices, "is_spam"].mean())

    assert invoice_spam_rate(old) < 0.05
    assert invoice_spam_rate(new) > 0.95


def test_numeric_columns_shift(old: pd.DataFrame, new: pd.DataFrame) -> None:
    assert new["n_links"].mean() > old["n_links"].mean() + 0.5
    assert new["n_attachments"].mean() > old["n_attachments"].mean()


def test_drift_mixes_the_worlds() -> None:
    world = SpamWorld(seed=9)
    rates = [world.emails(10_000, start=START, end=END, drift=d)["is_spam"].mean() for d in (0, 0.5, 1)]
    assert rates[0] < rates[1] < rates[2]


def test_label_noise_keeps_models_imperfect(old: pd.DataFrame) -> None:
    # Classic spam domains that are used only by spammers still show a few "ham" labels (noise).
    spam_only = old["sender_domain"].str.contains("-")
    ham_share = 1 - old.loc[spam_only, "is_spam"].mean()
    assert 0.005 < ham_share < 0.05


def test_describe_mentions_generated_data() -> None:
    text = describe()
    assert isinstance(text, str) and 100 < len(text) < 2_000
    assert "generated" in text.lower()


# --- what the quickstart's model sees ----------------------------------------------------------


def test_model_learns_the_old_world(accuracies: dict[str, float]) -> None:
    assert accuracies["old_on_old"] >= 0.93


def test_model_degrades_when_the_world_changes(accuracies: dict[str, float]) -> None:
    assert accuracies["old_on_old"] - accuracies["old_on_new"] >= 0.10


def test_retraining_recovers(accuracies: dict[str, float]) -> None:
    assert accuracies["new_on_new"] >= 0.90


def test_accuracy_degrades_gradually_with_drift() -> None:
    world = SpamWorld(seed=8)
    train = world.emails(5_000, start=START, end=END)
    model = _model().fit(train, train["is_spam"])
    acc = [_accuracy(model, world.emails(4_000, start=START, end=END, drift=d)) for d in (0.0, 0.5, 1.0)]
    assert acc[0] > acc[1] > acc[2]
    assert np.isfinite(acc).all()
