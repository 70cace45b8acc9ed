"""A reply that arrives after its asker stopped waiting is expected after a timeout: it is
logged at INFO, not as a failure; other consumer failures stay errors."""

from __future__ import annotations

import logging

import anyio
import pytest

from lre_shared.bus.publish import LateReplies


def logged(error: BaseException, caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    logger = logging.getLogger("aiormq.channel")
    late = LateReplies()
    logger.addFilter(late)
    try:
        with caplog.at_level(logging.INFO, logger="aiormq.channel"):
            logger.error("Consumer callback failed", exc_info=error)
    finally:
        logger.removeFilter(late)
    [record] = caplog.records
    return record


def test_a_reply_to_an_asker_that_stopped_waiting_is_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    record = logged(anyio.ClosedResourceError(), caplog)
    assert record.levelno == logging.INFO
    assert record.getMessage() == "a reply came after its asker stopped waiting: dropped"
    assert record.exc_info is None


def test_another_consumer_failure_stays_an_error(caplog: pytest.LogCaptureFixture) -> None:
    record = logged(ValueError("a bug"), caplog)
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "Consumer callback failed"
