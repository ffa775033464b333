"""`segments init` as typed: the pinned install line, and one-line refusals and failures."""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, cli_env, run_cli
from tests.integration.ci_harness import build_wheel, git, make_python

GIT_SPEC = "segment-runner @ git+https://github.com/acme/segment-runner@3f1c2b9d0e8a7f6c5b4a392817161514131211aa"


def requirement(project: Path) -> str:
    """The one line of ci/requirements.txt that is not a comment."""
    lines = (project / "ci" / "requirements.txt").read_text().splitlines()
    (line,) = [x for x in lines if x and not x.startswith("#")]
    return line


def one_line(text: str) -> str:
    assert "Traceback" not in text and text.count("\n") == 1, text
    return text.strip()


def test_init_pins_the_checkout_it_was_installed_from(tmp_path: Path) -> None:
    made = run_cli("init", str(tmp_path / "new"))
    assert made.returncode == 0, made.stderr
    # make test installs this checkout in editable mode: pip recorded its folder
    assert requirement(tmp_path / "new") == f"segment-runner @ {ROOT.as_uri()}"
    assert f"CI installs segment-runner @ {ROOT.as_uri()}" in made.stdout
    warning = one_line(made.stderr)
    assert (
        warning.startswith("segments: warning: pinned to the local path")
        and "--runner-source" in warning
    )


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_runner_source_is_kept_verbatim_in_one_place(tmp_path: Path, ci: str) -> None:
    made = run_cli("init", str(tmp_path / "new"), "--ci", ci, "--runner-source", GIT_SPEC)
    assert made.returncode == 0 and made.stderr == "", made.stderr
    assert requirement(tmp_path / "new") == GIT_SPEC
    holding = [
        p.relative_to(tmp_path / "new").as_posix()
        for p in (tmp_path / "new").rglob("*")
        if p.is_file() and GIT_SPEC in p.read_text()
    ]
    assert holding == ["ci/requirements.txt"]
    ci_files = {"github": ".github/workflows", "gitlab": ".gitlab-ci.yml"}
    assert (tmp_path / "new" / ci_files[ci]).exists()
    other = {"github": ".gitlab-ci.yml", "gitlab": ".github"}[ci]
    assert not (tmp_path / "new" / other).exists()


@pytest.mark.parametrize(
    "spec",
    [
        "segment-runner",
        "segment-runner>=0.1",
        "git+https://github.com/acme/segment-runner",
        "segment-runner @ git+https://github.com/acme/segment-runner.git",
        "-e .",
        "segment-runner==0.1.0\n--index-url https://elsewhere.example/simple",
    ],
)
def test_an_unpinned_runner_source_is_refused(tmp_path: Path, spec: str) -> None:
    refused = run_cli("init", str(tmp_path / "new"), "--runner-source", spec)
    assert refused.returncode == 2
    assert one_line(refused.stderr).startswith("segments: error: --runner-source")
    assert not (tmp_path / "new").exists()


# The oracles: Python says what a line separator is (the list is checked against every
# code point by the test below it, once, rather than scanned at each collection: a second
# of CPU in each of the suite's seven collections), packaging what a name normalises to.
SEPARATORS = list("\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029")
CONTROLS = ["\x00", "\t", "\x1b", "\x7f", "\x9b", "\u202e", "\u200b"]
EVIL = "--index-url=http://evil.example/simple"
SHA = "3f1c2b9d0e8a7f6c5b4a392817161514131211aa"
DIGEST = hashlib.sha256(b"a wheel").hexdigest()
WHEEL = "https://files.example/segment_runner-0.1.0-py3-none-any.whl"
REPO = "git+https://github.com/acme/segment-runner"


