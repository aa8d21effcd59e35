"""Leaderboard: exact aggregate numbers on synthetic records, version stamps, files, page, CLI."""

from __future__ import annotations

import argparse
import dataclasses
import io
import math
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from chaosbench.cli import leaderboard as leaderboard_cli
from chaosbench.cli.tables import write_tables
from chaosbench.errors import ChaosbenchError
from chaosbench.metrics import METRICS
from chaosbench.records import RecordKey, RecordStore, RunRecord
from chaosbench.leaderboard import html, render, write_leaderboard
from chaosbench.data.store import data_dir, read_manifest
from chaosbench.harness.evaluate import EVAL_PROTOCOL_VERSION
from chaosbench.leaderboard.aggregate import aggregate

MANIFEST = read_manifest(data_dir())


def make(dataset: str, model: str, regime: str, seed: int, d_stsp: float | None, status: str = "ok",
         metric_spec: str = "1", artifacts: bool = False, protocol: str = EVAL_PROTOCOL_VERSION,
         **metrics: float | None) -> RunRecord:  # fmt: skip
    """A record whose metrics are all 1.0 except those given; ``None`` d_stsp means not scored."""
    values = {name: 1.0 for name in METRICS} | {"d_stsp": d_stsp} | metrics
    t = np.linspace(0.0, 12 * np.pi, 400)[:, None]
    scale = 1.0 + 0.1 * seed + (0.5 if regime == "bptt" else 0.0)
    dims = 3 if dataset == "lorenz63" else 2
    curves = {
        "trajectory_sample": scale * np.hstack([np.sin(t), np.cos(1.1 * t), np.sin(0.5 * t)])[:, :dims],
        "power_spectrum": np.exp(-np.outer(np.arange(1, dims + 1), np.arange(64)) / (10.0 * scale)),
    }  # fmt: skip
    return RunRecord.create(
        RecordKey(dataset, model, regime, seed), status,
        reason=None if status == "ok" else f"{status} in test",
        metrics={} if status == "failed" else values,
        budget={"updates": 100, "used": 100}, wall_time_s=1.5, device="cpu", metric_spec=metric_spec,
        dataset_version="1", dataset_sha256=MANIFEST.get(f"{dataset}.npz", "0" * 64),
        config={"seed": seed, "eval_protocol": protocol},
        artifacts=curves if artifacts else None,
    )  # fmt: skip


def synthetic_records() -> list[RunRecord]:
    """Two datasets x two models x two regimes x three seeds, with artifacts and divergences.

    On lorenz63 the rank order is (lstm, stf), (plrnn, stf), (lstm, bptt), (plrnn, bptt): not
    alphabetical, and the last has an infinite median (two of three seeds diverged, unscored).
    """
    d_stsp = {
        ("lorenz63", "lstm", "stf"): [0.2, 0.3, 0.25], ("lorenz63", "plrnn", "stf"): [0.5, 0.6, 0.4],
        ("lorenz63", "lstm", "bptt"): [2.0, 3.0, 2.5], ("lorenz63", "plrnn", "bptt"): [4.0, None, None],
        ("henon", "lstm", "stf"): [0.1, 0.2, 0.15], ("henon", "plrnn", "stf"): [0.3, 0.35, 0.2],
        ("henon", "lstm", "bptt"): [1.0, 1.1, None], ("henon", "plrnn", "bptt"): [0.9, 1.2, 1.0],
    }  # fmt: skip
    return [
        make(*cell, seed, value, status="ok" if value is not None else "diverged", artifacts=True)
        for cell, values in d_stsp.items()
        for seed, value in enumerate(values)
    ]


def reference() -> dict[str, dict[str, np.ndarray]]:
    t = np.linspace(0.0, 12 * np.pi, 500)[:, None]
    return {
        "lorenz63": {"trajectory_sample": np.hstack([np.sin(t), np.cos(t), np.sin(0.5 * t)]),
                     "power_spectrum": np.exp(-np.outer([1, 2, 3], np.arange(64)) / 10.0)},
        "henon": {"trajectory_sample": np.hstack([np.sin(t), np.cos(t)])},
    }  # fmt: skip


def row(table: pd.DataFrame, dataset: str, model: str, regime: str) -> pd.Series:
    match = table[(table["dataset"] == dataset) & (table["model"] == model) & (table["regime"] == regime)]
    assert len(match) == 1
    return match.iloc[0]


def test_median_mad_mean_std_exact() -> None:
    table = aggregate([make("d", "m", "stf", s, v) for s, v in enumerate([1.0, 2.0, 4.0, 10.0])])
    r = row(table, "d", "m", "stf")
    assert r["n_seeds"] == 4 and r["n_ok"] == 4 and r["divergence_rate"] == 0.0
    assert r["d_stsp_median"] == 3.0
    assert r["d_stsp_mad"] == 1.5  # deviations 2, 1, 1, 7
    assert r["d_stsp_mean"] == 4.25
    assert r["d_stsp_std"] == pytest.approx(math.sqrt(48.75 / 3), rel=1e-12)
    assert r["d_h_median"] == 1.0 and r["d_h_mad"] == 0.0


def test_diverged_runs_count_as_worst_failed_runs_are_not_scored() -> None:
    records = [
        make("d", "m", "bptt", 0, 1.0), make("d", "m", "bptt", 1, 2.0),
        make("d", "m", "bptt", 2, None, status="diverged", valid_time=None),
        make("d", "m", "bptt", 3, None, status="failed"),
        make("d", "m", "stf", 0, 0.5), make("d", "m", "stf", 1, 7.5, status="diverged"),
        make("d", "m", "stf", 2, None, status="diverged"),
    ]  # fmt: skip
    table = aggregate(records)
    bptt, stf = row(table, "d", "m", "bptt"), row(table, "d", "m", "stf")
    assert (bptt["n_seeds"], bptt["n_ok"], bptt["n_diverged"], bptt["n_failed"]) == (4, 2, 1, 1)
    assert bptt["divergence_rate"] == pytest.approx(1 / 3)
    assert bptt["d_stsp_median"] == 2.0 and bptt["d_stsp_mad"] == 1.0  # values 1, 2, inf
    assert bptt["d_stsp_mean"] == math.inf
    assert bptt["valid_time_median"] == 1.0 and bptt["valid_time_mean"] == -math.inf  # higher is better
    # The diverged run's carried value (7.5) is used; the unscored one is +inf; MAD undefined.
    assert stf["divergence_rate"] == pytest.approx(2 / 3)
    assert stf["d_stsp_median"] == 7.5 and stf["d_stsp_mad"] == 7.0
    only_diverged = aggregate([make("d", "m", "x", s, None, status="diverged") for s in range(3)]).iloc[0]
    assert only_diverged["d_stsp_median"] == math.inf and math.isnan(only_diverged["d_stsp_mad"])


def test_ranks_and_forcing_gain() -> None:
    cells = {
        ("a", "bptt"): [3.0, 3.0], ("a", "stf"): [1.0, 1.0], ("a", "gtf"): [0.5, 0.5],
        ("b", "bptt"): [0.5, 0.5], ("b", "stf-lyapunov"): [2.0, 2.0],
    }  # fmt: skip
    records = [make("d", m, g, s, v) for (m, g), values in cells.items() for s, v in enumerate(values)]
    records.append(make("d", "b", "gtf", 0, 0.5, d_h=2.0))  # ties (b, bptt) on D_stsp, loses on D_H
    records.append(make("d", "c", "stf", 0, None, status="failed"))
    records.append(make("e", "a", "stf", 0, 9.0))  # another dataset ranks on its own
    table = aggregate(records)
    ranks = {(m, g): row(table, "d", m, g)["rank"] for (m, g) in [*cells, ("b", "gtf")]}
    assert ranks == {("a", "gtf"): 1, ("b", "bptt"): 1, ("b", "gtf"): 3, ("a", "stf"): 4,
                     ("b", "stf-lyapunov"): 5, ("a", "bptt"): 6}  # fmt: skip
    assert pd.isna(row(table, "d", "c", "stf")["rank"])  # only failed runs: unranked
    assert row(table, "e", "a", "stf")["rank"] == 1
    assert list(table["dataset"]) == ["d"] * 7 + ["e"]
    assert list(table["rank"][:6]) == [1, 1, 3, 4, 5, 6]
    a, b = row(table, "d", "a", "stf"), row(table, "d", "b", "bptt")
    assert (a["forcing_regime"], a["forcing_gain_d_stsp"]) == ("gtf", 2.5)
    assert (b["forcing_regime"], b["forcing_gain_d_stsp"]) == ("gtf", 0.0)
    assert math.isnan(row(table, "e", "a", "stf")["forcing_gain_d_stsp"])  # no bptt baseline


def test_aggregate_is_a_function_of_the_record_set() -> None:
    records = synthetic_records()
    shuffled = records[:]
    random.Random(0).shuffle(shuffled)
    pd.testing.assert_frame_equal(aggregate(records), aggregate(shuffled))


def test_every_rendering_states_the_versions() -> None:
    records = [*synthetic_records(), make("lorenz63", "gru_x", "stf", 0, 0.1, metric_spec="2", protocol="4")]
    table = aggregate(records)
    stamp = ("chaosbench 0.1.0; dataset version 1; metric spec 1, 2; evaluation protocol 3, 4; "
             "built from 25 run records")
    assert render.version_stamp(table) == stamp
    md, csv, tex = render.markdown(table), render.csv(table), render.latex(table)
    assert f"*{stamp}*" in md
    assert csv.splitlines()[0] == f"# chaosbench leaderboard; {stamp}"
    assert stamp in tex.splitlines()[0] and tex.count(stamp) == 1 + 2  # comment + two captions
    assert r"| 1 | gru\_x | stf | 1 | 0% | 0.1 ± 0 |" in md  # names escaped
    assert r"gru\_x" in tex and r"$\infty$" in tex and r"$\pm$" in tex
    assert "| 5 | plrnn | bptt | 3 | 67% | ∞ |" in md  # infinite median, MAD undefined
    parsed = pd.read_csv(io.StringIO(csv), comment="#")
    assert len(parsed) == len(table) and parsed["d_stsp_median"].tolist() == table["d_stsp_median"].tolist()


def test_best_entry_per_dataset_heads_the_markdown_and_the_page() -> None:
    table = aggregate([*synthetic_records(), make("e", "a", "stf", 0, None, status="failed")])
    best = render.leaders(table)
    assert list(zip(best["dataset"], best["model"], best["regime"])) == [("henon", "lstm", "stf"), ("lorenz63", "lstm", "stf")]
    md = render.markdown(table)
    assert md.index("## Best entry per dataset") < md.index("## henon")
    assert "| henon | lstm | stf | 3 | 0% | 0.15 ± 0.05 |" in md.split("## henon")[0]
    page = html.page(table, [])
    assert page.index("Best entry per dataset") < page.index('<section id="henon">')
    only_failed = aggregate([make("e", "a", "stf", 0, None, status="failed")])
    assert render.leaders(only_failed).empty and "## e" in render.markdown(only_failed)


def test_page_has_sortable_tables_and_plots() -> None:
    table = aggregate(synthetic_records())
    page = html.page(table, synthetic_records(), reference())
    assert page.count('<table class="sortable">') == 1 + 2 and page.count("data:image/png;base64,") == 6
    assert render.version_stamp(table) in page and "<script>" in page
    assert 'data-sort="Infinity"' in page and "http" not in page.replace("http-equiv", "")


