"""Names searched for never reach the access log; the served app installs the filter."""

from __future__ import annotations

import logging

from app.logs import DropQueryStrings, install


def test_access_log_drops_query_strings() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/usagers?q=helene%20dargent", "1.1", 200),
        None,
    )
    assert DropQueryStrings().filter(record)
    message = record.getMessage()
    assert "helene" not in message and "/usagers?…" in message
    install()
    install()
    assert sum(isinstance(f, DropQueryStrings) for f in logging.getLogger("uvicorn.access").filters) == 1
