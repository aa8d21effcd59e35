"""``chaosbench systems``: the registry of ground-truth systems."""

from __future__ import annotations

import argparse

from chaosbench import systems


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("systems", help="list the registered chaotic systems")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(f"{'name':<16} {'kind':<5} {'dim':>4} {'dt':>7}  parameters")
    for name in systems.names():
        s = systems.get(name)
        params = ", ".join(f"{k}={v:g}" for k, v in s.params.items())
        print(f"{name:<16} {s.kind:<5} {s.dim:>4} {s.dt:>7g}  {params}")
    return 0