def test_page_defines_every_metric_column_and_links_the_definitions(tmp_path: Path) -> None:
    page = html.page(aggregate(synthetic_records()), synthetic_records(), reference(), metrics_doc="../docs/metrics.md")
    described = [c for c in render.COLUMNS if c.help]
    assert [c.title for c in render.COLUMNS if not c.help] == ["Model"]
    for column in described:
        assert f'title="{html.escape(column.help)}">{html.escape(column.title)}</th>' in page
    units = {"D_stsp": "dimensionless", "D_H": "in [0, 1]", "λmax error": "dimensionless",
             "PE(20)": "squared units of the z-scored data", "Valid time": "Lyapunov times"}  # fmt: skip
    for column in render.COLUMNS:
        assert units.get(column.title, "") in column.help
    assert '<a href="../docs/metrics.md">docs/metrics.md</a>' in page
    # the link a page gets from its folder: relative to docs/metrics.md of this checkout
    out = tmp_path / "board"
    out.mkdir()
    assert (out / html.metrics_link(out)).resolve() == html.METRICS_DOC


def test_plot_colours_are_fixed_per_page_and_never_the_data_grey(monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.colors import to_rgb

    from chaosbench.leaderboard import plots

    colors = plots.model_colors([f"m{i}" for i in range(18)])
    assert len(set(colors.values())) == 18
    assert all(len(set(to_rgb(c))) > 1 for c in colors.values())  # no grey (r = g = b)
    # a model only some datasets have does not shift the colours of the others
    page_colors = plots.model_colors(["esn", "lstm", "plrnn"])
    drawn: list[dict] = []
    monkeypatch.setattr(plots, "attractors", lambda reps, colors, ref: drawn.append(dict(colors)))
    records = [r for r in synthetic_records() if r.key.dataset == "henon"]
    rows = aggregate(records)
    plots.dataset_figures(records, rows, reference()["henon"], page_colors)
    assert drawn == [page_colors] and page_colors["lstm"] != plots.model_colors(["lstm", "plrnn"])["lstm"]


def test_d_stsp_legend_names_models_without_a_first_regime(monkeypatch: pytest.MonkeyPatch) -> None:
    """ESN and SINDy run only under regime ``none``, which is not the first regime in the plot."""
    from chaosbench.leaderboard import plots

    figures: list = []
    monkeypatch.setattr(plots, "_png", lambda fig: figures.append(fig) or b"png")
    records = synthetic_records() + [make("lorenz63", "esn", "none", s, 0.1) for s in range(3)]
    assert plots.d_stsp_by_regime(records, plots.model_colors(["esn", "lstm", "plrnn"])) == b"png"
    legend = figures[0].axes[0].get_legend()
    assert sorted(t.get_text() for t in legend.get_texts()) == ["esn", "lstm", "plrnn"]


def test_write_leaderboard_files_and_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = RecordStore(tmp_path / "results")
    for record in synthetic_records():
        store.write(record)
    paths = write_tables(store.root, tmp_path / "out")
    assert {p.name for p in paths.values()} == {
        "LEADERBOARD.md",
        "leaderboard.csv",
        "leaderboard.tex",
        "index.html",
        "learning_curves.csv",
    }
    assert all(p.parent == tmp_path / "out" and p.stat().st_size > 500 for p in paths.values())

    # the tables refuse records that validate rejects, or leave them out and list them
    bad = store.path_for(RecordKey("henon", "lstm", "stf", 1))
    bad.write_text(bad.read_text().replace('"d_stsp": 0.2', '"d_stsp": 0.02'))
    stale = store.path_for(RecordKey("henon", "lstm", "stf", 0))
    store.write(dataclasses.replace(store.read(stale), config={"eval_protocol": "2"}))
    with pytest.raises(ChaosbenchError, match=r"2 invalid record\(s\).*--exclude-invalid"):
        write_tables(store.root, tmp_path / "out2")
    lines: list[str] = []
    write_tables(store.root, tmp_path / "out2", exclude_invalid=True, report=lines.append)
    assert len(lines) == 2 and any("henon/lstm/stf/seed1.json" in x and "record_sha256" in x for x in lines)
    assert any("seed0.json: stale: made under evaluation protocol '2'" in x for x in lines)
    assert "0.02" not in (tmp_path / "out2" / "leaderboard.csv").read_text()
    with pytest.raises(ChaosbenchError, match="no run records"):
        write_leaderboard([], tmp_path / "out3")


def test_leaderboard_reads_records_without_importing_model_code(tmp_path: Path) -> None:
    store = RecordStore(tmp_path / "results")
    for record in synthetic_records()[:6]:
        store.write(record)
    script = (
        "import sys\nfrom chaosbench.leaderboard import write_leaderboard\nfrom chaosbench.records import RecordStore\n"
        f"write_leaderboard(list(RecordStore({str(store.root)!r}).iter_records()), {str(tmp_path / 'out')!r})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'"
        " or m.startswith(('chaosbench.models', 'chaosbench.training', 'chaosbench.data'))))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_leaderboard_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    leaderboard_cli.register(parser.add_subparsers())
    store = RecordStore(tmp_path / "results")
    store.write(make("henon", "lstm", "stf", 0, 0.3))
    args = parser.parse_args(["leaderboard", "--results", str(store.root), "--out", str(tmp_path / "lb")])
    assert args.func(args) == 0
    printed = capsys.readouterr().out.split()
    assert sorted(Path(p).name for p in printed) == [
        "LEADERBOARD.md",
        "index.html",
        "leaderboard.csv",
        "leaderboard.tex",
        "learning_curves.csv",
    ]
    assert parser.parse_args(["leaderboard"]).results == "leaderboard/results"


def test_leaderboard_plots_the_true_series_at_the_records_test_length(tmp_path: Path) -> None:
    from chaosbench import data
    from chaosbench.harness.evaluate import artifacts
    from chaosbench.harness.runner import true_series

    store = RecordStore(tmp_path / "results")
    scored = make("lorenz63", "lstm", "stf", 0, 0.3)
    config = scored.config | {"evaluation": {"n_test": 300}}
    store.write(RunRecord.create(scored.key, "ok", reason=None, metrics=scored.metrics, budget=scored.budget,
                                 wall_time_s=1.0, device="cpu", metric_spec="1", dataset_version="1",
                                 dataset_sha256="0" * 64, config=config))  # fmt: skip
    store.write(make("not_a_dataset", "lstm", "stf", 0, 0.3))
    truth = true_series(store.root)
    assert list(truth) == ["lorenz63"]
    expected = artifacts(np.asarray(data.load("lorenz63").test[:300], dtype=np.float64))
    for name, values in expected.items():
        np.testing.assert_array_equal(truth["lorenz63"][name], values)


def test_rank_groups_floor_band_and_finite_summary() -> None:
    # a: five seeds tight at 1.0; b: spread 0.8 .. 3.0 (its interval overlaps a's); c: far away;
    # d: two of five seeds diverged without a value (worst value +inf), the rest at 0.5
    cells = {"a": [1.0, 1.01, 0.99, 1.02, 0.98], "b": [0.8, 3.0, 1.5, 2.5, 0.9], "c": [9.0, 9.1, 8.9, 9.2, 8.8]}
    records = [make("e", m, "stf", s, v) for m, values in cells.items() for s, v in enumerate(values)]
    records += [make("e", "d", "stf", s, 0.5) for s in range(3)]
    records += [make("e", "d", "stf", s, None, status="diverged") for s in (3, 4)]
    table = aggregate(records, floors={"e": (0.2, 1.0)}).set_index("model")
    assert table.loc["d", "d_stsp_median"] == 0.5 and table.loc["d", "d_stsp_finite_median"] == 0.5
    assert table.loc["d", "d_stsp_ci_high"] == math.inf and table.loc["d", "divergence_rate"] == 0.4
    # d leads on its median, but its interval reaches +inf: every entry overlaps it
    assert list(table["rank"]) == [1, 2, 3, 4] and set(table["rank_group"]) == {1}
    without_d = aggregate([r for r in records if r.key.model != "d"], floors={"e": (0.2, 1.0)}).set_index("model")
    assert 0.98 <= without_d.loc["a", "d_stsp_ci_low"] < 1.0 < without_d.loc["a", "d_stsp_ci_high"] <= 1.02
    assert dict(without_d["rank_group"]) == {"a": 1, "b": 1, "c": 2}
    assert dict(without_d["at_floor"]) == {"a": True, "b": False, "c": False}
    assert aggregate(records)["at_floor"].isna().all()  # no band, no verdict
    md = render.markdown(without_d.reset_index())
    low, high = (f"{without_d.loc['a', k]:.3g}" for k in ("d_stsp_ci_low", "d_stsp_ci_high"))
    assert f"| 1 | 1 | a | stf | 5 | 0% | 1 ± 0.01 | [{low}, {high}] | yes | 1 |" in md


REFS = {"lorenz63": {"floor": {"d_stsp": {"q05": 0.05, "median": 0.12, "q95": 0.19}, "d_h": {"q05": 0.05, "median": 0.06, "q95": 0.07}},
                     "linear": {"d_stsp": 12.0, "d_h": 0.8}, "constant": {"d_stsp": 15.0, "d_h": 0.9},
                     "escape": {"d_stsp": 17.0, "d_h": 1.0}}}  # fmt: skip


def test_reference_rows_follow_each_dataset_unranked() -> None:
    table = aggregate(synthetic_records(), references={**REFS, "not_in_records": REFS["lorenz63"]})
    rows = table[table["dataset"] == "lorenz63"]
    assert list(rows["model"])[-4:] == ["true system (floor band)", "linear VAR(1)", "collapse: train mean",
                                        "escape: outside the box"]  # fmt: skip
    assert rows["rank"].iloc[-4:].isna().all() and rows["rank"].iloc[:4].tolist() == [1, 2, 3, 4]
    assert "not_in_records" not in set(table["dataset"])
    md = render.markdown(table)
    assert "| – | – | true system (floor band) | reference | – | – | 0.12 | [0.05, 0.19] |" in md
    assert "| – | – | collapse: train mean | reference | – | – | 15 |" in md
    assert render.version_stamp(table).endswith("built from 24 run records")


def test_collapse_escape_sentence_and_floor_band_in_the_d_stsp_plot(monkeypatch: pytest.MonkeyPatch) -> None:
    from chaosbench.leaderboard import plots

    table = aggregate(synthetic_records(), references=REFS)
    sentence = ("Here a collapse onto the train mean scores D_stsp 15 (D_H 0.9), an escape from the data's box "
                "17 (D_H 1), and the true system 0.12 (5 to 95 %: 0.05 to 0.19).")  # fmt: skip
    assert render.markdown(table).count(sentence) == 1
    bands: list = []
    monkeypatch.setattr(plots, "d_stsp_by_regime", lambda records, colors, band=None: bands.append(band))
    page = html.page(table, synthetic_records(), reference())
    assert page.count(f'<p class="note">{html.escape(sentence)}</p>') == 1
    assert bands == [None, (0.05, 0.19)]  # henon has no reference rows, lorenz63 its band
    monkeypatch.undo()
    figures: list = []
    monkeypatch.setattr(plots, "_png", lambda fig: figures.append(fig) or b"png")
    plots.d_stsp_by_regime(synthetic_records(), plots.model_colors(["lstm", "plrnn"]), (0.05, 0.19))
    legend = figures[0].axes[0].get_legend()
    assert "true system (5 to 95 %)" in [t.get_text() for t in legend.get_texts()]
    assert figures[0].axes[0].get_ylim()[0] <= 0.05
