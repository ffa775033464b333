"""No form of the API token leaves the process (issue 24.1), through any output.

The sandbox's errors quote the request's ``Authorization`` header re-encoded
(``echo_form``: percent-encoded in either case, form-encoded, JSON-escaped, hex
escapes, HTML entities named/decimal/hex, base64 and base64url of the token, of the
header and of a longer text, with and without padding). A token made of every
character RFC 6750 allows runs an export that is retried past such errors and
succeeds, then one that fails on one; stdout, stderr, the results file, every file
under the project (history, manifest, data) and every notification a local webhook
received are then read back the ways a reader could decode them with the standard
library (``urllib.parse``, ``html``, JSON escapes, ``base64`` at every offset), and
no 8-character piece of the token may appear in any of them.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import string
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, unquote_plus

import pytest

from runner.sandbox import Sandbox
from runner.sandbox.faults import ECHO_FORMS
from tests.conftest import ANCHOR, FAST_RETRY, api_env, file_text, make_project, run_cli
from tests.integration.test_export import ALL_CONTACTS
from tests.integration.test_history_export import Hook, hook  # noqa: F401 (a fixture)
from tests.integration.test_review import repo_with_segments

Start = Callable[..., Sandbox]
# RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
ALLOWED = string.ascii_letters + string.digits + "-._~+/"


def _dense_token() -> str:
    """Every allowed character, with a ``+`` or ``/`` after every three letters or digits
    (``ab-c+def/...==``), as the issue's ``Ab1+Cd2/Ef3+...``: an encoder that escapes
    those leaves no stretch of the raw token long enough to be recognised as such."""
    alnum, marks, groups = string.ascii_letters + string.digits, "-._~", []
    for n, at in enumerate(range(0, len(alnum), 3)):
        group = alnum[at : at + 3]
        if n < len(marks):
            group = group[0] + marks[n] + group[1:]
        groups.append(group + "+/"[n % 2])
    return "".join(groups) + "=="


TOKEN = _dense_token()
SHORT = "A+/b-._~9="  # short: every piece of it counts
PIECE = 8


def _json_unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1) or match.group(2)
        return chr(int(code, 16)) if code else match.group(3)

    return re.sub(r"\\(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|(.))", one, text)


def readings(text: str) -> set[str]:
    """``text`` and what the standard library decodes it into, three layers deep."""
    seen, frontier = {text}, [text]
    for _ in range(3):
        found = {
            decode(t)
            for t in frontier
            for decode in (unquote, unquote_plus, html.unescape, _json_unescape)
        }
        frontier = sorted(found - seen)
        seen |= found
    return seen


def _base64_readings(text: str) -> list[str]:
    """Every stretch that looks like base64 (or base64url), decoded from each offset."""
    out = []
    for run in re.findall(r"[A-Za-z0-9+/_-]{8,}", text):
        standard = run.translate(str.maketrans("-_", "+/"))
        for offset in range(4):
            chunk = standard[offset:]
            chunk = chunk[: len(chunk) // 4 * 4]
            try:
                out.append(base64.b64decode(chunk).decode("latin-1"))
            except (binascii.Error, ValueError):
                continue
    return out


def leaks(text: str, token: str = TOKEN) -> list[str]:
    size = min(PIECE, len(token))
    pieces = {token[i : i + size] for i in range(len(token) - size + 1)}
    found = set()
    for reading in readings(text):
        for candidate in (reading, *_base64_readings(reading)):
            found |= {piece for piece in pieces if piece in candidate}
    return sorted(found)


def test_the_token_uses_every_character_rfc_6750_allows() -> None:
    assert set(TOKEN) == set(ALLOWED) | {"="} and TOKEN.endswith("==")
    assert re.fullmatch(r"[A-Za-z0-9._~+/-]+=*", TOKEN)


@pytest.mark.parametrize("form", sorted(ECHO_FORMS))
def test_each_form_is_one_a_reader_can_decode(form: str) -> None:
    """The echoes really carry the token: the detector finds it in every unmasked form."""
    for token in (TOKEN, SHORT):
        assert leaks(ECHO_FORMS[form](f"Bearer {token}"), token), form


def outputs(
    project: Path, runs: list[subprocess.CompletedProcess[str]], received: Hook
) -> dict[str, str]:
    texts = {
        f"run {n} {stream}": getattr(run, stream)
        for n, run in enumerate(runs)
        for stream in ("stdout", "stderr")
    }
    for path in project.rglob("*"):
        if path.is_file():
            texts[str(path.relative_to(project))] = file_text(path)
    texts["notifications"] = json.dumps(received.received)
    return texts


@pytest.mark.parametrize("form", sorted(ECHO_FORMS))
def test_no_form_of_the_token_reaches_any_output(
    sandbox: Start,
    tmp_path: Path,
    hook: Hook,  # noqa: F811
    form: str,
) -> None:
    runner_yaml = FAST_RETRY + f"notify:\n  - {{url: '{hook.url('ok')}', on: [success, failure]}}\n"
    project = make_project(tmp_path, {"everyone": ALL_CONTACTS.format(fmt="csv")}, runner_yaml)
    retried = sandbox(
        users=120, token=TOKEN, echo_form=form, faults="echo500@1,echohtml@2,echotext@3"
    )
    args = ["export", "--as-of", ANCHOR, "--concurrency", "1", "--progress", "log"]
    ok = run_cli(*args, "--results", "ok.json", cwd=project, env=api_env(retried))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert retried.stats["fault:echo500"] == 1 and retried.stats["fault:echotext"] == 1
    assert ok.stderr.count("retrying page 1") == 3 and "***" in ok.stderr  # shown, masked
    refused = sandbox(users=120, token=TOKEN, echo_form=form, faults="echo401@1")
    failed = run_cli(*args, "--results", "failed.json", cwd=project, env=api_env(refused))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "the API refused the token (HTTP 401)" in failed.stdout and "***" in failed.stdout
    assert [kind for _, kind in ((p, m["type"]) for p, m in hook.received)] == [
        "success",
        "failure",
    ]
    texts = outputs(project, [ok, failed], hook)
    assert {"ok.json", "failed.json", "out/everyone.csv.manifest.json"} <= set(texts)
    assert any(name.startswith(".segments/history/") for name in texts)
    assert "***" in texts["failed.json"] and "***" in texts["notifications"]
    assert {name: leaks(text) for name, text in texts.items() if leaks(text)} == {}


@pytest.mark.parametrize("form", ["percent", "json-u-lower", "html-hex", "base64-header-nopad"])
def test_diff_count_masks_every_form(sandbox: Start, tmp_path: Path, form: str) -> None:
    api = sandbox(users=200, token=TOKEN, echo_form=form, faults="echo401@1")
    repo = repo_with_segments(tmp_path)
    alpha = repo / "segments" / "alpha.yaml"
    alpha.write_text(alpha.read_text().replace("[vip]", "[vip, gold]"))
    result = run_cli("diff", "main", "--count", "--as-of", ANCHOR, cwd=repo, env=api_env(api))
    assert result.returncode == 1
    assert "the API refused the token (HTTP 401)" in result.stderr and "***" in result.stderr
    assert leaks(result.stdout) == [] and leaks(result.stderr) == []
