"""Log lines a request cannot forge.

Paths, header values, SOAP fields and reasons reach log messages; a CR, LF or NUL in them
would start a line that looks like a record of its own (`GET /x%0D%0A2026-... ERROR ...`), or
break a log reader. The formatter here writes each record's message on one line, with every
control character escaped as Python would write it (`\\r`, `\\n`, `\\x00`), and indents every
further line of the record (a traceback, a stack) by two spaces: a line that starts at its
first column is always the first line of a record.
"""

from __future__ import annotations

import logging

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


def configure(level: str) -> None:
    """The root logger for every command: one-line records on standard error."""
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    # Alembic's two lines at every start ("Context impl ...", "Will assume ... DDL") say
    # nothing; the lines of migrations that run are kept.
    logging.getLogger("alembic.runtime.migration").addFilter(_no_alembic_boilerplate)
    # Waitress warns for every request that waits for a free task thread: under load that is
    # one line per request, and waiting there is normal (the loop has already read it).
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    # watchdog logs every inotify event at DEBUG: far too much even for debugging ours.
    logging.getLogger("watchdog").setLevel(logging.INFO)


def _no_alembic_boilerplate(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(("Context impl ", "Will assume "))
