"""The submission path of docs/submitting.md, run from the page itself: its files written to a fresh
folder, its commands run (on a suite derived from smoke, small enough for seconds), the merged
table and page checked; plus the contract check's messages and the model cards."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import os
import re
import shlex
import shutil
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from torch import nn

from chaosbench.cli import main
from chaosbench.errors import ChaosbenchError
from chaosbench.models import LatentModel, check
from chaosbench.records import RecordStore, config_sha256

REPO_ROOT = Path(__file__).resolve().parents[1]
DOC = REPO_ROOT / "docs" / "submitting.md"
FILE_MARK = "# file: "
# smoke, cut to one seed, one regime, 20 updates and a short evaluation: the path, not the numbers
TINY = {"budget": 20, "seeds": 1, "regimes": ["bptt"], "models": [{"name": "esn", "params": {"n_units": 50, "max_train": 2000}}],
        "training": {"batch_size": 8, "seq_len": 50},
        "evaluation": {"n_test": 1000, "transient": 100, "lyapunov_inits": 2, "lyapunov_steps": 200}}  # fmt: skip


def blocks(text: str) -> list[tuple[str, str]]:
    """The fenced code blocks of a Markdown text: (language, body)."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)


def tutorial_files(text: str) -> dict[str, str]:
    """The blocks that start with ``# file: NAME``: the files the tutorial asks to write."""
    return {body.splitlines()[0][len(FILE_MARK):]: body for _, body in blocks(text) if body.startswith(FILE_MARK)}


def command(text: str, name: str) -> list[str]:
    """The arguments of the page's ``chaosbench NAME ...`` command (continuation lines joined)."""
    for lang, body in blocks(text):
        for line in body.replace("\\\n", " ").splitlines() if lang == "bash" else ():
            words = shlex.split(line)
            if words[:2] == ["chaosbench", name]:
                return words[1:]
    raise AssertionError(f"docs/submitting.md has no 'chaosbench {name}' command")


def option(argv: list[str], flag: str, value: str | None = None) -> Any:
    """The value of ``flag`` in ``argv``, or ``argv`` with that value replaced by ``value``."""
    at = argv.index(flag) + 1
    return argv[at] if value is None else [*argv[:at], value, *argv[at + 1 :]]


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The page's model written to ``my_model/``, submitted from there, the baselines run under the
    same suite and both merged, all by the page's commands (suite swapped for the tiny one)."""
    tmp = tmp_path_factory.mktemp("tutorial")
    text = DOC.read_text()
    folder = tmp / "my_model"
    folder.mkdir()
    for name, body in tutorial_files(text).items():
        (folder / name).write_text(body)
    smoke = yaml.safe_load((REPO_ROOT / "baselines" / "suites" / "smoke.yaml").read_text())
    suite = tmp / "tiny.yaml"
    suite.write_text(yaml.safe_dump({**smoke, **TINY, "name": "tiny"}))
    submit = option(command(text, "submit"), "--suite", str(suite))
    module = option(submit, "--model").partition(":")[0]
    assert importlib.util.find_spec(module) is None  # importable only through submit itself
    assert str(folder) not in os.environ.get("PYTHONPATH", "")
    run = option(command(text, "run"), "--suite", str(suite))
    merge = option(command(text, "leaderboard"), "--results", "runs/tiny/results")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setattr(sys, "path", list(sys.path))  # what submit appends is undone afterwards
        # the plots (tested in test_leaderboard.py) take most of the time of three table writes
        patch.setattr("chaosbench.leaderboard.plots.dataset_figures", lambda *args: [])
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            codes = [main([*submit, "--no-progress"])]
        codes += [main([*run, "--no-progress"]), main(merge)]
    sys.modules.pop(module, None)
    submission = folder / option(merge, "--with")
    yield {"dir": folder, "suite": suite, "codes": codes, "submission": submission, "argv": submit, "text": text,
           "printed": printed.getvalue()}  # fmt: skip


def test_the_tutorial_ends_in_the_ranked_table_and_page(tutorial: dict[str, Any]) -> None:
    assert tutorial["codes"] == [0, 0, 0]
    folder, submission = tutorial["dir"], tutorial["submission"]
    name = option(tutorial["argv"], "--name")
    table = pd.read_csv(folder / "ranked" / "leaderboard.csv", skiprows=1)  # after the version line
    rows = table.set_index("model")
    assert sorted(rows.index) == ["esn", name] and set(table["dataset"]) == {"lorenz63"}
    assert rows.loc[name, "regime"] == "bptt" and rows.loc[name, "n_seeds"] == 1
    assert sorted(table["rank"]) == [1, 2]
    page = (folder / "ranked" / "index.html").read_text()
    card = re.search(rf'<article class="card" id="card-{name}">.*?</article>', page, flags=re.S)
    assert card is not None, "the merged page shows the model card"
    # 8x8 A + 8 b + 3x8 B + 8x3 C at three observed components
    assert "<dd>120</dd>" in card.group() and "latent_dim=8" in card.group()
    assert option(tutorial["argv"], "--code-url") in card.group()
    assert yaml.safe_load((submission / "model_card.yaml").read_text())["n_parameters_at_obs_dim_3"] == 120
    assert not (folder / "leaderboard").exists()  # the leaderboard of record is never written


