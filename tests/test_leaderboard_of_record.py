"""The committed leaderboard of record: every record valid, made from the frozen datasets it names.

Completeness against the standard suite is checked with ``chaosbench validate leaderboard/results
--suite standard`` once the suite has finished; until then the records present must be sound.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaosbench.data.store import data_dir, read_manifest
from chaosbench.harness.records import RecordStore
from chaosbench.harness.validate import validate

RESULTS = Path(__file__).resolve().parents[1] / "leaderboard" / "results"


@pytest.mark.skipif(not RESULTS.is_dir(), reason="no leaderboard of record committed yet")
def test_records_of_record_are_valid_and_match_the_frozen_datasets() -> None:
    frozen = read_manifest(data_dir())
    names = {r.key.dataset for r in RecordStore(RESULTS).iter_records()}
    assert names, f"{RESULTS} holds no records"
    manifest = {name: frozen[f"{name}.npz"] for name in names if f"{name}.npz" in frozen}
    problems = validate(RESULTS, manifest=manifest)
    assert problems == [], "\n".join(map(str, problems))
