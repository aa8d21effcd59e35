"""D_stsp: Kullback-Leibler divergence between the true and generated state-space densities.

``KL(p_true || p_gen)``, estimated by histograms for ``N <= 5`` and by Gaussian mixtures with a
Monte-Carlo integral for ``N > 5`` (the histogram has ``n_bins**N`` cells and becomes empty).
Both estimators bound generated data that leaves the true box (``_arrays.true_box``), so an
escaping or diverged trajectory gets a large but finite score: its documented worst value. The
mixture works in units standardised by a given ``(mean, sd)`` (spec v2: the harness passes the
training split's; v1 used the test series' own, which made short test splits score high).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from chaosbench.errors import ChaosbenchError
from chaosbench.metrics._arrays import ArrayLike, as_float64, as_trajectory, generated_against, true_box

Method = Literal["auto", "bins", "gmm"]

MAX_BINNED_DIM = 5  # "auto" uses bins up to this dimension, the Gaussian mixture above it
LAPLACE_ALPHA = 1e-5  # pseudo-count added to every histogram cell
GMM_MAX_POINTS = 10_000  # mixture components per trajectory (evenly spaced subsample)
GMM_SAMPLES = 4_096  # Monte-Carlo draws from the true mixture
_CHUNK_ELEMENTS = 1 << 22  # samples x components per block of the log-density computation


def state_space_divergence(
    x_true: ArrayLike,
    x_gen: ArrayLike,
    n_bins: int = 30,
    *,
    method: Method = "auto",
    sigma: float = 1.0,
    n_samples: int = GMM_SAMPLES,
    max_points: int = GMM_MAX_POINTS,
    seed: int = 0,
    standardise: tuple[ArrayLike, ArrayLike] | None = None,
) -> float:
    """``KL(p_true || p_gen)``; ``method="auto"`` bins for ``N <= 5``, else Gaussian mixtures.

    ``n_bins`` applies to the histogram; ``sigma``, ``n_samples``, ``max_points``, ``seed`` and
    ``standardise`` to the mixture. ``standardise`` is the per-component ``(mean, sd)`` both
    trajectories are standardised with (the harness passes the training split's; default:
    ``x_true``'s own), and ``sigma`` is in those sd units. A diverged ``x_gen`` scores the worst
    value: every generated point counted as outside the true box.
    """
    score = StateSpaceDivergence(x_true, n_bins, method=method, sigma=sigma, n_samples=n_samples,
                                 max_points=max_points, seed=seed, standardise=standardise)  # fmt: skip
    return score(x_gen)


def resolve_method(method: str, n_dim: int) -> Literal["bins", "gmm"]:
    """The estimator ``method`` stands for at dimension ``n_dim``."""
    if method == "auto":
        return "bins" if n_dim <= MAX_BINNED_DIM else "gmm"
    if method in ("bins", "gmm"):
        return method  # type: ignore[return-value]
    raise ChaosbenchError(f"unknown D_stsp method '{method}' (known: auto, bins, gmm)")


class StateSpaceDivergence:
    """D_stsp against one true series, as a callable of the generated series.

    The true side (box, histogram cells or mixture density at the Monte-Carlo samples) is
    computed once, so each further generated run (the protocol's free runs) costs only its own
    side. Arguments as :func:`state_space_divergence`.
    """

    def __init__(
        self,
        x_true: ArrayLike,
        n_bins: int = 30,
        *,
        method: Method = "auto",
        sigma: float = 1.0,
        n_samples: int = GMM_SAMPLES,
        max_points: int = GMM_MAX_POINTS,
        seed: int = 0,
        standardise: tuple[ArrayLike, ArrayLike] | None = None,
    ) -> None:
        self.true = as_trajectory(x_true, "x_true")
        self.box = true_box(self.true, "x_true")
        self.method = resolve_method(method, self.true.shape[1])
        if self.method == "bins":
            self._init_bins(n_bins)
        else:
            self._init_mixture(sigma, n_samples, max_points, seed, standardise)

    def __call__(self, x_gen: ArrayLike) -> float:
        gen, diverged = generated_against(x_gen, self.box)
        return self._binned_kl(gen, diverged) if self.method == "bins" else self._gmm_kl(gen, diverged)

    def _init_bins(self, n_bins: int) -> None:
        n_dim = self.true.shape[1]
        if n_bins < 1 or float(n_bins) ** n_dim >= 2.0**62:
            raise ChaosbenchError(f"n_bins={n_bins} gives no or too many cells in {n_dim} dims")
        self.n_bins = n_bins
        self._lo, self._width = self.box.lo[:, None], (self.box.hi - self.box.lo)[:, None]
        # Component-major copies: the per-point work below runs along contiguous rows.
        self._cells_true = _cell_index((np.ascontiguousarray(self.true.T) - self._lo) / self._width, n_bins)

    def _binned_kl(self, gen: np.ndarray, diverged: bool) -> float:
        """Histogram KL with Laplace smoothing; generated points outside the box stay in the total."""
        n_bins, cells_true = self.n_bins, self._cells_true
        if not diverged:
            unit = (np.ascontiguousarray(gen.T) - self._lo) / self._width  # the box is [0, 1]
            cells_gen = _cell_index(unit[:, np.all((unit >= 0.0) & (unit <= 1.0), axis=0)], n_bins)
        else:  # diverged: no generated point is placed, all of them count as outside the box
            cells_gen = cells_true[:0]
        # Compact the n_bins**N index space to the occupied cells, counted for both histograms.
        _, compact = np.unique(np.concatenate([cells_true, cells_gen]), return_inverse=True)
        n_occupied = int(compact.max()) + 1
        h_true = np.bincount(compact[: len(cells_true)], minlength=n_occupied)
        h_gen = np.bincount(compact[len(cells_true) :], minlength=n_occupied)

        n_cells = float(n_bins) ** self.true.shape[1]
        z_true = len(self.true) + LAPLACE_ALPHA * n_cells
        z_gen = len(gen) + LAPLACE_ALPHA * n_cells  # out-of-box points count here only
        p = (h_true + LAPLACE_ALPHA) / z_true
        q = (h_gen + LAPLACE_ALPHA) / z_gen
        occupied_term = float(np.sum(p * np.log(p / q)))
        # Every cell empty in both histograms contributes the same term; add them in closed form.
        empty_term = (n_cells - n_occupied) * LAPLACE_ALPHA / z_true * np.log(z_gen / z_true)
        return max(occupied_term + float(empty_term), 0.0)

    def _init_mixture(
        self, sigma: float, n_samples: int, max_points: int, seed: int,
        standardise: tuple[ArrayLike, ArrayLike] | None,
    ) -> None:  # fmt: skip
        """The true side of the Monte-Carlo KL between mixtures of ``N(point, sigma^2 I)`` in
        standardised units.

        The generated log-density is floored at that of a single component one box diagonal
        away, so mass beyond the true box counts as sitting at its edge (and a diverged run
        scores the floor everywhere): the mixture analogue of the histogram's out-of-box rule.
        """
        if sigma <= 0 or n_samples < 1 or max_points < 1:
            raise ChaosbenchError("sigma, n_samples and max_points must be positive")
        self.mean, self.sd = self._standardisation(standardise)
        self.sigma, self.max_points = sigma, max_points
        centres_true = _subsample((self.true - self.mean) / self.sd, max_points)
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, len(centres_true), size=n_samples)
        self._samples = centres_true[picks] + sigma * rng.standard_normal((n_samples, self.true.shape[1]))
        self._log_floor = -0.5 * float(np.sum(((self.box.hi - self.box.lo) / self.sd) ** 2)) / sigma**2
        self._log_p = _mixture_log_density(self._samples, centres_true, sigma)

    def _gmm_kl(self, gen: np.ndarray, diverged: bool) -> float:
        if diverged:
            log_q = np.full(len(self._samples), self._log_floor)
        else:
            centres_gen = _subsample((gen - self.mean) / self.sd, self.max_points)
            log_q = np.maximum(_mixture_log_density(self._samples, centres_gen, self.sigma), self._log_floor)
        return max(float(np.mean(self._log_p - log_q)), 0.0)

    def _standardisation(self, standardise: tuple[ArrayLike, ArrayLike] | None) -> tuple[np.ndarray, np.ndarray]:
        """The ``(mean, sd)`` of the mixture's standardisation, checked: ``x_true``'s own by default."""
        if standardise is None:
            return self.box.mean, self.box.sd
        n_dim = self.true.shape[1]
        mean, sd = (as_float64(v, name).ravel() for v, name in zip(standardise, ("mean", "sd"), strict=True))
        if mean.shape != (n_dim,) or sd.shape != (n_dim,):
            raise ChaosbenchError(f"standardise needs a mean and an sd of {n_dim} values each")
        if not (np.isfinite(mean).all() and np.isfinite(sd).all() and (sd > 0).all()):
            raise ChaosbenchError("standardise: mean must be finite and sd finite and > 0")
        return mean, sd


def _cell_index(unit: np.ndarray, n_bins: int) -> np.ndarray:
    """Flat cell of each column of ``unit`` (N, T) in [0, 1]; 1.0 belongs to the last bin."""
    bins = np.minimum((unit * n_bins).astype(np.int64), n_bins - 1)
    return np.ravel_multi_index(tuple(bins), (n_bins,) * len(unit))


def _subsample(x: np.ndarray, max_points: int) -> np.ndarray:
    """At most ``max_points`` rows of ``x``, evenly spaced over its whole length."""
    if len(x) <= max_points:
        return x
    return x[np.linspace(0, len(x) - 1, max_points).round().astype(np.int64)]


def _mixture_log_density(samples: np.ndarray, centres: np.ndarray, sigma: float) -> np.ndarray:
    """``log mean_k exp(-|s - c_k|^2 / 2 sigma^2)`` per sample (the Gaussian constant cancels).

    ``-|s - c|^2 / 2 = s.c - |c|^2 / 2 - |s|^2 / 2``; the last term is the same for every
    component, so it leaves the log-sum-exp and is added back at the end.
    """
    scaled = centres.T / sigma**2
    half_sq = 0.5 * np.einsum("ij,ij->i", centres, centres) / sigma**2
    chunk = max(1, _CHUNK_ELEMENTS // len(centres))
    out = np.empty(len(samples))
    for start in range(0, len(samples), chunk):
        logits = samples[start : start + chunk] @ scaled
        logits -= half_sq
        peak = logits.max(axis=1)
        logits -= peak[:, None]
        np.exp(logits, out=logits)
        out[start : start + chunk] = peak + np.log(logits.sum(axis=1))
    half_sq_samples = 0.5 * np.einsum("ij,ij->i", samples, samples) / sigma**2
    return out - half_sq_samples - np.log(len(centres))
