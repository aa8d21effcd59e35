"""The README's two commands: the test command is what CI runs, and setup works from a clean clone."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from conftest import REPO_ROOT


def readme_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", (REPO_ROOT / "README.md").read_text(), re.S).group(1)
    return [line.split("#")[0].strip() for line in block.strip().splitlines()]


def test_readme_opens_with_the_two_commands():
    text = (REPO_ROOT / "README.md").read_text()
    assert text.index("```bash") < 200, "the commands must come first"
    main, tests = readme_commands()
    assert "chaosbench run --suite quick" in main
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert tests in ci, ".ci/run must call exactly the README's test command"


@pytest.mark.skipif(
    os.environ.get("CI") != "true" and os.environ.get("CHAOSBENCH_TEST_CLONE") != "1",
    reason="installs a fresh environment; runs in CI or with CHAOSBENCH_TEST_CLONE=1",
)
def test_setup_from_a_clean_clone(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    subprocess.run(["bash", "scripts/setup.sh"], cwd=clone, check=True, env=env, timeout=900)
    cb = str(clone / ".venv" / "bin" / "chaosbench")
    verify = subprocess.run([cb, "data", "verify", "--no-rebuild"], cwd=clone, capture_output=True, text=True, env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.count("ok  ") >= 10
    # The installed package runs from the clone's own sources and data.
    where = subprocess.run([str(clone / ".venv" / "bin" / "python"), "-c", "import chaosbench.data as d; print(d.data_dir())"],
                           cwd=tmp_path, capture_output=True, text=True, env=env, check=True)
    assert where.stdout.strip() == str(clone / "datasets")
