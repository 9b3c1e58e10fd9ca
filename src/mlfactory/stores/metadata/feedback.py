"""Feedback: true labels of served predictions, by request id."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from mlfactory.entities import FeedbackRecord

# At most one feedback.received event per model and this many seconds: labels are data, the audit log is
# for decisions.
FEEDBACK_SUMMARY_SECONDS = 3600.0


class FeedbackStore(ABC):
    """True labels by request id."""

    @abstractmethod
    def add_feedback(
        self,
        labels: Sequence[tuple[str, Any]],
        *,
        actor: str,
        model: str | None = None,
        problems: Mapping[str, str] | None = None,
    ) -> int:
        """Store true labels by request id; a later label for a request id replaces an earlier one.

        Args:
            labels: (request id, label) pairs, labels already in the model's label type; a request id
                given twice keeps its last label.
            actor: who sent them.
            model: the model whose predictions they label.
            problems: request id -> why its label does not fit the model; those are stored, marked (the
                reason cut to 500 characters), and never returned by :meth:`get_feedback` unless asked for.

        Returns:
            How many usable labels (without a problem) were stored; 0 for no labels.

        Raises:
            StoreUnavailableError: the store cannot be reached.

        Guarantees: all labels or none are stored (atomic). The audit log gets at most one
        ``feedback.received`` event per model and FEEDBACK_SUMMARY_SECONDS, counting every label stored
        since the previous one, written with the labels that trigger it.
        """

    @abstractmethod
    def get_feedback(
        self,
        request_ids: Sequence[str] | None = None,
        *,
        since: datetime | None = None,
        include_invalid: bool = False,
    ) -> list[FeedbackRecord]:
        """Stored labels.

        Args:
            request_ids: only these request ids (all when None).
            since: only labels received at or after this time.
            include_invalid: also the labels marked with a problem.

        Returns:
            One record per request id (``problem`` is None for a usable label), in no particular order.

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """
