"""The committed leaderboard of record: every record valid under the current protocol, made from
the datasets it names, and every dataset it holds complete for the standard suite (the
recompute lands dataset by dataset; ``chaosbench validate leaderboard/results --suite standard``
checks the whole)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaosbench.data.store import data_dir, read_manifest, sha256_file
from chaosbench.harness import suites
from chaosbench.harness.evaluate import EVAL_PROTOCOL_VERSION
from chaosbench.records import RecordStore, RunRecord
from chaosbench.records.validate import validate
from conftest import external_dir

RESULTS = Path(__file__).resolve().parents[1] / "leaderboard" / "results"


pytestmark = pytest.mark.skipif(not RESULTS.is_dir(), reason="no leaderboard of record committed yet")


@pytest.fixture(scope="module")
def records() -> list[RunRecord]:
    """Every committed record, read (and hash- and schema-checked) once for the module."""
    return list(RecordStore(RESULTS).iter_records())


def test_records_of_record_are_valid_match_their_datasets_and_name_their_protocol(records) -> None:
    """Frozen datasets against the manifest; empirical ones against their recording's file when
    the external recordings are at hand (CHAOSBENCH_EXTERNAL_DIR)."""
    assert records, f"{RESULTS} holds no records"
    frozen, external = read_manifest(data_dir()), external_dir()
    manifest = {}
    for record in records:
        name = record.key.dataset
        if f"{name}.npz" in frozen:
            manifest[name] = frozen[f"{name}.npz"]
        elif external is not None and (external / record.config["dataset"]["file"]).is_file():
            manifest[name] = sha256_file(external / record.config["dataset"]["file"])
        else:  # an empirical recording that is not at hand: schema and record hash only
            manifest[name] = record.dataset_sha256
    problems = validate(RESULTS, manifest=manifest, protocol=EVAL_PROTOCOL_VERSION)
    assert problems == [], "\n".join(map(str, problems))
    assert len(records) == len(list(RESULTS.rglob("seed*.json")))


def test_every_unit_of_record_is_complete_for_the_standard_suite(records) -> None:
    """The recompute commits whole units (every seed and rung), dataset by dataset."""
    standard = suites.load("standard")
    expected = set(standard.record_keys())
    # 21 latent units x 5 seeds x 2 rungs + ESN and SINDy x 5 seeds, per dataset
    assert len(expected) == 10 * (21 * 5 * 2 + 2 * 5)
    names = {entry.name for entry in standard.datasets}
    present = {record.key for record in records if record.key.dataset in names}  # not the empirical track
    started = {(key.dataset, key.model, key.regime) for key in present}
    assert started, "no unit recomputed yet"
    assert sorted(key for key in expected - present if (key.dataset, key.model, key.regime) in started) == []
    assert sorted(present - expected) == [], "records outside the standard suite"


def test_the_empirical_track_of_record_is_complete_per_unit(records) -> None:
    """The empirical suite's records, where committed, come in whole units as well."""
    empirical = suites.load("empirical")
    expected = set(empirical.record_keys())
    # per recording: 6 generic latent units and its published configuration x 5 seeds x 2 rungs, ESN x 5
    assert len(expected) == 2 * (7 * 5 * 2 + 5)
    names = {entry.name for entry in empirical.datasets}
    present = {record.key for record in records if record.key.dataset in names}
    if not present:
        pytest.skip("the empirical track is not committed yet")
    started = {(key.dataset, key.model, key.regime) for key in present}
    assert sorted(key for key in expected - present if (key.dataset, key.model, key.regime) in started) == []
    assert sorted(present - expected) == [], "records outside the empirical suite"


def test_every_diverged_record_carries_the_worst_value_of_every_metric(records) -> None:
    """docs/protocol.md, Status: a diverged record's metrics are the documented worst values: the
    constant ones exactly, D_stsp and PE(20) one value per dataset, no better than any ok record."""
    constants = {"d_h": 1.0, "lambda_max_error": 10.0, "spectrum_sign_agreement": 0.0, "valid_time": 0.0}
    by_dataset: dict[str, list[RunRecord]] = {}
    for record in records:
        by_dataset.setdefault(record.key.dataset, []).append(record)
    n_diverged = 0
    for name, mine in by_dataset.items():
        diverged = [r for r in mine if r.status == "diverged"]
        n_diverged += len(diverged)
        for record in diverged:
            assert {k: record.metrics[k] for k in constants} == constants, record.key
            assert record.metrics.get("lambda_max_gen") is None, record.key
        for metric in ("d_stsp", "pe20"):
            worst = {r.metrics[metric] for r in diverged}
            assert len(worst) <= 1, f"{name}: diverged records with different {metric}: {sorted(worst)}"
            ok = [r.metrics[metric] for r in mine if r.status == "ok"]
            assert not (worst and ok) or max(ok) <= min(worst), f"{name}: an ok record scores worse than the worst"
    assert n_diverged > 0  # the check has something to check (the BPTT entries diverge on lorenz63)


def test_validate_checks_only_the_suites_datasets_in_a_shared_directory(tmp_path):
    store = RecordStore(tmp_path)
    source = RecordStore(RESULTS).read(next(RESULTS.rglob("seed0.json")))
    store.write(source)
    wrong = {source.key.dataset: "0" * 64}
    assert len(validate(tmp_path, manifest=wrong)) == 1  # its hash is checked ...
    assert validate(tmp_path, manifest=wrong, datasets={"another"}) == []  # ... unless another suite's
