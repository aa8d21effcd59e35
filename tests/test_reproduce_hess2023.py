"""The hess2023 study: the paper's values in its YAML, the verdicts, the report's banner, the EEG
in-sample check and a tiny end-to-end run on the recordings (when they are at hand)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from chaosbench.cli import main
from chaosbench.data.store import sha256_file
from chaosbench.errors import ChaosbenchError
from chaosbench.harness import runner
from chaosbench.studies import config, hess2023
from chaosbench.studies.hess2023 import paper_data, report, verdicts
from chaosbench.studies.hess2023.settings import parse

PAPER_ECG = {  # Hess et al. (ICML 2023), Table 1, ECG: median D_stsp, D_H
    "shPLRNN + GTF": (4.3, 0.34),
    "shPLRNN + STF": (7.1, 0.38),
    "dendPLRNN": (None, None),  # not found in the paper's text
    "reservoir computer": (5.3, 0.39),
    "LSTM": (15.2, 0.73),
}


def _rows(settings):
    return {(r.dataset, r.label): r for r in parse(settings).rows}


def test_yaml_holds_the_papers_values_budget_and_seeds():
    full = config.load("hess2023")
    rows = _rows(full)
    assert {label: (r.paper["d_stsp"], r.paper["d_h"]) for (ds, label), r in rows.items() if ds == "ecg"} == PAPER_ECG
    assert rows["eeg", "shPLRNN + GTF"].paper == {"d_stsp": 2.1, "d_h": 0.11}
    assert full["budget"] == 250_000 and full["seeds"] == [0, 1, 2, 3, 4]
    quick = config.load("hess2023", "quick")
    assert quick["budget"] < 1000 and quick["seeds"] == [0, 1] and _rows(quick).keys() == rows.keys()
    assert rows["ecg", "shPLRNN + GTF"].model == "shplrnn_gtf_ecg"  # the empirical suite's named configuration


def test_external_dir_override_only_for_studies_that_read_recordings():
    assert config.load("hess2023", data_dir_external="/rec")["data_dir_external"] == "/rec"
    with pytest.raises(ChaosbenchError, match="reads no recordings"):
        config.load("mikhaeil2022", data_dir_external="/rec")


def test_eeg_split_of_the_paper_is_in_sample_and_ecg_is_not():
    files = config.load("hess2023")["paper_data"]
    assert paper_data.in_sample(files["eeg"]) and not paper_data.in_sample(files["ecg"])
    assert files["eeg"]["train"]["sha256"] == "7cc56e3b648ce492e1ac3d4284c46ccd1092e4abbc4c45f020b8c4a0b2a994bf"


def test_recordings_are_the_papers_arrays(external):
    files = config.load("hess2023")["paper_data"]
    assert sha256_file(external / "gtf_EEG_train.npy") == files["eeg"]["test"]["sha256"]
    assert sha256_file(external / "gtf_ECG_pecuzal_5d_test.npy") == files["ecg"]["test"]["sha256"]


def _result(status, d_stsp, d_h, budget=250_000, evaluable=False):
    return {"status": status, "d_stsp": d_stsp, "d_h": d_h, "budget": budget, "updates": budget,
            "evaluable": evaluable, "train_time": 10.0, "score_time": 2.0}  # fmt: skip


def test_medians_under_both_conventions_and_divergence_rate():
    runs = [_result("ok", 4.0, 0.3), _result("ok", 5.0, 0.4), _result("ok", 6.0, 0.5),
            _result("diverged", 30.0, 1.0), _result("failed", None, None)]  # fmt: skip
    row = verdicts.summarise(runs)
    assert row["d_stsp"] == 6.0 and row["d_h"] == 0.5  # worst values and a failed run count
    assert row["d_stsp_finite"] == 5.0 and row["d_h_finite"] == 0.4
    assert row["divergence_rate"] == pytest.approx(0.4) and (row["n_diverged"], row["n_failed"]) == (1, 1)
    assert row["d_stsp_range"] == (4.0, 6.0)
    assert row["train_s_per_1000"] == pytest.approx(0.04) and row["score_s"] == 2.0
    assert verdicts.projected_core_hours(row, 250_000, 5) == pytest.approx(5 * (10 + 2) / 3600)


@pytest.mark.parametrize(
    "paper,budget,in_sample,statuses,expected",
    [
        ({"d_stsp": 4.3, "d_h": 0.34}, 250_000, False, "ooooo", verdicts.REPRODUCED),
        ({"d_stsp": 4.3, "d_h": 0.6}, 250_000, False, "ooooo", verdicts.NOT_REPRODUCED),
        ({"d_stsp": 3.0, "d_h": 0.34}, 250_000, False, "ooooo", verdicts.NOT_REPRODUCED),
        ({"d_stsp": 4.3, "d_h": None}, 250_000, False, "ooooo", verdicts.REPRODUCED),
        ({"d_stsp": 4.3, "d_h": 0.34}, 300, False, "ooooo",
         f"{verdicts.NOT_AT_BUDGET}; at 300 updates: the paper's median within the finite runs' range"),
        ({"d_stsp": 3.0, "d_h": 0.34}, 4000, False, "ooooo",
         f"{verdicts.NOT_AT_BUDGET}; at 4000 updates: the paper's median outside the finite runs' range"),
        ({"d_stsp": 4.3, "d_h": 0.34}, 4000, False, "odddd",
         f"{verdicts.NOT_AT_BUDGET}; at 4000 updates: {verdicts.TOO_FEW}"),
        ({"d_stsp": None, "d_h": None}, 250_000, False, "ooooo", verdicts.NO_PAPER_VALUE),
        ({"d_stsp": 2.1, "d_h": 0.11}, 250_000, True, "ooooo", verdicts.IN_SAMPLE),
        ({"d_stsp": 4.3, "d_h": 0.34}, 250_000, False, "odddd", verdicts.TOO_FEW),
    ],
)
def test_verdicts(paper, budget, in_sample, statuses, expected):
    values = [(4.0, 0.30), (4.2, 0.33), (4.4, 0.35), (4.6, 0.40), (5.0, 0.5)]
    runs = [_result("ok" if s == "o" else "diverged", *v, budget=budget) for s, v in zip(statuses, values)]
    assert verdicts.verdict(verdicts.summarise(runs), paper, 250_000, in_sample) == expected


def test_evaluable_rows_are_judged_whatever_the_budget():
    runs = [_result("ok", v, 0.39, budget=300, evaluable=True) for v in (5.0, 5.6)]
    row = verdicts.summarise(runs)
    assert math.isnan(row["train_s_per_1000"])
    assert verdicts.verdict(row, {"d_stsp": 5.3, "d_h": 0.39}, 250_000) == verdicts.REPRODUCED


def test_banner_only_below_the_budget_of_record():
    record_of = config.load("hess2023")
    assert report.banner(record_of, record_of) == []
    (line, _) = report.banner(config.load("hess2023", "quick"), record_of)
    assert line.startswith("> **Pipeline-only run") and "300 (the study: 250000)" in line
    assert "chaosbench reproduce hess2023" in line
    (line, _) = report.banner({**record_of, "budget": 4000}, record_of)
    assert line.startswith("> **Short of the paper's budget") and "4000 of the paper's 250000" in line


def test_cli_needs_the_recordings(capsys, tmp_path):
    assert main(["reproduce", "hess2023", "--preset", "quick", "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs --data-dir-external" in err


TINY_EVAL = {"transient": 100, "n_test": 600, "n_gen": 700, "runs": 2, "lyapunov_inits": 2, "lyapunov_steps": 100}


@pytest.fixture
def tiny_suite(baselines: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The empirical suite with short evaluations and given lambda_max (no estimate to wait for)."""
    monkeypatch.setattr(config, "baselines_dir", lambda: baselines)
    path = baselines / "suites" / "empirical.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["evaluation"] = TINY_EVAL
    for entry in doc["datasets"]:
        entry["lambda_max"] = 0.05
    path.write_text(yaml.safe_dump(doc))
    return baselines


