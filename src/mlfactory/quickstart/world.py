"""A seeded generator of emails for the quickstart's spam filter.

The data is *generated*, not collected: every email comes from word pools, invented sender domains
(``example``-style names, no real companies) and a few numeric habits per kind of message. Nothing
here describes real people or real mail.

The world has two states, and :meth:`SpamWorld.emails` mixes them with ``drift`` (the share of the
new world):

* **Old world** (``drift=0``): personal notes, work mail, newsletters and transactional mail
  (invoices and delivery notices, usually with an attachment, from known shop and billing domains)
  are ham; classic spam ("free prize, click now") from a handful of spam domains is spam. About a
  third of all mail is spam.
* **New world** (``drift=1``): spammers changed tactics. (a) Spam uses new words that never occurred
  in old spam (crypto wallets, account verification, ...); (b) it comes from sender domains never
  seen before; (c) concept change: invoice and delivery-notice mail with an attachment from the
  *known* domains, harmless before, is now phishing and labelled spam; (d) the numeric columns
  shift (more links, more attachments).

About 2% of labels are flipped at random, so no model can be perfect. Everything is vectorized with
numpy; one :class:`SpamWorld` holds one ``numpy.random.default_rng(seed)``, so the same seed and the
same sequence of calls give identical frames.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

__all__ = ["COLUMNS", "SpamWorld", "describe"]

#: The columns of :meth:`SpamWorld.emails`, in order.
COLUMNS: tuple[str, ...] = (
    "message_id",
    "sent_at",
    "sender_domain",
    "language",
    "subject",
    "body",
    "n_links",
    "n_attachments",
    "hour_sent",
    "is_spam",
)

LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es")
LABEL_NOISE = 0.02

# Kinds of message. TRANSACTIONAL is ham in the old world and spam (phishing) in the new one.
PERSONAL, WORK, NEWSLETTER, TRANSACTIONAL, OLD_SPAM, NEW_SPAM = range(6)
_N_KINDS = 6
_COMMON = _N_KINDS  # index of the shared filler pool

# Share of each kind of message in each world (rows: old, new).
_KIND_MIX = np.array(
    [
        [0.22, 0.20, 0.13, 0.11, 0.34, 0.00],  # old world: 34% spam
        [0.18, 0.17, 0.13, 0.14, 0.04, 0.34],  # new world: 52% spam (14% former ham now phishing)
    ]
)


def _split(text: str) -> list[str]:
    return text.split()


# Word pools per kind, plus a pool of filler words shared by all messages.
_WORDS: dict[int, list[str]] = {
    PERSONAL: _split(
        "dinner weekend family photos birthday party trip coffee thanks soon love kids game "
        "movie tonight lunch call mom holiday garden"
    ),
    WORK: _split(
        "meeting project deadline report agenda review team budget slides quarterly client "
        "schedule draft notes roadmap sprint feedback proposal milestone standup"
    ),
    NEWSLETTER: _split(
        "newsletter weekly digest article edition subscribe unsubscribe community events "
        "highlights stories blog tips issue roundup topics featured podcast readers webinar"
    ),
    TRANSACTIONAL: _split(
        "invoice payment order receipt delivery parcel shipment tracking attached amount due "
        "reference statement confirm dispatched package courier billing notice document"
    ),
    OLD_SPAM: _split(
        "free winner prize cash pills offer limited cheap discount click guaranteed bonus "
        "casino lottery million congratulations claim exclusive deal luxury"
    ),
    NEW_SPAM: _split(
        "crypto wallet bitcoin token airdrop verify suspended login security password nft "
        "staking mining blockchain reactivate authentication kyc gains invest yield"
    ),
    _COMMON: _split(
        "the a to and for your you we is this on with please today our will it be have of in "
        "at from about all new now here more just"
    ),
}

# Sender domains per kind; all invented, example-style names.
_DOMAINS: dict[int, list[str]] = {
    PERSONAL: _split("mail.example.com inbox.example.net post.example.org"),
    WORK: _split("acme.example.com team.example.org"),
    NEWSLETTER: _split("news.example.org digest.example.net"),
    TRANSACTIONAL: _split("billing.example.com shop.example.com parcel.example.net"),
    # Old spam also borrows the free-mail domains now and then (the last two entries).
    OLD_SPAM: _split(
        "mega-deals.example prize-center.example cheap-pills.example lucky-win.example "
        "mail.example.com inbox.example.net"
    ),
    # Never seen in the old world.
    NEW_SPAM: _split(
        "crypto-gains.example secure-verify.example wallet-support.example account-alert.example"
    ),
}
_DOMAIN_WEIGHTS: dict[int, tuple[float, ...]] = {
    OLD_SPAM: (0.2, 0.18, 0.16, 0.14, 0.16, 0.16),
}

_LANGUAGE_MIX: dict[int, tuple[float, float, float, float]] = {
    PERSONAL: (0.62, 0.16, 0.12, 0.10),
    WORK: (0.70, 0.14, 0.09, 0.07),
    NEWSLETTER: (0.72, 0.12, 0.09, 0.07),
    TRANSACTIONAL: (0.70, 0.14, 0.09, 0.07),
    OLD_SPAM: (0.85, 0.06, 0.05, 0.04),
    NEW_SPAM: (0.58, 0.16, 0.14, 0.12),
}

_GREETINGS: dict[str, tuple[str, ...]] = {
    "en": ("hi", "hello", "dear"),
    "de": ("hallo", "liebe", "guten tag"),
    "fr": ("bonjour", "salut", "cher"),
    "es": ("hola", "estimado", "buenos dias"),
}

# Word slot sources: the message's own pool, the shared filler pool, or another kind's pool.
_P_OWN_SUBJECT, _P_COMMON_SUBJECT = 0.45, 0.30
_P_OWN_BODY, _P_COMMON_BODY = 0.20, 0.55
_SUBJECT_WORDS = (2, 5)  # inclusive range
_BODY_WORDS = (8, 22)

# Mean number of links / extra attachments per kind (rows: old, new world).
_LINKS = np.array(
    [
        [0.3, 0.6, 3.0, 0.8, 2.5, 0.0],
        [0.5, 0.9, 4.0, 2.5, 3.0, 4.0],
    ]
)
_ATTACH = np.array(
    [
        [0.15, 0.45, 0.03, 0.20, 0.08, 0.0],
        [0.20, 0.55, 0.05, 0.40, 0.10, 0.6],
    ]
)
# Probability that a transactional message carries at least one attachment (old, new world).
_TRANSACTIONAL_ATTACHED = (0.85, 1.0)

# Flat vocabulary and the (start, size) of each pool in it.
_POOL_IDS = (*range(_N_KINDS), _COMMON)
_VOCAB = np.array([w for p in _POOL_IDS for w in _WORDS[p]], dtype=object)
_POOL_SIZE = np.array([len(_WORDS[p]) for p in _POOL_IDS])
_POOL_START = np.concatenate([[0], np.cumsum(_POOL_SIZE)[:-1]])
_SPACED_VOCAB = np.array([" " + w for w in _VOCAB.tolist()], dtype=object)


def describe() -> str:
    """Return a short human description of the generated world (for the quickstart's README)."""
    return (
        "The emails in this project are generated by a seeded simulator "
        "(`mlfactory.quickstart.world.SpamWorld`), not collected from real mailboxes. "
        "Each email has a sender domain (invented, example-style names), a language (en, de, fr, es), "
        "a subject and a body built from word pools, counts of links and attachments, the hour it was "
        "sent, and a label `is_spam`. In the original world about a third of the mail is classic spam "
        "(prizes, discounts, 'click now') from a few spam domains; personal, work, newsletter and "
        "invoice/delivery mail is harmless. Then the world changes: spam starts using new words "
        "(crypto wallets, account verification) and new sender domains, invoice and delivery notices "
        "with an attachment from known shops turn into phishing and count as spam, and messages carry "
        "more links. About 2% of labels are noisy, so no model is perfect."
    )


def _as_utc(value: datetime) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)


