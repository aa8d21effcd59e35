"""``chaosbench data list|show|build|verify``: the frozen benchmark datasets."""

from __future__ import annotations

import argparse
import json

import yaml

from chaosbench import data


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="list, show, build or verify the frozen datasets")
    p.add_argument("--data-dir", default=None, help="dataset directory (default: $CHAOSBENCH_DATA_DIR or the bundled one)")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    listing = dsub.add_parser("list", help="one line per dataset")
    listing.add_argument("--json", action="store_true", help="a JSON list of objects, one per dataset")
    listing.set_defaults(func=list_)
    show = dsub.add_parser("show", help="the card and array shapes of one dataset")
    show.add_argument("name")
    show.set_defaults(func=show_)
    build = dsub.add_parser("build", help="generate the frozen arrays and the MANIFEST")
    build.add_argument("names", nargs="*", help="datasets to build (default: all)")
    build.add_argument("--lyapunov", action="store_true",
                       help="compute the reference Lyapunov spectra into the cards instead (slow: minutes per system)")
    build.set_defaults(func=build_)
    verify = dsub.add_parser("verify", help="check hashes and that arrays follow from the cards")
    verify.add_argument("names", nargs="*", help="datasets to verify (default: all)")
    verify.add_argument("--no-rebuild", action="store_true", help="check hashes only")
    verify.add_argument("--lyapunov", action="store_true", help="also recompute lambda_max (cheaper run) and compare")
    verify.set_defaults(func=verify_)


def list_(args: argparse.Namespace) -> int:
    rows = []
    for name in data.names(args.data_dir):
        d = data.load(name, args.data_dir)
        lam = d.lambda_max or None
        rows.append({"name": name, "system": d.card["system"], "obs_dim": d.obs_dim, "dt": float(d.dt),
                     "train": len(d.train), "test": len(d.test), "lambda_max": lam,
                     "tau_pred_steps": float(d.tau_pred_steps) if lam else None, "sha256": d.sha256})  # fmt: skip
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'name':<16} {'system':<15} {'N':>3} {'dt':>6} {'train':>7} {'test':>7}  lambda_max  tau_pred[steps]")
    for r in rows:
        lam_s = f"{r['lambda_max']:10.4f}  {r['tau_pred_steps']:15.1f}" if r["lambda_max"] else f"{'-':>10}  {'-':>15}"
        print(f"{r['name']:<16} {r['system']:<15} {r['obs_dim']:>3} {r['dt']:>6g} {r['train']:>7} {r['test']:>7}  {lam_s}")
    return 0


def show_(args: argparse.Namespace) -> int:
    d = data.load(args.name, args.data_dir)
    print(yaml.safe_dump({**d.card, "sha256": d.sha256, "train_shape": list(d.train.shape),
                          "test_shape": list(d.test.shape)}, sort_keys=False, width=100).rstrip())
    return 0


def build_(args: argparse.Namespace) -> int:
    if args.lyapunov:
        for name, block in data.build_lyapunov(args.names or None, args.data_dir).items():
            print(f"{name}: lambda_max {block['lyapunov']['lambda_max']:.5g}")
        return 0
    for name, path in data.build_all(args.names or None, args.data_dir).items():
        print(f"wrote {path}")
    return 0


def verify_(args: argparse.Namespace) -> int:
    checks = data.verify(args.names or None, args.data_dir, rebuild=not args.no_rebuild, lyapunov=args.lyapunov)
    for check in checks:
        print(f"{'ok  ' if check.ok else 'FAIL'} {check.name:<16} {check.message}")
    failed = [c.name for c in checks if not c.ok]
    if failed:
        print(f"chaosbench: error: {len(failed)} dataset(s) failed verification: {', '.join(failed)}")
        return 2
    return 0
