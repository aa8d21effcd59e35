"""Part 3: a model's Lyapunov spectrum over training, BPTT vs STF (Vogt et al., arXiv 2006.14123).

The spectrum of an RNN, computed by the QR method on its Jacobians, is a readout of what
training does to its dynamics. Both regimes train the same model on the same data with their
default settings; :class:`chaosbench.lyapunov.LyapunovCallback` records every seed's spectrum
every ``every`` updates (the same initial states at every record). Exponents are stored per time
unit (per-step values divided by the dataset's ``dt``), comparable with the dataset's
``lambda_max``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

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
        config = common.training_config(settings, part.dataset, regime, part.seeds, part.budget)
        config["lyapunov"] = {"every": part.every, **asdict(part.lyapunov)}
        entry = Entry(root, PART, f"{part.dataset}-{regime['name']}", config)
        result = entry.load()
        if result is None:
            result = entry.save(_train(config, progress))
        done.append(result)
    return done


def _train(config: dict[str, Any], progress: bool) -> dict[str, Any]:
    ds = common.dataset(config["dataset"]["name"])
    lyap = config["lyapunov"]
    callback = LyapunovCallback(lyap["every"], n_steps=lyap["n_steps"], transient=lyap["transient"],
                                n_init=lyap["n_init"])  # fmt: skip
    fitted = common.train(config, callbacks=[callback], progress=progress)
    seeds = []
    for seed, log, diverged in zip(fitted.seeds, fitted.logs, fitted.diverged, strict=True):
        records = [c for c in log["callbacks"] if c["callback"] == LyapunovCallback.__name__]
        seeds.append({
            "seed": seed,
            "train_diverged": diverged,
            "updates": [c["update"] for c in records],
            "exponents": [[e / ds.dt for e in c["value"]["exponents"]] for c in records],
            "loss": {"update": log["update"], "loss": log["loss"]},
        })  # fmt: skip
    return {
        "dataset": ds.name,
        "regime": fitted.regime.as_dict(),
        "lambda_max_true": ds.lambda_max,
        "seeds": seeds,
        "wall_time": fitted.wall_time,
    }
