"""Logging hygiene: no names, INS or document content in the logs; query strings (trait searches carry
names) never reach the access log."""

from __future__ import annotations

import logging


class DropQueryStrings(logging.Filter):
    """uvicorn's access-log record has args (client, method, path with query, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (args[0], args[1], args[2].split("?", 1)[0] + "?…", args[3], args[4])
        return True


def install() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, DropQueryStrings) for f in access.filters):
        access.addFilter(DropQueryStrings())
