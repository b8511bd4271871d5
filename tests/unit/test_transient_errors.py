"""Which failures stop a consumer (retry later) and which dead-letter a message."""

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from shared.kafka.consumer import is_transient
from shared.kafka.producer import KafkaUnavailable


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(),
        TimeoutError(),
        KafkaUnavailable("down"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.TooManyConnectionsError("too many clients"),
        asyncpg.exceptions.AdminShutdownError(
            "terminating connection due to administrator command"
        ),
        OperationalError("SELECT 1", {}, Exception("gone")),
        DBAPIError(
            "SELECT 1",
            {},
            asyncpg.exceptions.CannotConnectNowError("starting"),
            connection_invalidated=False,
        ),
    ],
)
def test_infrastructure_errors_are_transient(exc: BaseException) -> None:
    assert is_transient(exc)


def test_wrapped_cause_counts() -> None:
    try:
        try:
            raise asyncpg.exceptions.ConnectionDoesNotExistError("closed")
        except Exception as inner:
            raise RuntimeError("while handling") from inner
    except RuntimeError as outer:
        assert is_transient(outer)


@pytest.mark.parametrize(
    "exc",
    [
        KeyError("field"),
        ValueError("bad"),
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        IntegrityError("INSERT", {}, asyncpg.exceptions.UniqueViolationError("duplicate key")),
    ],
)
def test_bugs_and_bad_data_are_not_transient(exc: BaseException) -> None:
    assert not is_transient(exc)
