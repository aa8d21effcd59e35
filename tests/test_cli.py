"""The command line: user mistakes are one-line errors with exit code 2, never tracebacks."""

import subprocess
import sys

import pytest

from chaosbench.cli import main


def run(*args):
    proc = subprocess.run([sys.executable, "-m", "chaosbench", *args], capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def test_systems_lists_the_registry(capsys):
    assert main(["systems"]) == 0
    out = capsys.readouterr().out
    for name in ("lorenz63", "rossler", "henon", "mackey_glass"):
        assert name in out


def test_data_list_and_show(capsys):
    assert main(["data", "list"]) == 0
    assert "lorenz63_noisy" in capsys.readouterr().out
    assert main(["data", "show", "rossler"]) == 0
    out = capsys.readouterr().out
    assert "system: rossler" in out and "sha256:" in out


@pytest.mark.parametrize(
    "args,message",
    [
        (["data", "show", "lorenz"], "unknown dataset 'lorenz'; did you mean"),
        (["data", "--data-dir", "/nonexistent", "list"], "does not exist"),
        (["data", "frobnicate"], "invalid choice"),
        (["no-such-command"], "invalid choice"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(args, message):
    code, out, err = run(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_verify_hashes_only(capsys):
    assert main(["data", "verify", "--no-rebuild"]) == 0
    assert capsys.readouterr().out.count("ok  ") >= 10