def test_submit_projects_the_standard_suite_and_the_card_keeps_the_settings(tutorial: dict[str, Any]) -> None:
    """Trying a model on a small suite first: submit prints that suite's cost and, before any unit
    runs, what the standard suite (the one that ranks against the leaderboard of record) will
    cost for this model; the card records the settings the records were run under."""
    printed = tutorial["printed"].splitlines()
    tried = [i for i, line in enumerate(printed) if line.startswith("cost forecast for suite tiny")]
    standard = [i for i, line in enumerate(printed) if line.startswith(
        "to rank against the leaderboard of record: cost forecast for suite standard")]  # fmt: skip
    assert len(tried) == 1 and len(standard) == 1 and tried[0] < standard[0]
    assert re.search(r"about \d+(\.\d)? (s|min|h) of compute", printed[standard[0]])
    card = yaml.safe_load((tutorial["submission"] / "model_card.yaml").read_text())
    assert card["suite"] == "tiny" and card["settings"]["budget"] == TINY["budget"]
    assert card["settings"]["seeds"] == [0] and list(card["settings"]["regimes"]) == TINY["regimes"]
    assert card["settings"]["training"] == TINY["training"]
    assert card["settings"]["evaluation"]["lyapunov_steps"] == TINY["evaluation"]["lyapunov_steps"]


def test_the_merged_page_shows_the_submission_in_a_browser(tutorial: dict[str, Any], tmp_path: Path) -> None:
    """The newcomer's last step: the merged page, opened in headless Chromium, lists the
    submission in the lorenz63 table, links its row to its model card and raises no errors."""
    from test_leaderboard_browser import CHROMIUM, Browser, _errors

    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    name = option(tutorial["argv"], "--name")
    browser = Browser(tmp_path / "profile")
    try:
        for domain in ("Runtime", "Log", "Page"):
            browser.page(f"{domain}.enable")
        browser.page("Page.navigate", url=(tutorial["dir"] / "ranked" / "index.html").resolve().as_uri())
        events = browser.wait_for_event("Page.loadEventFired")
        models = browser.evaluate(
            "Array.from(document.querySelectorAll('#lorenz63 table.sortable tbody tr'), r => r.cells[2].textContent.trim())"
        )
        assert any(name in model for model in models), models
        card = browser.evaluate(
            f"(() => {{ const c = document.getElementById('card-{name}'); "
            "const r = c && c.getBoundingClientRect(); return c && [r.width, r.height, c.textContent]; })()"
        )
        assert card is not None, "the merged page has the submission's model card"
        width, height, text = card
        assert width > 100 and height > 20 and "120" in text  # drawn, with its parameter count
        assert _errors(events + browser.drain()) == []
    finally:
        browser.close()


