"""Logs: one JSON object per line, with the request id (or the RQ job id), and never a phone number.

Rules:
- every process logs the same way (`configure`: the web workers, the RQ worker and its work
  horses, CLI commands), to stderr, as JSON lines (python-json-logger); `LOG_FORMAT=text` gives
  plain lines for local debugging;
- a request's id is the caller's `X-Request-Id` when it is `[A-Za-z0-9._-]{1,64}` and holds
  nothing that looks like a phone number, otherwise a fresh uuid4 hex; it is sent back in the
  `X-Request-Id` header and added to every record logged during the request (`ContextFilter`);
  a record logged inside an RQ job carries the job's id instead;
- `RedactingFilter` sits on the handler: every record's final message, exception text, stack and
  extra fields go through `gateway.phones.redact_numbers` before any formatter sees them,
  so no raw number reaches a log even when a bug logs one; only `request_id` (validated or
  generated here) and `job_id` (RQ's, built by the gateway from row ids and cell keys) are
  exempt: a masked id could no longer be searched for;
- this module configures handlers only where none exist (a host's, or pytest's, win).
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from typing import IO

from pythonjsonlogger.json import JsonFormatter

from gateway.phones import redact_numbers

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Ids that are never personal data, and that a mask would make unsearchable.
_OWN_FIELDS = frozenset({"request_id", "job_id"})
# What a LogRecord holds by itself; every other attribute came through `extra=`.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def request_id_from(header: str | None) -> str:
    """The caller's id when it is safe to log and echo; a new one otherwise."""
    if header and _REQUEST_ID.fullmatch(header) and redact_numbers(header) == header:
        return header
    return uuid.uuid4().hex


class ContextFilter(logging.Filter):
    """Adds `request_id` inside a Flask request, `job_id` inside an RQ job."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = _current_request_id()
        if request_id is not None:
            record.request_id = request_id
        job_id = _current_job_id()
        if job_id is not None:
            record.job_id = job_id
        return True


def _current_request_id() -> str | None:
    from flask import g, has_request_context

    if not has_request_context():
        return None
    value = g.get("request_id")
    return value if isinstance(value, str) else None


def _current_job_id() -> str | None:
    from rq import get_current_job

    job = get_current_job()
    return job.id if job is not None else None


class RedactingFilter(logging.Filter):
    """Masks anything that may be a phone number in what the formatter will write."""

    def __init__(self) -> None:
        super().__init__()
        self._plain = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._redact(record)
        except Exception:  # a log call must never fail, nor leak what it could not mask
            record.msg, record.args = f"(a {record.levelname} record could not be masked)", None
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True

    def _redact(self, record: logging.LogRecord) -> None:
        record.msg = redact_numbers(record.getMessage())
        record.args = None
        if record.exc_info:
            # Formatted once here, masked, and kept as the record's exception text; every
            # formatter (ours, pytest's) prints `exc_text` when there is no `exc_info` left.
            record.exc_text = self._plain.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact_numbers(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_numbers(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _RECORD_FIELDS and key not in _OWN_FIELDS:
                setattr(record, key, _masked(value))


def _masked(value: object) -> object:
    """`value` (an `extra` field: RQ logs a job's arguments) with numbers masked, its type kept
    where nothing was masked."""
    if isinstance(value, str):
        return redact_numbers(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        text = str(value)
        masked = redact_numbers(text)
        return value if masked == text else masked
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    if isinstance(value, dict):
        return {str(_masked(str(k))): _masked(v) for k, v in value.items()}
    return redact_numbers(str(value))  # what a formatter would print of it


def formatter_for(log_format: str) -> logging.Formatter:
    if log_format == "text":
        return logging.Formatter(TEXT_FORMAT)
    return JsonFormatter("%(levelname)s %(name)s %(process)d %(message)s", timestamp="time",
                         rename_fields={"levelname": "level", "name": "logger"})


def dress(handler: logging.Handler, log_format: str = "json") -> logging.Handler:
    """Give `handler` the gateway's format and filters (ids first, then the redaction)."""
    handler.setFormatter(formatter_for(log_format))
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    return handler


def handler(stream: IO[str] | None = None, log_format: str = "json") -> logging.Handler:
    """A stream handler (stderr by default) logging the gateway's way."""
    return dress(logging.StreamHandler(stream or sys.stderr), log_format)


def configure(log_format: str = "json", level: int = logging.INFO) -> None:
    """Log the gateway's way from the root logger, unless the host configured logging already."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # readyz checks the revision often
    root = logging.getLogger()
    if root.handlers:
        return
    root.addHandler(handler(log_format=log_format))
    root.setLevel(level)