class SpamWorld:
    """A seeded world of emails whose spam changes over time.

    One object holds one random generator and a message counter: successive calls continue the
    stream (message ids stay unique), and a new object with the same seed replays it exactly.
    """

    def __init__(self, seed: int = 7) -> None:
        self.seed = int(seed)
        self._rng = np.random.default_rng(self.seed)
        self._counter = 0

    def emails(self, n: int, *, start: datetime, end: datetime, drift: float = 0.0) -> pd.DataFrame:
        """Generate ``n`` emails sent uniformly between ``start`` and ``end``, sorted by time.

        ``drift`` in [0, 1] is the probability that a message comes from the new world (new spam
        words and domains, invoices-with-attachment turned phishing, more links). Naive datetimes
        are taken as UTC.
        """
        n = int(n)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        drift = float(drift)
        if not 0.0 <= drift <= 1.0:
            raise ValueError(f"drift must be in [0, 1], got {drift}")
        t0, t1 = _as_utc(start), _as_utc(end)
        if t1 < t0:
            raise ValueError(f"end ({t1}) is before start ({t0})")
        rng = self._rng

        # When: uniform between start and end, sorted.
        span = t1.value - t0.value
        offsets = np.sort(rng.integers(0, span, size=n, endpoint=True)) if span else np.zeros(n, np.int64)
        sent_at = pd.DatetimeIndex(t0.value + offsets, tz=UTC) if n else pd.DatetimeIndex([], tz=UTC)
        sent_at = sent_at.as_unit("ns")

        # Which world, and which kind of message.
        new_world = rng.random(n) < drift
        world = new_world.astype(np.int64)
        cum = np.cumsum(_KIND_MIX, axis=1)
        cum[:, -1] = 1.0
        kind = (rng.random(n)[:, None] >= cum[world]).sum(axis=1)

        # Sender domain and language, per kind.
        domain = np.empty(n, dtype=object)
        language = np.empty(n, dtype=object)
        lang_arr = np.array(LANGUAGES, dtype=object)
        for k in range(_N_KINDS):
            mask = kind == k
            m = int(mask.sum())
            if not m:
                continue
            doms = np.array(_DOMAINS[k], dtype=object)
            weights = _DOMAIN_WEIGHTS.get(k)
            if weights is None:
                domain[mask] = doms[rng.integers(0, len(doms), m)]
            else:
                domain[mask] = rng.choice(doms, size=m, p=weights)
            language[mask] = rng.choice(lang_arr, size=m, p=_LANGUAGE_MIX[k])

        # Text.
        subject = self._text(kind, world, *_SUBJECT_WORDS, _P_OWN_SUBJECT, _P_COMMON_SUBJECT)
        body_words = self._text(kind, world, *_BODY_WORDS, _P_OWN_BODY, _P_COMMON_BODY)
        greeting = np.empty(n, dtype=object)
        for lang in LANGUAGES:
            mask = language == lang
            options = np.array(_GREETINGS[lang], dtype=object)
            greeting[mask] = options[rng.integers(0, len(options), int(mask.sum()))]
        body = [f"{g}, {b}." for g, b in zip(greeting.tolist(), body_words, strict=True)]

        # Numbers.
        n_links = rng.poisson(_LINKS[world, kind])
        n_attachments = rng.poisson(_ATTACH[world, kind])
        transactional = kind == TRANSACTIONAL
        p_attached = np.where(new_world, _TRANSACTIONAL_ATTACHED[1], _TRANSACTIONAL_ATTACHED[0])
        n_attachments = n_attachments + (transactional & (rng.random(n) < p_attached))

        # Labels: spam kinds, plus invoices with attachments in the new world (concept change).
        is_spam = (kind == OLD_SPAM) | (kind == NEW_SPAM) | (transactional & new_world & (n_attachments > 0))
        is_spam ^= rng.random(n) < LABEL_NOISE

        ids = np.arange(self._counter, self._counter + n)
        self._counter += n
        frame = pd.DataFrame(
            {
                "message_id": pd.Series([f"m-{self.seed}-{i:08d}" for i in ids.tolist()], dtype=str),
                "sent_at": pd.Series(sent_at),
                "sender_domain": pd.Series(domain, dtype=str),
                "language": pd.Series(language, dtype=str),
                "subject": pd.Series(subject, dtype=str),
                "body": pd.Series(body, dtype=str),
                "n_links": n_links.astype(np.int64),
                "n_attachments": n_attachments.astype(np.int64),
                "hour_sent": np.asarray(sent_at.hour, dtype=np.int64),
                "is_spam": is_spam.astype(np.int64),
            },
            columns=list(COLUMNS),
        )
        return frame

    def _text(
        self, kind: np.ndarray, world: np.ndarray, lo: int, hi: int, p_own: float, p_common: float
    ) -> list[str]:
        """Sentences of ``lo``..``hi`` words drawn from the kind's pool, filler and other pools."""
        rng = self._rng
        n = kind.shape[0]
        if n == 0:
            return []
        lengths = rng.integers(lo, hi, size=n, endpoint=True)
        row = np.repeat(np.arange(n), lengths)  # one entry per word
        total = row.shape[0]
        u = rng.random(total)
        # "Other" pools: any message kind that exists in the message's world.
        other = rng.integers(0, np.where(world == 1, _N_KINDS, OLD_SPAM + 1)[row])
        pool = np.where(u < p_own, kind[row], np.where(u < p_own + p_common, _COMMON, other))
        idx = _POOL_START[pool] + (rng.random(total) * _POOL_SIZE[pool]).astype(np.int64)
        # Object "+" concatenates str: sum each message's " word" pieces, then drop the leading space.
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        return [text[1:] for text in np.add.reduceat(_SPACED_VOCAB[idx], starts).tolist()]
