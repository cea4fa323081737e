"""The README's code runs as written, so it cannot drift from the code (issue 11 item 7).

Every fenced block of README.md (```sh or ```python) is run in the README's order, in a
fresh directory whose `.venv` is a link to the running interpreter's venv, so that the
blocks' `.venv/bin/carbon-ledger` resolves and `data/`, `bank.key` and friends land there.
The commands the prose asks for in passing (`.venv/bin/carbon-ledger ...` and `curl ...`
in backticks) run in their place too. The set-up block at the top is not run literally (it
would build a venv and run this suite inside itself): its test command must be the one
`.ci/run` runs, and its `carbon-ledger serve` starts the server the other blocks talk to.

The one rewrite is the address: the README's `127.0.0.1:8000` is a free port here, made
explicit where the README leaves it to the defaults (`serve --port`, `submit --url`),
and the test checks those defaults are 127.0.0.1:8000, so the rewrite changes nothing else.
"""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.serving import alive, descendants, free_port, healthy, until
from tools.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
PROSE_COMMAND = re.compile(r"`((?:\.venv/bin/carbon-ledger|curl) [^`]+)`")
ADDRESS = "127.0.0.1:8000"
STEP_SECONDS = 120
STOP_SECONDS = 30  # serve drains for 10 s, then gives its helpers 10 s


@dataclass
class Step:
    kind: str  # "sh" or "python"
    text: str
    line: int  # where it starts in README.md

    def __str__(self) -> str:
        return f"README.md line {self.line} ({self.kind}):\n{self.text}"


def readme_steps(text: str) -> list[Step]:
    """The README's fenced blocks and prose commands, in order."""
    steps = []
    prose_from = 0
    for fence in FENCE.finditer(text):
        steps += _prose_commands(text, prose_from, fence.start())
        language = fence.group(1).strip()
        assert language in ("sh", "python"), (
            f"README.md line {_line(text, fence.start())}: a ```{language} block; blocks are "
            "```sh or ```python and this test runs them (syntax belongs in a table)"
        )
        steps.append(Step(language, fence.group(2), _line(text, fence.start(2))))
        prose_from = fence.end()
    return steps + _prose_commands(text, prose_from, len(text))


def _prose_commands(text: str, start: int, end: int) -> list[Step]:
    return [
        Step("sh", found.group(1), _line(text, found.start()))
        for found in PROSE_COMMAND.finditer(text, start, end)
    ]


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def local(text: str, port: int) -> str:
    """`text` talking to the test's server on `port` instead of 127.0.0.1:8000."""
    text = text.replace(ADDRESS, f"127.0.0.1:{port}")
    text = re.sub(r"\bcarbon-ledger serve\b", rf"\g<0> --port {port}", text)
    return re.sub(r"\bcarbon-ledger submit\b", rf"\g<0> --url http://127.0.0.1:{port}", text)


def test_the_readme_address_is_the_commands_default():
    parser = build_parser()
    serve = parser.parse_args(["serve"])
    assert f"{serve.host}:{serve.port}" == ADDRESS
    submit = parser.parse_args(["submit", "--key", "k", "--account", "a", "--type", "t"])
    assert submit.url == f"http://{ADDRESS}"
    assert f"http://{ADDRESS}" in README.read_text()


def test_the_setup_commands_are_what_ci_runs():
    setup = readme_steps(README.read_text())[0]
    assert setup.kind == "sh", setup
    serve_line, test_line = setup.text.splitlines()
    ci = [line for line in (ROOT / ".ci/run").read_text().splitlines() if line.strip()]
    assert test_line == ci[-1], "the README's test command is not the one .ci/run runs"
    venv, install, pytest_command = test_line.split(" && ")
    assert pytest_command == ".venv/bin/python -m pytest"
    assert serve_line == " && ".join(
        [venv, install.replace('-e ".[test]"', '-e ".[server]"'), ".venv/bin/carbon-ledger serve"]
    )
    assert (ROOT / "constraints.txt").is_file()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r"^test = \[.carbon-ledger\[server\].,", pyproject, re.MULTILINE)
    assert re.search(r"^server = \[", pyproject, re.MULTILINE)


