"""Reference rows: the true system's floor band, a constant and a linear model, scored by the protocol."""

from __future__ import annotations

from chaosbench import data
from chaosbench.harness import references
from chaosbench.harness.evaluate import EvalSettings

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
