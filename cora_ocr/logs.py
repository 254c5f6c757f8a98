"""Log lines a request cannot forge.

Paths, header values, SOAP fields and reasons reach log messages; a CR, LF or NUL in them
would start a line that looks like a record of its own (`GET /x%0D%0A2026-... ERROR ...`), or
break a log reader. The formatter here writes each record's message on one line, with every
control character escaped as Python would write it (`\\r`, `\\n`, `\\x00`), and indents every
further line of the record (a traceback, a stack) by two spaces: a line that starts at its
first column is always the first line of a record.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

# C0 controls but tab, DEL, C1 controls, and the Unicode line and paragraph separators.
_CONTROLS = [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]
_ESCAPES = {code: repr(chr(code))[1:-1] for code in _CONTROLS if code != 0x09}
_CONTINUATION = "\n  "


def one_line(text: str) -> str:
    """`text` with its control characters escaped: no line break, no NUL."""
    return text.translate(_ESCAPES)


class OneLineFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        first, *rest = super().format(record).split("\n")
        if not rest:
            return first
        return first + _CONTINUATION + _CONTINUATION.join(one_line(line) for line in rest)


FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# What every LogRecord has: anything else on a record came from `extra` and is kept in JSON.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, every `extra`
    field (job_id, license_id, peer, error_code, ...), and the traceback if any. JSON escapes
    line breaks, so a record is always one line."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, default=str, ensure_ascii=False)


QUIET_LIBRARIES = ("azure", "botocore", "boto3", "s3transfer", "paramiko", "smbprotocol", "spnego")


def configure(level: str, log_format: str = "text") -> None:
    """The root logger for every command: records on standard error, one line each (text),
    or one JSON object each (json)."""
    root = logging.getLogger()
    for earlier in [h for h in root.handlers if getattr(h, "cora_ocr", False)]:
        root.removeHandler(earlier)  # configured again once the settings are read
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else OneLineFormatter(FORMAT))
    handler.cora_ocr = True  # type: ignore[attr-defined]
    if not root.handlers:
        root.addHandler(handler)
    root.setLevel(level.upper())
    # Alembic's two lines at every start ("Context impl ...", "Will assume ... DDL") say
    # nothing; the lines of migrations that run are kept.
    logging.getLogger("alembic.runtime.migration").addFilter(_no_alembic_boilerplate)
    # Waitress warns for every request that waits for a free task thread: under load that is
    # one line per request, and waiting there is normal (the loop has already read it).
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    # watchdog logs every inotify event at DEBUG: far too much even for debugging ours.
    logging.getLogger("watchdog").setLevel(logging.INFO)
    # The cloud and remote SDKs log each request (the Azure SDK its headers) at INFO: an
    # operator's `connections check` or a worker's log is ours to say, theirs at WARNING.
    for library in QUIET_LIBRARIES:
        logging.getLogger(library).setLevel(max(logging.WARNING, root.level))


def _no_alembic_boilerplate(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(("Context impl ", "Will assume "))