@pytest.mark.slow
def test_the_readme_runs_as_written(tmp_path):
    setup, *steps = readme_steps(README.read_text())
    for step in steps:
        assert not re.search(r"\b(serve|pytest|pip)\b", step.text), (
            f"this test cannot run a server, the suite or pip from a block: {step}"
        )
    venv = Path(sys.prefix)
    assert (venv / "bin" / "carbon-ledger").is_file(), f"no carbon-ledger in {venv}: pip install"
    (tmp_path / ".venv").symlink_to(venv, target_is_directory=True)
    env = _clean_env(tmp_path)
    port = free_port()
    serve = setup.text.splitlines()[0].split(" && ")[-1]
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", "exec " + local(serve, port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    processes: dict[int, str] = {}
    try:
        until(lambda: healthy(port) or server.poll() is not None, 60)
        assert server.poll() is None, _served(tmp_path)
        outputs = [_run(step, port, tmp_path, env) for step in steps]
        processes = descendants(server.pid)
        server.send_signal(signal.SIGTERM)
        assert server.wait(STOP_SECONDS) == 0, _served(tmp_path)
        until(lambda: not alive(processes), 5)
    finally:
        _stop(server, processes)
        log.close()
    _check(steps, outputs)


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """This environment without storage settings (the README's embedded default is
    SQLite), the test's PYTHONPATH or CARBON_LEDGER_*; a stand-in curl if there is none."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("POSTGRES_", "CARBON_LEDGER_"))
        and name not in ("PERSISTENCE_MODULE", "PYTHONPATH")
    }
    if shutil.which("curl") is None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        curl = bin_dir / "curl"
        curl.write_text(
            f"#!{sys.executable}\n"
            "import sys, urllib.request\n"
            "url = [a for a in sys.argv[1:] if not a.startswith('-')][0]\n"
            "url = url if '://' in url else 'http://' + url\n"
            "sys.stdout.buffer.write(urllib.request.urlopen(url).read())\n"
        )
        curl.chmod(0o755)
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(step: Step, port: int, cwd: Path, env: dict[str, str]) -> str:
    """Run `step` against the server on `port`; its stdout (it must exit 0)."""
    if step.kind == "sh":
        command = ["bash", "-euo", "pipefail", "-c", local(step.text, port)]
        stdin = None
    else:
        command, stdin = [str(cwd / ".venv/bin/python"), "-"], local(step.text, port)
    result = subprocess.run(
        command, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=STEP_SECONDS
    )
    assert result.returncode == 0, f"{step}\nexit {result.returncode}\n{result.stderr}"
    return result.stdout


def _check(steps: list[Step], outputs: list[str]) -> None:
    """What the blocks print says they did what the README says."""
    ran = list(zip(steps, outputs, strict=True))
    python = [out for step, out in ran if step.kind == "python"]
    assert len(python) == 1, python
    proof, statement = python[0].split("\n")[:2]
    index, proven = proof.split()
    assert proven == "True", python[0]
    points, co2e_g, size = map(int, statement.split())
    assert (points, co2e_g) == (0, 0) and size > int(index), python[0]
    submitted = [out for step, out in ran if "--wait" in step.text]
    assert submitted and all('"inclusion"' in out and '"checkpoint"' in out for out in submitted)
    verified = [out for step, out in ran if "carbon-ledger verify" in step.text]
    assert verified and all(out.startswith("OK ") for out in verified), verified


def _served(tmp_path: Path) -> str:
    return "serve said:\n" + (tmp_path / "serve.log").read_text(errors="replace")


def _stop(server: subprocess.Popen[bytes], processes: dict[int, str]) -> None:
    """Stop `server` (SIGTERM, then SIGKILL) and anything under it left over."""
    if server.poll() is None:
        processes = {**descendants(server.pid), **processes}
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    for pid in alive(processes):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
