"""Part 3: a model's Lyapunov spectrum over training, BPTT vs STF (Vogt et al., arXiv 2006.14123).

The spectrum of an RNN, computed by the QR method on its Jacobians, is a readout of what
training does to its dynamics. Both regimes train the same model on the same data with their
resolved settings (regime YAML, the study's ``lr``), through the runner's training function
(:mod:`.common`); :class:`chaosbench.lyapunov.LyapunovCallback` records every seed's spectrum
every ``every`` updates (the same initial states at every record). Exponents are stored per time
unit (per-step values divided by the dataset's ``dt``), comparable with the dataset's
``lambda_max``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from chaosbench.errors import ChaosbenchError
from chaosbench.harness.suites import WorkUnit
from chaosbench.lyapunov import LyapunovCallback
from chaosbench.studies.cache import Entry
from chaosbench.studies.mikhaeil2022 import common
from chaosbench.studies.mikhaeil2022.settings import StudySettings

PART = "training_spectrum"
REGIMES = ({"name": "bptt"}, {"name": "stf", "tau": "lyapunov"})


def run(settings: StudySettings, root: Path, progress: bool) -> list[dict[str, Any]]:
    """Train each regime with the spectrum recorded (unless cached); their results."""
    part = settings.training_spectrum
    done = []
    for regime in tqdm(REGIMES, desc="part 3: spectrum", disable=not progress, unit="regime"):
        work = common.unit(settings, part.dataset, regime, regime["name"], part.seeds, part.budget)
        config = {**common.cache_config(work, settings), "lyapunov": {"every": part.every, **asdict(part.lyapunov)}}
        entry = Entry(root, PART, f"{part.dataset}-{regime['name']}", config)
        result = entry.load()
        if result is None:
            result = entry.save(_train(work, settings, progress))
        done.append(result)
    return done


def _train(work: WorkUnit, settings: StudySettings, progress: bool) -> dict[str, Any]:
    ds, lyap = common.dataset(work.dataset.name), settings.training_spectrum.lyapunov
    callback = LyapunovCallback(settings.training_spectrum.every, n_steps=lyap.n_steps, transient=lyap.transient,
                                n_init=lyap.n_init)  # fmt: skip
    trained = common.train(work, settings, callbacks=[callback], progress=progress)
    seeds = []
    for seed, member in zip(work.seeds, trained, strict=True):
        if member.log is None:  # training raised: no model, no spectrum
            raise ChaosbenchError(f"part 3: training {work} failed: {member.failure}")
        records = [c for c in member.log["callbacks"] if c["callback"] == LyapunovCallback.__name__]
        seeds.append({
            "seed": seed,
            "train_diverged": member.diverged,
            "updates": [c["update"] for c in records],
            "exponents": [[e / ds.dt for e in c["value"]["exponents"]] for c in records],
            "loss": {"update": member.log["update"], "loss": member.log["loss"]},
        })  # fmt: skip
    return {
        "dataset": ds.name,
        "regime": trained[0].extra["regime"],
        "lambda_max_true": ds.lambda_max,
        "seeds": seeds,
        "wall_time": sum(member.train_time for member in trained),
    }
