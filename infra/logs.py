"""Logging: every line of work names the space, the stage and the participant it is about (and a
request's id, or the queue message's), as plain text or, with ``SPACECAST_LOG_FORMAT=json``, as
one JSON object per line with those ids as fields."""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

# The request an API process is answering (set by api.app's middleware).
request_id: ContextVar[str | None] = ContextVar("spacecast_request_id", default=None)
# What a request may name itself with (X-Request-ID); anything else gets an id of ours.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_FIELDS = ("space_id", "stage", "participant_id", "request_id", "message_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class _StageLog(logging.LoggerAdapter):
    def process(self, msg, kwargs):
        kwargs["extra"] = {**self.extra["fields"], "context_prefix": self.extra["prefix"]}
        return f"{self.extra['prefix']}{msg}", kwargs


def stage_logger(space_id: str, stage: str, subject: str = "") -> logging.LoggerAdapter:
    """A logger whose every line names the space, the stage and the participant."""
    context = f"space={space_id} stage={stage}" + (f" participant={subject}" if subject else "")
    fields = {"space_id": space_id, "stage": stage}
    if subject:
        fields["participant_id"] = subject
    return _StageLog(
        logging.getLogger("spacecast.worker"), {"fields": fields, "prefix": f"[{context}] "}
    )


def request_id_for(offered: str | None) -> str:
    """The id a request is logged under: the caller's ``X-Request-ID`` when it is a plain token
    of at most 64 characters (a proxy's, to follow one request across services), else ours."""
    if offered and _REQUEST_ID.match(offered):
        return offered
    return uuid.uuid4().hex


class _Context(logging.Filter):
    """Adds the current request's id and the current queue message's id to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        if getattr(record, "message_id", None) is None:
            record.message_id = _current_message_id()
        return True


def _current_message_id() -> str | None:
    if "dramatiq" not in sys.modules:
        return None
    from dramatiq.middleware import CurrentMessage

    message = CurrentMessage.get_current_message()
    return message.message_id if message is not None else None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the ids it concerns, and
    the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        prefix = getattr(record, "context_prefix", "")
        if prefix and message.startswith(prefix):
            message = message[len(prefix) :]  # the ids are fields of their own
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
            "process": record.process,
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def wants_json(log_format: str, stream=None) -> bool:
    """``json``; or ``auto`` when the stream (stderr) is not a terminal."""
    if log_format == "auto":
        return not (stream or sys.stderr).isatty()
    return log_format == "json"


def configure_logging(log_format: str) -> None:
    """Give every handler of the root logger (the command's own, or Dramatiq's in its worker
    processes) the chosen format and the request and message ids."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format=TEXT_FORMAT)
    as_json = wants_json(log_format)
    for handler in root.handlers:
        if not any(isinstance(f, _Context) for f in handler.filters):
            handler.addFilter(_Context())
        if as_json:
            handler.setFormatter(JsonFormatter())