def test_validate_checks_only_the_submitted_model(tutorial: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    submission, suite = tutorial["submission"], str(tutorial["suite"])
    capsys.readouterr()
    assert main(["validate", str(submission), "--suite", suite]) == 0
    assert f"complete for submission linear_latent of suite {suite} (datasets lorenz63)" in capsys.readouterr().out
    assert main(["validate", str(submission), "--suite", suite, "--model", "esn"]) == 1
    assert "missing record of lorenz63/esn/none/seed0" in capsys.readouterr().out
    assert main(["validate", str(submission), "--suite", suite, "--model", "other"]) == 2
    assert "has no model card of that name" in capsys.readouterr().err
    assert main(["validate", str(submission), "--model", "esn"]) == 2
    assert "--model picks a model's records of a suite: add --suite" in capsys.readouterr().err


def test_merges_refuse_what_cannot_be_ranked_together(tutorial: dict[str, Any], tmp_path: Path) -> None:
    from chaosbench.cli.tables import write_tables

    base, submission = tutorial["dir"] / "runs" / "tiny" / "results", tutorial["submission"]
    with pytest.raises(ChaosbenchError, match="is given twice"):
        write_tables(base, tmp_path / "out", submissions=[submission, submission / "results"])
    twin = tmp_path / "twin"
    shutil.copytree(submission, twin)
    with pytest.raises(ChaosbenchError, match="model 'linear_latent' has records in .* and .*twin"):
        write_tables(base, tmp_path / "out", submissions=[submission, twin])
    # the same records, made (as if) under a longer budget: another suite's numbers
    longer = tmp_path / "longer"
    store = RecordStore(longer / "results")
    for record in RecordStore(submission / "results").iter_records():
        resolved = {**record.config["resolved"], "budget": 2000}
        config = {**record.config, "resolved": resolved, "config_sha256": config_sha256(resolved)}
        store.write(dataclasses.replace(record, config=config))
    with pytest.raises(ChaosbenchError, match="lorenz63: the records in .*longer.* budget 2000.* budget 20\\)"):
        write_tables(base, tmp_path / "out", submissions=[longer])


def test_submit_refuses_the_leaderboard_of_record(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    argv = ["submit", "--model", "chaosbench.models.plrnn:ShPLRNN", "--name", "mine", "--suite", "smoke"]
    assert main([*argv, "--results", "leaderboard/results/mine"]) == 2
    assert "is the leaderboard of record" in capsys.readouterr().err
    assert main([*argv, "--path", "nowhere"]) == 2
    assert "--path nowhere: no such folder" in capsys.readouterr().err
    assert not (tmp_path / "leaderboard").exists() and not (tmp_path / "submissions").exists()


# ---------------------------------------------------------------- the contract check


class NoEncode(LatentModel):
    def __init__(self, obs_dim: int, latent_dim: int = 4) -> None:
        super().__init__(obs_dim, latent_dim, {"latent_dim": latent_dim})
        self.A = nn.Parameter(torch.eye(latent_dim))
        self.B = nn.Parameter(torch.ones(obs_dim, latent_dim))

    def step(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.A.T

    def observe(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.B.T


class NoSuper(LatentModel):
    def __init__(self, obs_dim: int) -> None:
        self.A = nn.Parameter(torch.eye(obs_dim))  # before Module.__init__: torch refuses


def test_a_model_without_encode_gets_one_short_line() -> None:
    report = check(NoEncode(obs_dim=3))
    assert report.problems == ["does not define encode (LatentModel leaves step, observe, encode to each model)"]
    with pytest.raises(ChaosbenchError) as err:
        report.raise_if_failed()
    assert "NotImplementedError" not in str(err.value) and "\n" not in str(err.value)


def test_check_of_a_jacobian_that_views_a_parameter_does_not_warn() -> None:
    text = DOC.read_text()
    namespace: dict[str, Any] = {}
    exec(tutorial_files(text)["linear_latent.py"], namespace)  # the tutorial's model
    model = namespace["LinearLatent"](obs_dim=3)
    assert model.jacobian(torch.zeros(model.latent_dim)).requires_grad  # a view of A keeps requires_grad
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = check(model)
    assert report.ok, str(report)


def test_a_constructor_without_super_init_is_one_line() -> None:
    from chaosbench.harness.submit import checked_entry

    with pytest.raises(ChaosbenchError, match=r"raised AttributeError: .*first calls super\(\).__init__"):
        checked_entry(f"{__name__}:NoSuper", "nosuper", {})


# ---------------------------------------------------------------- model cards


class LeastSquares:
    """x_{t+1} = x_t K, K by ridge regression: a numpy model with one hyperparameter by default."""

    def __init__(self, obs_dim: int, ridge: float = 1e-6, lag: int = 1) -> None:
        self.obs_dim, self.ridge, self.lag = obs_dim, ridge, lag
        self.K = np.zeros((0, 0))
        self.steps = np.zeros(0, dtype=np.int64)  # integers: not parameters

    def fit(self, train: np.ndarray, dt: float, budget: int | None, seed: int) -> None:
        x, y = train[:-1], train[1:]
        self.K = np.linalg.solve(x.T @ x + self.ridge * np.eye(self.obs_dim), x.T @ y)

    def generate(self, x0: Any, n_steps: int) -> np.ndarray:
        out = [np.asarray(x0, dtype=float)]
        for _ in range(n_steps - 1):
            out.append(out[-1] @ self.K)
        return np.stack(out)


class Stateless(LeastSquares):
    def fit(self, train: np.ndarray, dt: float, budget: int | None, seed: int) -> None:
        self.K = self.steps = None  # keeps nothing it could count

    def generate(self, x0: Any, n_steps: int) -> np.ndarray:
        return np.repeat(np.asarray(x0, dtype=float)[None], n_steps, axis=0)


def test_cards_of_models_that_are_not_torch_modules() -> None:
    from chaosbench.harness import suites
    from chaosbench.harness.submit import checked_entry, model_card

    suite = suites.load("smoke")
    entry, model = checked_entry(f"{__name__}:LeastSquares", "lsq", {"lag": 2})
    card = model_card(entry, model, suite, None, None)
    assert card["kind"] == "evaluable" and card["params"] == {"lag": 2}
    assert card["hyperparameters"] == {"ridge": 1e-6, "lag": 2}  # the constructor's, defaults included
    assert card["n_parameters_at_obs_dim_3"] == 9 and card["n_parameters_counted"].startswith("floating-point arrays")
    entry, model = checked_entry(f"{__name__}:Stateless", "still", {})
    card = model_card(entry, model, suite, None, None)
    assert card["n_parameters_at_obs_dim_3"] is None and "give it n_parameters" in card["n_parameters_counted"]
