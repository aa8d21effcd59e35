"""The mikhaeil2022 study: three findings of Mikhaeil et al. (2022) and Vogt et al., re-run.

1. :mod:`.forcing`: reconstruction quality vs the STF interval, optimum near ``tau_pred``;
   :mod:`.per_model`: the same interval measured for each model family (tau rule v3).
2. :mod:`.gradients`: loss gradients of chaotic models diverge with the sequence length, those
   of stable or cyclic models stay bounded.
3. :mod:`.training_spectrum`: the Lyapunov spectrum over training, BPTT vs STF.

:func:`run` computes what its cache (``<out>/cache``) lacks, then writes the figures (when
matplotlib is installed) and ``REPORT.md`` (:mod:`.report`) from the cached results.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chaosbench.records import atomic_write
from chaosbench.studies.mikhaeil2022 import findings, forcing, gradients, per_model, report, training_spectrum
from chaosbench.studies.mikhaeil2022.common import dataset
from chaosbench.studies.mikhaeil2022.settings import parse
from chaosbench.training import resolve_device

REPORT = "REPORT.md"


def run(settings_doc: Mapping[str, Any], out: Path, progress: bool = True) -> Path:
    """Run (or resume) the study with ``settings_doc`` into ``out``; the report's path."""
    settings = parse(settings_doc)
    cache = Path(out) / "cache"
    part1 = forcing.run(settings, cache, progress)
    part1b = per_model.run(settings, cache, progress)
    part2 = gradients.run(settings, cache, part1, progress)
    part3 = training_spectrum.run(settings, cache, progress)

    tables = {name: findings.forcing_rows([r for _, r in part1], name) for name in settings.forcing.datasets}
    grad_ds = dataset(settings.gradients.dataset)
    grad_rows = findings.gradient_rows(part2, grad_ds.lambda_max, grad_ds.dt)
    figures = _figures(out, tables, grad_rows, part3)
    text = report.markdown(settings_doc, tables, findings.per_model_rows(part1b), part2, part3, figures,
                           str(resolve_device(settings.device)))  # fmt: skip
    path = Path(out) / REPORT
    atomic_write(path, text.encode("utf-8"))
    return path


def _figures(out: Path, tables: Any, grad_rows: Any, part3: Any) -> dict[str, str | None]:
    """Draw and write the PNGs; name -> file name, all ``None`` without matplotlib."""
    names = ("forcing", "gradients", "training_spectrum")
    try:
        draw = importlib.import_module("chaosbench.studies.mikhaeil2022.figures")
    except ImportError:  # matplotlib is the optional extra "plots"
        return dict.fromkeys(names)
    pngs = {"forcing": draw.forcing(tables), "gradients": draw.gradients(grad_rows),
            "training_spectrum": draw.training_spectrum(part3)}  # fmt: skip
    files: dict[str, str | None] = {}
    for name, png in pngs.items():
        files[name] = f"{name}.png" if png is not None else None
        if png is not None:
            atomic_write(Path(out) / f"{name}.png", png)
    return files
