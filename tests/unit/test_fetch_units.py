"""Small parts of the fetcher that need no server."""

from __future__ import annotations

import email.utils
import ssl
import time

import pytest
from urllib3.exceptions import SSLError

from runner import fetch
from runner.fetch import RateLimiter, _retry_after, tls_is_permanent


def _ssl_error(reason: str) -> ssl.SSLError:
    error = ssl.SSLError(1, f"[SSL: {reason}] ...")
    error.reason = reason
    return error


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("", None), ("3", 3.0), ("0", 0.0), ("-5", 0.0), ("9999", 60.0), ("soon", None)],
)
def test_retry_after_seconds_are_capped(header: str | None, expected: float | None) -> None:
    assert _retry_after(header, cap=60.0) == expected


def test_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    value = _retry_after(when, cap=60.0)
    assert value is not None and 25 <= value <= 30


def test_rate_limiter_spaces_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    monkeypatch.setattr(fetch.time, "sleep", sleep)
    limiter = RateLimiter(4.0, clock=lambda: now[0])
    for _ in range(4):
        limiter.wait()
    assert slept == [0.25, 0.25, 0.25]
    RateLimiter(0.0, clock=lambda: now[0]).wait()  # 0 means no limit
    assert len(slept) == 3


@pytest.mark.parametrize(
    ("inner", "permanent"),
    [
        (ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] self-signed"), True),
        (_ssl_error("WRONG_VERSION_NUMBER"), True),
        (_ssl_error("UNEXPECTED_EOF_WHILE_READING"), False),
        (_ssl_error("SSLV3_ALERT_HANDSHAKE_FAILURE"), False),
    ],
)
def test_tls_failures_retried_only_when_another_try_can_help(
    inner: ssl.SSLError, permanent: bool
) -> None:
    assert tls_is_permanent(SSLError(inner)) is permanent
