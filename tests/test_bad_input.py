"""Bad files and odd inputs: each ends in one line (exit code 2 on the command line), in bounded
time, and writes nothing outside the results folder."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

from chaosbench.cli import main
from chaosbench.data import load_file
from chaosbench.errors import ChaosbenchError
from chaosbench.leaderboard import render
from chaosbench.leaderboard.aggregate import aggregate
from chaosbench.models.check import check
from chaosbench.records import RecordKey, RecordStore, canonical_json
from chaosbench.yamlio import parse_yaml
from test_faults import Echo, NaNs
from test_leaderboard import synthetic_records
from test_records import make

REPO_ROOT = Path(__file__).resolve().parents[1]


def one_line_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """``chaosbench ARGS`` exits 2 with one line on stderr; that line."""
    assert main(list(args)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("chaosbench: error: "), err
    return err


def recording_suite(folder: Path, recording: Path) -> Path:
    doc = {"name": "bad", "budget": 1, "seeds": [0], "models": ["esn"], "regimes": ["bptt"],
           "datasets": [{"name": "rec", "file": str(recording), "dt": 0.01}]}  # fmt: skip
    path = folder / "suite.yaml"
    path.write_text(json.dumps(doc))
    return path


# ---------------------------------------------------------------- recordings


def test_an_empty_npy_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.npy"
    empty.touch()
    err = one_line_error(capsys, "run", "--suite", str(recording_suite(tmp_path, empty)),
                         "--results", str(tmp_path / "results"), "--no-progress")  # fmt: skip
    assert f"recording {empty}: cannot parse" in err


def test_values_beyond_float32_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """+-1e308 made the z-scoring overflow (NaN or a channel of zeros) without a word."""
    data = np.random.default_rng(0).standard_normal((3000, 2))
    data[10, 0], data[11, 0] = 1e308, -1e308
    path = tmp_path / "huge.npy"
    np.save(path, data)
    with pytest.raises(ChaosbenchError, match=r"a value of magnitude 1e\+308 exceeds the float32 range"):
        load_file(path, dt=0.01)
    err = one_line_error(capsys, "run", "--suite", str(recording_suite(tmp_path, path)),
                         "--results", str(tmp_path / "results"), "--no-progress")  # fmt: skip
    assert "exceeds the float32 range" in err


@pytest.mark.parametrize("dt", [float("inf"), float("nan"), 0.0, -1.0, True, "0.1"])
def test_dt_must_be_a_positive_finite_number(tmp_path: Path, dt: object) -> None:
    path = tmp_path / "ok.npy"
    np.save(path, np.random.default_rng(0).standard_normal((500, 2)))
    with pytest.raises(ChaosbenchError, match="dt must be a positive finite number"):
        load_file(path, dt=dt)  # type: ignore[arg-type]


# ---------------------------------------------------------------- results folder and records


def test_a_link_out_of_the_results_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results, outside = tmp_path / "results", tmp_path / "outside"
    results.mkdir()
    outside.mkdir()
    (results / "lorenz63").symlink_to(outside, target_is_directory=True)
    err = one_line_error(capsys, "run", "--suite", "smoke", "--models", "esn", "--seeds", "1",
                         "--results", str(results), "--no-progress")  # fmt: skip
    assert "(a symbolic link), outside the results folder" in err
    assert not any(outside.iterdir())
    with pytest.raises(ChaosbenchError, match="refusing to write there"):
        RecordStore(results).write(make(RecordKey("lorenz63", "esn", "none", 0)))
    assert not any(outside.iterdir())


def test_a_record_with_a_key_twice_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Python's json keeps the last of two equal keys, other readers the first: the hash of what one
    reader sees vouched for a file that others read with other metrics."""
    store = RecordStore(tmp_path / "results")
    path = store.write(make(RecordKey("lorenz63", "plrnn", "stf", 0)))
    text = path.read_text()
    other = {name: 0.0 for name in json.loads(text)["metrics"]}
    forged = text.replace('\n "metrics": ', f'\n "metrics": {canonical_json(other)},\n "metrics": ', 1)
    assert json.loads(forged) == json.loads(text)  # the same record to Python's default reader
    path.write_text(forged)
    err = one_line_error(capsys, "validate", str(path))
    assert "key 'metrics' appears twice in one object" in err
    assert main(["validate", str(store.root)]) == 1  # in a folder, one of the problems listed
    assert "appears twice" in capsys.readouterr().out


# ---------------------------------------------------------------- YAML


def alias_bomb(levels: int) -> str:
    """A suite whose description expands to 9 ** (levels + 1) strings."""
    chain = ["  - &a0 [x, x, x, x, x, x, x, x, x]"]
    chain += [f"  - &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return ("budget: 1\nseeds: 1\ndatasets: [lorenz63]\nmodels: [esn]\nregimes: [bptt]\n"
            "description:\n" + "\n".join(chain) + "\n")  # fmt: skip


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(8))
    start = time.perf_counter()
    err = one_line_error(capsys, "run", "--suite", str(path), "--no-progress")
    assert time.perf_counter() - start < 5  # measured 7 ms to refuse; 7 levels used to take 27 s and 760 MB
    assert "its aliases expand to more than 100000 YAML nodes" in err
    assert parse_yaml("a: &x [1, 2]\nb: *x\n", "ok") == {"a": [1, 2], "b": [1, 2]}  # aliases still work
    with pytest.raises(ChaosbenchError, match="expand to more than"):
        parse_yaml("a: &x [*x]\n", "loop")  # an alias inside its own node expands without end


def test_no_module_reads_yaml_but_yamlio() -> None:
    loaders = re.compile(r"yaml\.(safe_load|load|full_load|unsafe_load|load_all|safe_load_all|compose)\b")
    found = [str(path.relative_to(REPO_ROOT)) for path in (REPO_ROOT / "chaosbench").rglob("*.py")
             if path.name != "yamlio.py" and loaders.search(path.read_text(encoding="utf-8"))]  # fmt: skip
    assert found == []


# ---------------------------------------------------------------- small things


def test_model_check_names_nan_for_what_it_is() -> None:
    report = check(NaNs(3))
    assert report.problems == ["generate returned NaN or infinite values on a smooth series"]


class RaisesTwoLines(Echo):
    def generate(self, x0: object, n_steps: int) -> np.ndarray:
        raise ValueError("first line\nsecond line")


def test_model_check_keeps_each_problem_on_one_line() -> None:
    report = check(RaisesTwoLines(3))
    assert report.problems == ["generate(x0 of shape (3, N), 10) raised ValueError: first line"]


def test_markdown_and_latex_escape_names_and_versions() -> None:
    table = aggregate(synthetic_records())
    table["model"] = table["model"].where(table["model"] != "lstm", "l_s|t*m")
    table["chaosbench_version"] = "1.0+a_b|c*{d}$%#&~^\\"
    md, tex = render.markdown(table), render.latex(table)
    assert r"| l\_s\|t\*m |" in md and r"chaosbench 1.0+a\_b\|c\*{d}$%#&~^\\;" in md
    assert "l_s|t*m" not in md
    escaped = r"1.0+a\_b|c*\{d\}\$\%\#\&\textasciitilde{}\textasciicircum{}\textbackslash{}"
    assert f"chaosbench {escaped};" in tex and r"l\_s|t*m" in tex
