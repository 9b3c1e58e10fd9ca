"""The one exception tree of mlfactory.

Every error a user can cause or meet is one of these. Each class knows the HTTP status the server answers
with and the exit code the CLI ends with, so both edges map errors in exactly one place.

    MLFactoryError                      500 / exit 1
    ├── ConfigError (ValueError)        422 / exit 2   a project file, flag or setting is wrong
    ├── ValidationError (ValueError)    422 / exit 3   data does not match its schema or a request body is bad
    │   └── PayloadTooLargeError        413 / exit 3   a request over the configured row or byte limit
    ├── NotFoundError (LookupError)     404 / exit 4   unknown source, dataset, run, model, version or alias
    ├── ConflictError                   409 / exit 5   the change contradicts stored state (e.g. a rejected
    │                                                  model taking `production` without --force)
    ├── GateFailedError                 409 / exit 6   a model failed one of its quality gates
    ├── IntegrityError                  500 / exit 7   a stored artifact does not match its hash
    ├── StoreUnavailableError           503 / exit 8   a database, source, online store or bucket cannot be
    │                                                  reached
    ├── UnauthorizedError               401 / exit 9   a missing or wrong bearer token
    │   └── ForbiddenError              403 / exit 9   a known token whose role does not allow the call
    ├── TrainingError                   500 / exit 10  fitting or packaging a model failed
    ├── StorageError                    500 / exit 11  object storage refused a read or write (e.g. access
    │                                                  denied)
    ├── ComputeError (RuntimeError)     500 / exit 12  the executor failed: Ray missing, a cluster
    │                                                  unreachable, a task raised or its worker died
    ├── AuditFailedError                409 / exit 13  the audit scored under the bar asked for
    │                                                  (`mlfactory audit --fail-under`)
    └── ExportError                     409 / exit 14  a model cannot be exported faithfully: no converter
                                                       for a step, or the export answers differently
"""

from __future__ import annotations


class MLFactoryError(Exception):
    """Root of every mlfactory error."""

    http_status = 500
    exit_code = 1


class ConfigError(MLFactoryError, ValueError):
    """A project file, flag or setting is wrong; the message names the field and the allowed values."""

    http_status = 422
    exit_code = 2


class ValidationError(MLFactoryError, ValueError):
    """Data does not match its schema, or a request body is malformed."""

    http_status = 422
    exit_code = 3

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = list(reasons or [])


class PayloadTooLargeError(ValidationError):
    """A request carries more rows or bytes than the server is configured to take."""

    http_status = 413


class NotFoundError(MLFactoryError, LookupError):
    """An unknown source, dataset, run, model, version or alias."""

    http_status = 404
    exit_code = 4

    def __str__(self) -> str:  # LookupError would quote the message
        return str(self.args[0]) if self.args else ""


class ConflictError(MLFactoryError):
    """The requested change contradicts what is stored."""

    http_status = 409
    exit_code = 5


class GateFailedError(MLFactoryError):
    """A model failed one or more of its quality gates."""

    http_status = 409
    exit_code = 6


class IntegrityError(MLFactoryError):
    """A stored artifact's bytes do not match the hash they were stored under."""

    http_status = 500
    exit_code = 7


class StoreUnavailableError(MLFactoryError, ConnectionError):
    """A database, data source or online store cannot be reached."""

    http_status = 503
    exit_code = 8


class UnauthorizedError(MLFactoryError):
    """A changing endpoint was called without the configured bearer token."""

    http_status = 401
    exit_code = 9


class ForbiddenError(UnauthorizedError):
    """A known token whose role does not allow what was asked."""

    http_status = 403


class TrainingError(MLFactoryError, RuntimeError):
    """Fitting, evaluating or packaging a model failed."""

    http_status = 500
    exit_code = 10


class StorageError(MLFactoryError):
    """Object storage refused a read or write (e.g. access denied); the message names the URL, no secret."""

    http_status = 500
    exit_code = 11


class ComputeError(MLFactoryError, RuntimeError):
    """The executor could not run the work: Ray is not installed, a cluster cannot be reached, a task raised
    or the worker running it died; the message names the compute URL or the item's position and the cause."""

    http_status = 500
    exit_code = 12


class AuditFailedError(MLFactoryError):
    """The project's ML Test Score is under the bar a caller set (``mlfactory audit --fail-under``); the
    message names the score, the weakest section and where the report is."""

    http_status = 409
    exit_code = 13


class ExportError(MLFactoryError):
    """A model cannot be exported to another runtime (ONNX): a step has no converter, or the exported model
    answers differently from the model on its holdout; the message names the step or the rows."""

    http_status = 409
    exit_code = 14
