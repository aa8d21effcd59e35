"""The ``chaosbench`` command: one subcommand module per concept, each with ``register(sub)``.

A user mistake (bad name, malformed config, corrupt file) is a :class:`ChaosbenchError`: it is
printed as one line and the command exits with code 2, never with a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from chaosbench import __version__
from chaosbench.errors import ChaosbenchError

# Each module defines ``register(subparsers)``; its parsers set ``func(args) -> int | None``.
COMMAND_MODULES: tuple[str, ...] = (
    "systems", "data", "references", "leaderboard", "run", "checkpoints", "lyapunov", "reproduce",
)

DESCRIPTION = """\
chaosbench: a benchmark for reconstructing chaotic dynamical systems from time series with
recurrent neural networks. Run a suite (models x training regimes x datasets x seeds), score it
with the canonical metrics and build the leaderboard tables and page."""
EPILOG = """first steps:
  chaosbench run --suite quick          train and score the quick suite, then print its results
  chaosbench data list                  the frozen datasets
  chaosbench systems                    the ground-truth systems
  chaosbench lyapunov lorenz63          Lyapunov spectrum of a system or dataset
  chaosbench COMMAND --help             the options of one command
"""


class _Parser(argparse.ArgumentParser):
    """argparse already exits with code 2 on bad options; keep its message to one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"chaosbench: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="chaosbench", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--version", action="version", version=f"chaosbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"chaosbench.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ChaosbenchError as err:
        print(f"chaosbench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("chaosbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