def init_in_process(
    capsys: pytest.CaptureFixture[str], target: Path, spec: str
) -> tuple[int, str, str]:
    """`segments init TARGET --runner-source SPEC` through runner.cli.main: argv cannot
    carry a NUL, and no process boundary is under test here."""
    from runner.cli import main

    code = main(["init", str(target), "--runner-source", spec])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_separators_are_the_ones_python_knows() -> None:
    every = [chr(c) for c in range(0x110000) if len(f"a{chr(c)}b".splitlines()) > 1]
    assert every == SEPARATORS


@pytest.mark.parametrize("where", ["middle", "end"])
@pytest.mark.parametrize("char", SEPARATORS + CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_every_line_separator_and_control_character_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, char: str, where: str
) -> None:
    spec = (
        f"segment-runner==0.1.0{char}{EVIL}"
        if where == "middle"
        else f"segment-runner==0.1.0{char}"
    )
    code, out, err = init_in_process(capsys, tmp_path / "new", spec)
    assert code == 2 and out == ""
    line = one_line(err)
    assert line.startswith("segments: error: --runner-source takes one line"), line
    assert f"U+{ord(char):04X}" in line and "evil" not in line
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("char", ["\v", "\u2028", "\x85"])
def test_a_second_line_through_the_command_line_is_exit_2(tmp_path: Path, char: str) -> None:
    refused = run_cli(
        "init", str(tmp_path / "new"), "--runner-source", f"segment-runner==0.1.0{char}{EVIL}"
    )
    assert refused.returncode == 2
    assert one_line(refused.stderr).startswith("segments: error: --runner-source takes one line")
    assert not (tmp_path / "new").exists()


REFUSED = {
    # another distribution, whatever it is pinned to
    "segments-tools==1.0.0": "installs 'segments-tools', not segment-runner",
    "segment-runner-extra==0.1.0": "installs 'segment-runner-extra', not segment-runner",
    f"flask @ {WHEEL}#sha256={DIGEST}": "installs 'flask', not segment-runner",
    # a pin that can move
    f"segment-runner @ {REPO}@HEAD": "not pinned: 'HEAD' can move",
    f"segment-runner @ {REPO}@refs/heads/main": "not pinned: 'refs/heads/main' can move",
    f"segment-runner @ {REPO}@main": "not pinned: 'main' can move",
    f"segment-runner @ {REPO}@v0.1.0": "not pinned: 'v0.1.0' can move",
    f"segment-runner @ {REPO}@{SHA[:7]}": f"not pinned: '{SHA[:7]}' can move",
    f"segment-runner @ {REPO}@{SHA[:39]}": f"not pinned: '{SHA[:39]}' can move",
    f"segment-runner @ {REPO}.git": "not pinned: no @<commit> in the URL",
    "segment-runner==0.1.*": "not pinned: a range",
    "segment-runner~=0.1": "not pinned: a range",
    "segment-runner>=0.1,<=0.1": "not pinned: a range",
    f"segment-runner @ {WHEEL}": "not pinned: a wheel or sdist URL pins only with #sha256=",
    f"segment-runner @ {WHEEL}#md5=0123456789abcdef0123456789abcdef": "#sha256=",
    f"segment-runner @ {WHEEL}#sha256={DIGEST[:63]}": "#sha256=",
    # not a requirement naming it, or not always installed
    f"{REPO}@{SHA}": "name it: segment-runner @ URL",
    "./dist/segment_runner-0.1.0-py3-none-any.whl": "is not a requirement naming segment-runner",
    'segment-runner==0.1.0; python_version < "3"': "has an environment marker",
}


@pytest.mark.parametrize("spec", REFUSED)
def test_a_source_that_can_move_or_is_another_package_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, spec: str
) -> None:
    code, out, err = init_in_process(capsys, tmp_path / "new", spec)
    assert code == 2 and out == ""
    line = one_line(err)
    assert line.startswith("segments: error: --runner-source") and REFUSED[spec] in line, line
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    "spec",
    [
        "segments-tools==1.0.0",
        f"segment-runner @ {REPO}@HEAD",
        f"segment-runner @ {REPO}@refs/heads/main",
    ],
)
def test_the_issues_examples_are_exit_2_as_typed(tmp_path: Path, spec: str) -> None:
    refused = run_cli("init", str(tmp_path / "new"), "--runner-source", spec)
    assert refused.returncode == 2
    assert REFUSED[spec] in one_line(refused.stderr)
    assert not (tmp_path / "new").exists()


