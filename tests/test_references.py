"""Reference rows: the true system's floor band, a constant and a linear model, scored by the protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chaosbench import data
from chaosbench.data.generate import independent_orbits
from chaosbench.data.store import load_npz, read_manifest
from chaosbench.harness import references, suites
from chaosbench.harness.evaluate import EVAL_PROTOCOL_VERSION, EvalSettings
from chaosbench.metrics import METRIC_SPEC_VERSION

SETTINGS = EvalSettings(n_test=600, transient=50, runs=2)


def test_floor_band_constant_linear_and_verify(tmp_path) -> None:
    dataset = data.load("lorenz63")
    refs = references.compute(dataset, SETTINGS)
    floor = refs["floor"]["d_stsp"]
    assert refs["samples"] == references.FLOOR_SAMPLES and refs["runs"] == 2 and refs["n_test"] == 600
    assert 0 < floor["q05"] <= floor["median"] <= floor["q95"]
    # other stretches of the true attractor score better than a collapse onto the mean
    assert floor["q95"] < refs["constant"]["d_stsp"]
    assert refs["constant"]["d_h"] > refs["floor"]["d_h"]["q95"]
    # stored rows are recomputed identically from their seeds; a changed number is named
    references.write(refs, tmp_path)
    stored = references.read("lorenz63", tmp_path)
    assert references.differences(stored, references.compute(dataset, SETTINGS)) == []
    stored["linear"]["d_stsp"] *= 1.01
    [problem] = references.differences(stored, refs)
    assert problem.startswith("linear.d_stsp: stored")


def test_a_recording_shorter_than_a_run_has_no_floor_but_its_other_rows(tmp_path) -> None:
    """ECG's case: a training split shorter than one scored run has no stretches to draw a floor
    from; the constant, linear and escape rows are still stored and shown, with a sentence."""
    from chaosbench.leaderboard.aggregate import reference_rows
    from chaosbench.leaderboard.render import reference_note

    x = data.load("lorenz63").train[:1500]
    np.save(tmp_path / "rec.npy", x[:500])
    np.save(tmp_path / "rec_test.npy", x[500:])
    recording = data.load_file(tmp_path / "rec.npy", dt=0.01, test_path=tmp_path / "rec_test.npy",
                               name="rec", lambda_max=0.9)  # fmt: skip
    refs = references.compute(recording, SETTINGS)  # runs of 650 steps, 500 training samples
    assert refs["floor"] is None and refs["source"] == "recording"
    assert min(refs["constant"]["d_stsp"], refs["linear"]["d_stsp"], refs["escape"]["d_stsp"]) > 0
    references.write(refs, tmp_path)
    assert references.differences(references.read("rec", tmp_path), refs) == []
    rows = reference_rows({"rec": refs})
    assert list(rows["model"]) == ["linear VAR(1)", "collapse: train mean", "escape: outside the box"]
    assert "no floor band" in reference_note(rows)


@pytest.mark.parametrize("name", ["lorenz63", "lorenz96", "mackey_glass"])
def test_batched_floor_orbits_are_the_single_orbit_integrations(name: str) -> None:
    """All samples' orbits in one batch (mackey_glass: a delay line of 171 states, observed
    through an embedding) give each orbit the values of its integration alone."""
    card, arrays = data.read_card(name), load_npz(data.data_dir() / f"{name}.npz")
    batch = independent_orbits(card, arrays["mean"], arrays["std"], 2, 300, seeds=[0, 3])
    assert batch.shape == (300, 4, data.load(name).obs_dim) and np.isfinite(batch).all()
    alone = independent_orbits(card, arrays["mean"], arrays["std"], 1, 300, seeds=[3])  # orbit 0 of seed 3
    np.testing.assert_allclose(batch[:, 2], alone[:, 0], rtol=0, atol=1e-12)
    assert not np.allclose(batch[:, 0], batch[:, 1])


def standard() -> dict[str, Any]:
    suite = suites.load("standard")
    return {entry.name: (entry, suite.evaluation) for entry in suite.datasets}


def test_every_v1_dataset_has_committed_reference_rows_of_the_current_versions() -> None:
    manifest = read_manifest(data.data_dir())
    assert set(standard()) == set(data.names())
    for name, (entry, settings) in standard().items():
        refs = references.read(name)
        assert refs is not None, f"{name}: no committed reference rows"
        assert (refs["eval_protocol"], refs["metric_spec"], refs["version"]) == (
            EVAL_PROTOCOL_VERSION, METRIC_SPEC_VERSION, references.REFERENCES_VERSION)  # fmt: skip
        assert refs["dataset_sha256"] == manifest[f"{name}.npz"]
        test = settings.test_series(data.load(name).test)
        assert (refs["n_test"], refs["runs"], refs["samples"]) == (len(test), len(settings.run_starts(len(test))), 16)
        floor = refs["floor"]["d_stsp"]
        assert 0 < floor["q05"] <= floor["median"] <= floor["q95"] < refs["constant"]["d_stsp"]


def test_committed_reference_rows_of_rossler_are_recomputed_identically() -> None:
    """``chaosbench references verify`` for one dataset (the others take minutes; see docs/metrics.md)."""
    entry, settings = standard()["rossler"]
    stored = references.read("rossler")
    assert stored is not None and references.differences(stored, references.compute(entry.load(), settings)) == []


def test_docs_table_of_reference_rows_is_the_committed_files() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text(encoding="utf-8")
    committed = sorted(p.stem for p in references.references_dir().glob("*.json"))
    assert set(standard()) <= set(committed)
    for name in committed:
        refs = references.read(name)
        assert refs is not None
        floor, linear, constant = refs["floor"], refs["linear"], refs["constant"]
        cells = [name, f"{refs['n_test']:,}".replace(",", " "),
                 *(f"{floor[m]['median']:.3g} ({floor[m]['q05']:.3g} to {floor[m]['q95']:.3g})" if floor else "none"
                   for m in ("d_stsp", "d_h")),
                 *(f"{row[m]:.3g}" for row in (linear, constant) for m in ("d_stsp", "d_h")),
                 f"{refs['escape']['d_stsp']:.3g}"]  # fmt: skip
        assert "| " + " | ".join(cells) + " |" in doc, f"docs/metrics.md: the reference row of {name} is not the committed one"
