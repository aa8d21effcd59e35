"""Quality check of the training loop: a latent baseline (default shPLRNN) trained on a frozen dataset.

Trains one ensemble of seeds under one regime, runs each trained member freely from the first
test state for the whole test length, and prints D_stsp and D_H (metric spec v1) per seed and
their medians. Example (about two CPU-minutes per 8 000 updates and seed batch):

    .venv/bin/python scripts/train_lorenz_check.py --regime stf --tau 10 --seeds 0 1 2 3
"""

from __future__ import annotations

import argparse
import functools
import json

import numpy as np
import torch

from chaosbench import data
from chaosbench.metrics import power_spectrum_distance, state_space_divergence
from chaosbench.models import baseline_defaults, build
from chaosbench.training import TAU_FRACTION, fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="lorenz63")
    parser.add_argument("--regime", default="stf", choices=("bptt", "stf", "gtf"))
    parser.add_argument("--tau", default="lyapunov", help="stf interval in steps or 'lyapunov'")
    parser.add_argument("--fraction", type=float, default=TAU_FRACTION, help="stf rule fraction of tau_pred")
    parser.add_argument("--alpha", default="adaptive", help="gtf alpha or 'adaptive'")
    parser.add_argument("--decay", type=float, default=0.999, help="adaptive gtf alpha decay")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--budget", type=int, default=8000)
    parser.add_argument("--model", default="shplrnn", help="a latent baseline; its defaults from baselines/models/")
    parser.add_argument("--lr", type=float, default=3e-2)
    parser.add_argument("--lr-decay", type=float, default=0.1, help="final lr / initial lr")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--grad-clip", type=float, default=10.0)
    parser.add_argument("--seq-len", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eval-steps", type=int, default=None, help="default: test length")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    ds = data.load(args.dataset)
    if args.regime == "stf":
        tau = args.tau if args.tau == "lyapunov" else int(args.tau)
        regime = {"name": "stf", "tau": tau, "fraction": args.fraction}
    elif args.regime == "gtf":
        alpha = args.alpha if args.alpha == "adaptive" else float(args.alpha)
        regime = {"name": "gtf", "alpha": alpha, "decay": args.decay}
    else:
        regime = {"name": "bptt"}
    factory = functools.partial(build, args.model, **baseline_defaults(args.model))
    result = fit(
        factory, ds.train, ds.dt, regime, seeds=args.seeds, budget=args.budget, lr=args.lr,
        lr_decay=args.lr_decay, batch_size=args.batch_size, grad_clip=args.grad_clip,
        seq_len=args.seq_len, lambda_max=ds.lambda_max, device="cpu",
        log_every=max(1, args.budget // 10),
    )
    n = args.eval_steps or len(ds.test)
    scores = []
    for seed, model, log in zip(result.seeds, result.members, result.logs):
        gen = model.generate(ds.test[0], n).numpy()
        d_stsp = state_space_divergence(ds.test[:n], gen)
        d_h = power_spectrum_distance(ds.test[:n], gen)
        scores.append((d_stsp, d_h))
        print(json.dumps({"seed": seed, "d_stsp": round(d_stsp, 4), "d_h": round(d_h, 4),
                          "final_loss": log["loss"][-1], "grad_norm": log["grad_norm"][-1],
                          "alpha": log.get("alpha", [None])[-1]}))
    med = np.median(np.array(scores), axis=0)
    print(json.dumps({
        "regime": result.regime.as_dict(), "budget": args.budget, "seeds": len(args.seeds),
        "median_d_stsp": round(float(med[0]), 4), "median_d_h": round(float(med[1]), 4),
        "wall_time_s": round(result.wall_time, 1),
        "steps_per_s": round(result.steps_per_second), "diverged": result.diverged,
    }))


if __name__ == "__main__":
    main()