def test_tiny_study_end_to_end_and_resumes(external, tiny_suite, tmp_path, monkeypatch):
    settings = config.load("hess2023", "quick", budget=2, seeds=1, data_dir_external=str(external))
    keep = {("ecg", "shPLRNN + GTF"), ("ecg", "reservoir computer"), ("eeg", "shPLRNN + GTF")}
    settings["rows"] = [r for r in settings["rows"] if (r["dataset"], r["label"]) in keep]
    for row in settings["rows"]:
        if row["model"] == "esn":  # a small reservoir, so the test stays short
            row["model"] = {"name": "esn", "params": {"n_units": 50, "max_train": 2000, "washout": 100}}
    out = tmp_path / "study"
    path = hess2023.run(settings, out, progress=False)
    text = path.read_text()
    assert text.startswith("# Reproduction: Hess") and "> **Pipeline-only run" in text
    assert "in-sample" in text and "7cc56e3b648ce492e1ac3d4284c46ccd1092e4abbc4c45f020b8c4a0b2a994bf" in text
    assert str(external) not in text  # the local folder is not part of the report
    results = sorted((out / "cache").rglob("result.json"))
    assert [p.parent.name.rsplit("-", 1)[0] for p in results] == [
        "ecg-reservoir-computer-seed0", "ecg-shplrnn-gtf-seed0", "eeg-shplrnn-gtf-seed0"]  # fmt: skip
    gtf = json.loads(results[1].read_text())
    record = json.loads((results[1].parent / "record.json").read_text())
    assert gtf["result"]["config_sha256"] == record["config"]["config_sha256"]
    assert record["config"]["resolved"]["regime"] == {"name": "gtf", "alpha": 0.3, "alpha_init": 1.0,
                                                      "update_every": 5, "decay": "budget", "settle": 0.5}  # fmt: skip
    assert gtf["result"]["updates"] <= 2 and gtf["result"]["status"] in ("ok", "diverged")
    for row in ("shPLRNN + GTF", "reservoir computer"):
        assert f"| {row} |" in text

    # a rerun with the same settings trains nothing
    monkeypatch.setattr(runner, "train_unit", lambda *a, **k: pytest.fail("retrained a cached run"))
    hess2023.run(settings, out, progress=False)


