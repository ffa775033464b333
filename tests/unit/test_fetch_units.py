"""Small parts of the fetcher that need no server."""

from __future__ import annotations

import email.utils
import ssl
import string
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from urllib3.exceptions import SSLError

from runner.fetch import retry as pacing
from runner.fetch.redact import Redactor, token_problem
from runner.fetch.reply import envelope_failure, retry_after
from runner.fetch.retry import RateLimiter
from runner.fetch.transport import tls_is_permanent
from runner.sandbox.faults import ECHO_FORMS
from tests.integration.test_token_forms import leaks


def _ssl_error(reason: str) -> ssl.SSLError:
    error = ssl.SSLError(1, f"[SSL: {reason}] ...")
    error.reason = reason
    return error


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("", None), ("3", 3.0), ("0", 0.0), ("-5", 0.0), ("9999", 60.0), ("soon", None)],
)
def test_retry_after_seconds_are_capped(header: str | None, expected: float | None) -> None:
    assert retry_after(header, cap=60.0) == expected


def test_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    value = retry_after(when, cap=60.0)
    assert value is not None and 25 <= value <= 30


def test_rate_limiter_spaces_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    monkeypatch.setattr(pacing.time, "sleep", sleep)
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


SECRET = "tok-Zq9-VERY-SECRET-a81f"


@pytest.mark.parametrize("limit", [10, 50, 100, 200, 300])
@pytest.mark.parametrize("at", [0, 5, 37, 95, 190, 290])
def test_no_piece_of_the_secret_survives_a_cut(limit: int, at: int) -> None:
    text = "x" * at + f"Bearer {SECRET}" + " tail" * 80
    shown = Redactor(SECRET)(text, limit)
    assert len(shown) <= limit
    assert not any(SECRET[i : i + 6] in shown for i in range(len(SECRET) - 5))


def test_pieces_the_server_cut_itself_are_masked() -> None:
    scrub = Redactor(SECRET)
    assert scrub(f"token {SECRET[:12]}... and {SECRET[-9:]}", 100) == "token ***... and ***"
    assert scrub("nothing secret here", 100) == "nothing secret here"
    assert scrub("multi\n  line\ttext", 100) == "multi line text"


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ("abc\ndef", "FLOWMATIX_TOKEN contains a control character"),
        ("abc\rdef", "FLOWMATIX_TOKEN contains a control character"),
        ("abc\x7fdef", "FLOWMATIX_TOKEN contains a control character"),
        ("abcédef", "FLOWMATIX_TOKEN contains a character that is not ASCII"),
        ("abc-DEF_123.xyz~+/=", None),
    ],
)
def test_token_problems_never_quote_the_token(token: str, problem: str | None) -> None:
    found = token_problem("FLOWMATIX_TOKEN", token)
    assert found == problem if problem is None else found is not None and found.startswith(problem)
    assert found is None or "abc" not in found


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        # the documented success shape, and pages of it: never a failure
        ({"success": True, "message": "Users fetched successfully", "data": [], "code": 200}, None),
        ({"success": True, "message": "ok", "data": [{"_id": "a"}], "code": 200}, None),
        ({"success": True, "data": []}, None),
        # no `success` key: records are taken, but an empty list does not end the list
        ({"data": [{"_id": "a"}]}, None),
        ({"data": []}, 'no "success": true with an empty list'),
        ({"message": "x", "code": 200, "data": []}, 'no "success": true with an empty list'),
        ({"message": "Database connection lost"}, 'a message and no "data"'),
        # success that is not `true`, or an error code, whatever else the body says
        ({"success": False, "data": []}, '"success": false'),
        ({"success": "true", "data": [{"_id": "a"}]}, '"success": "true"'),
        ({"success": None, "data": []}, '"success": null'),
        ({"success": True, "code": 503, "data": []}, "code 503"),
        ({"success": True, "code": "429", "data": []}, "code 429"),
        ({"success": True, "code": "E_LIMIT", "data": [{"_id": "a"}]}, "code 'E_LIMIT'"),
        ({"success": False, "code": 401}, "code 401"),
    ],
)
def test_what_an_envelope_says(payload: dict[str, object], says: str | None) -> None:
    failure = envelope_failure(payload, "data")
    assert (failure.said if failure else None) == says


B64TOKEN = st.text(
    alphabet=string.ascii_letters + string.digits + "-._~+/", min_size=12, max_size=90
).map(lambda t: t + "=" * (len(t) % 3))


@settings(max_examples=60, deadline=None)
@given(token=B64TOKEN, form=st.sampled_from(sorted(ECHO_FORMS)), before=st.text(max_size=5))
def test_any_rfc_6750_token_in_any_form_is_masked(token: str, form: str, before: str) -> None:
    """Every echo form of any token the RFC allows, wherever it sits, loses every piece;
    the detector is the one the integration tests read outputs with (stdlib decoders)."""
    echoed = f"error: {before}{ECHO_FORMS[form](f'Bearer {token}')} end"
    assert leaks(echoed, token), form  # the detector sees it unmasked
    assert leaks(Redactor(token).mask(echoed), token) == []


@pytest.mark.parametrize(
    "text",
    [
        '{"id": "65f1c2b9d0e8a7f6c5b4a392", "sha256": "3f1c2b9d0e8a7f6c5b4a3928171615141312"}',
        "page 3: HTTP 200, code 429 Too many requests, try later (gave up after 6 attempts)",
        "QmVhcmVyIG90aGVyLXRva2Vu &#43; %2F \\u002B &plus; eyJhbGciOiJIUzI1NiJ9",
    ],
)
def test_text_without_the_token_is_left_alone(text: str) -> None:
    assert Redactor("Ab1+Cd2/Ef3+Gh4-Ij5.Kl6_Mn7~Op8==").mask(text) == text


def test_a_masked_escape_is_masked_whole() -> None:
    scrub = Redactor("Ab1+Cd2/Ef3")
    assert scrub.mask("x Ab1%2BCd2%2fEf3 y") == "x *** y"
    assert scrub.mask("x Ab1&#x2b;Cd2&sol;Ef3 y") == "x *** y"
    assert scrub.mask('{"m": "Ab1\\u002bCd2\\/Ef3"}') == '{"m": "***"}'