ACCEPTED = [
    "segment-runner==0.1.0",
    "Segment_Runner==0.1.0",  # PEP 503: the same name
    "segment.runner===0.1.0",
    "SEGMENT-RUNNER[s3]==0.1.0",
    f"segment-runner @ {REPO}@{SHA}",
    f"segment_runner @ {REPO}@{SHA.upper()}#subdirectory=pkg",
    f"segment-runner @ {WHEEL}#sha256={DIGEST}",
    f"segment-runner @ https://files.example/segment_runner-0.1.0.tar.gz#sha256={DIGEST}",
]


@pytest.mark.parametrize("spec", ACCEPTED)
def test_a_pin_that_cannot_move_is_kept_verbatim(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, spec: str
) -> None:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    assert canonicalize_name(Requirement(spec).name) == "segment-runner"
    code, _, err = init_in_process(capsys, tmp_path / "new", spec)
    assert code == 0 and err == "", err
    assert requirement(tmp_path / "new") == spec


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this checkout (built/dist) and the copy it was built from (built/checkout)."""
    root = tmp_path_factory.mktemp("built")
    build_wheel(root)
    return root


def installed(tmp_path: Path, *pip_args: str) -> Path:
    """A fresh virtualenv with segment-runner installed by ``pip install --no-deps ARGS``."""
    bin_dir = make_python(tmp_path / "venv")
    subprocess.run(
        [bin_dir / "python", "-m", "pip", "install", "-q", "--no-deps", *pip_args],
        check=True,
        capture_output=True,
        env=cli_env({"PIP_NO_INDEX": "1"}),
    )
    return bin_dir


def init_with(
    bin_dir: Path, target: Path, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [bin_dir / "python", "-m", "runner", "init", str(target)],
        capture_output=True,
        text=True,
        cwd=cwd or target.parent,
        env=cli_env(),
        check=False,
    )


def test_a_wheel_install_is_pinned_to_its_url_and_hash(built: Path, tmp_path: Path) -> None:
    (wheel,) = (built / "dist").glob("*.whl")
    bin_dir = installed(tmp_path, str(wheel))
    made = init_with(bin_dir, tmp_path / "new")
    assert made.returncode == 0, made.stderr
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert requirement(tmp_path / "new") == f"segment-runner @ {wheel.as_uri()}#sha256={digest}"
    # the line installs, hash checked, in a fresh environment
    again = make_python(tmp_path / "again")
    pip = [again / "python", "-m", "pip", "install", "-q", "--no-deps"]
    done = subprocess.run(
        [*pip, "-r", str(tmp_path / "new" / "ci" / "requirements.txt")],
        capture_output=True,
        text=True,
        env=cli_env({"PIP_NO_INDEX": "1"}),
    )
    assert done.returncode == 0, done.stderr
    assert (again / "segments").exists()


def test_a_git_install_is_pinned_to_its_commit(built: Path, tmp_path: Path) -> None:
    repo = built / "checkout"
    if not (repo / ".git").exists():
        git(repo, "init", "-q")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "release")
    sha = git(repo, "rev-parse", "HEAD")
    url = f"git+{repo.as_uri()}@{sha}"
    bin_dir = installed(tmp_path, "--no-build-isolation", f"segment-runner @ {url}")
    made = init_with(bin_dir, tmp_path / "new")
    assert made.returncode == 0, made.stderr
    assert requirement(tmp_path / "new") == f"segment-runner @ {url}"
    assert f"at commit {sha}" in made.stdout


def test_an_index_install_is_pinned_to_its_version(built: Path, tmp_path: Path) -> None:
    # --ignore-installed: this test's own segment-runner is visible to the new virtualenv
    bin_dir = installed(
        tmp_path, "--ignore-installed", "--find-links", str(built / "dist"), "segment-runner"
    )
    made = init_with(bin_dir, tmp_path / "new")
    assert made.returncode == 0, made.stderr
    assert requirement(tmp_path / "new") == "segment-runner==0.1.0"
    assert "--index-url" in one_line(made.stderr)


def test_nothing_to_pin_writes_a_line_that_fails_the_install(built: Path, tmp_path: Path) -> None:
    # the runner imported from a source folder that pip never installed
    bin_dir = make_python(tmp_path / "venv")
    made = init_with(bin_dir, tmp_path / "new", cwd=built / "checkout")
    assert made.returncode == 0, made.stderr
    assert requirement(tmp_path / "new").startswith("NOT PINNED: ")
    assert "cannot tell where segment-runner was installed from" in one_line(made.stderr)
    pip = [bin_dir / "python", "-m", "pip", "install", "--no-deps"]
    done = subprocess.run(
        [*pip, "-r", str(tmp_path / "new" / "ci" / "requirements.txt")],
        capture_output=True,
        text=True,
        env=cli_env({"PIP_NO_INDEX": "1"}),
    )
    assert done.returncode == 1
    assert "Invalid requirement: 'NOT PINNED: segments init could not tell" in done.stderr


# --- refusals and OS failures: one line, nothing half-written ---------------------------


def test_existing_scaffold_files_are_not_overwritten_without_force(tmp_path: Path) -> None:
    target = tmp_path / "repo"
    (target / "segments").mkdir(parents=True)
    (target / "runner.yaml").write_text("version: 1\n# mine\n")
    (target / "notes.txt").write_text("keep")
    refused = run_cli("init", str(target))
    assert refused.returncode == 2
    line = one_line(refused.stderr)
    assert f"{target / 'runner.yaml'} already exists" in line and "--force" in line
    assert (target / "runner.yaml").read_text() == "version: 1\n# mine\n"
    assert sorted(p.name for p in target.rglob("*")) == ["notes.txt", "runner.yaml", "segments"]
    forced = run_cli("init", str(target), "--force", "--runner-source", GIT_SPEC)
    assert forced.returncode == 0 and "# mine" not in (target / "runner.yaml").read_text()


def test_a_non_empty_folder_without_clashes_gets_the_scaffold(tmp_path: Path) -> None:
    target = tmp_path / "repo"
    target.mkdir()
    (target / "README.md").write_text("ours")
    made = run_cli("init", str(target), "--runner-source", GIT_SPEC)
    assert made.returncode == 0, made.stderr
    assert (target / "README.md").read_text() == "ours" and (target / "runner.yaml").exists()


def test_a_file_as_target_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    refused = run_cli("init", str(tmp_path / "file"))
    assert refused.returncode == 2
    assert "is not a folder" in one_line(refused.stderr)


def test_a_path_through_a_file_fails_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    failed = run_cli("init", str(tmp_path / "file" / "new"), "--runner-source", GIT_SPEC)
    assert failed.returncode == 1
    line = one_line(failed.stderr)
    assert line.endswith("Not a directory; nothing was written"), line


def test_a_full_disk_leaves_nothing_behind(tmp_path: Path) -> None:
    """A 2,000-byte file size limit (a real kernel limit) stops init at the first workflow."""
    target = tmp_path / "new"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))

    failed = subprocess.run(
        [sys.executable, "-m", "runner", "init", str(target), "--runner-source", GIT_SPEC],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=cli_env(),
        preexec_fn=limit,
        check=False,
    )
    assert failed.returncode == 1
    line = one_line(failed.stderr)
    assert "File too large; nothing was written" in line and ".github/workflows" in line, line
    assert not target.exists()
    assert os.listdir(tmp_path) == []