def test_a_seed_on_record_is_taken_not_trained(external, tiny_suite, tmp_path, monkeypatch):
    """With ``records``: a row's seed whose record (a ladder's top rung at the study's budget, or an
    evaluable model's record) holds the same settings is read, not trained; other settings train."""
    from chaosbench.harness import suites
    from chaosbench.records import RecordStore

    small_esn = {"name": "esn", "params": {"n_units": 50, "max_train": 2000, "washout": 100}}
    doc = yaml.safe_load((tiny_suite / "suites" / "empirical.yaml").read_text())
    gtf_ecg = next(m for m in doc["models"] if isinstance(m, dict) and m["name"] == "shplrnn_gtf_ecg")
    ladder = suites.parse({**doc, "budget": [1, 2], "seeds": [0], "models": [gtf_ecg, small_esn]}).subset(["ecg"])
    records = tmp_path / "records"
    runner.run_suite(ladder, records, context=runner.RunContext("empirical", device="cpu", external_dir=str(external)),
                     progress=False, report=lambda line: None)  # fmt: skip
    store = RecordStore(records)

    settings = config.load("hess2023", "quick", budget=2, seeds=1, data_dir_external=str(external))
    rows = settings["rows"]
    settings["rows"] = [r for r in rows if r["dataset"] == "ecg" and r["model"] in ("shplrnn_gtf_ecg", "esn")]
    for row in settings["rows"]:
        row["model"] = small_esn if row["model"] == "esn" else row["model"]
    settings["records"] = str(records)
    with monkeypatch.context() as patch:
        patch.setattr(runner, "train_unit", lambda *a, **k: pytest.fail("trained a seed that is on record"))
        text = hess2023.run(settings, tmp_path / "study", progress=False).read_text()
    taken = {json.loads(p.read_text())["result"]["model"]: json.loads(p.read_text())["result"]
             for p in (tmp_path / "study" / "cache").rglob("result.json")}  # fmt: skip
    on_record = {r.key.model: r for r in store.iter_records() if r.key.budget in (None, 2)}
    assert set(taken) == set(on_record) == {"shplrnn_gtf_ecg", "esn"}
    for model, result in taken.items():
        assert result["source"] == str(store.path_for(on_record[model].key))
        assert result["d_stsp"] == on_record[model].metrics["d_stsp"]
    assert text.count("| 1 of 1 |") >= 2  # the cost table says where the seeds came from

    settings["budget"] = 1  # rung 1 of the ladder [1, 2] is not a 1-update run: trained here
    hess2023.run(settings, tmp_path / "study", progress=False)
    cached = (tmp_path / "study" / "cache").rglob("result.json")
    sources = [json.loads(p.read_text())["result"]["source"] for p in cached]
    assert sources.count("trained") == 2  # both rows: the reservoir's settings name the budget too


def test_settings_mistakes_are_one_line_errors():
    doc = config.load("hess2023")
    with pytest.raises(ChaosbenchError, match="unknown setting"):
        parse({**doc, "epochs": 5000})
    row = {k: v for k, v in doc["rows"][0].items() if k != "paper"}
    with pytest.raises(ChaosbenchError, match="missing setting.*paper"):
        parse({**doc, "rows": [row]})


def test_a_row_is_the_empirical_suites_unit():
    """The study's unit of a named configuration and the empirical suite's at the same budget:
    one resolved configuration (so one config_sha256 in their records)."""
    from chaosbench.harness import suites
    from chaosbench.records import config_sha256
    from chaosbench.studies.hess2023 import runs

    settings = parse(config.load("hess2023", "quick"))
    suite_doc = runs.suite_doc("empirical")
    by_key = {str(u): u for u in suites.parse({**suite_doc, "budget": settings.budget}).units()}
    for label, key in (("shPLRNN + GTF", "ecg/shplrnn_gtf_ecg/gtf"), ("LSTM", "ecg/lstm/bptt")):
        row = next(r for r in settings.rows if r.dataset == "ecg" and r.label == label)
        mine = runs.unit(settings, row, suite_doc, 0)
        theirs = next(u for k, u in by_key.items() if k.startswith(key))
        assert config_sha256(mine.settings()) == config_sha256(theirs.settings())
