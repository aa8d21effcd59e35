"""Reading YAML files that users and the repository provide, with one-line errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from chaosbench.errors import ChaosbenchError


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """The parsed document at ``path`` (safe loader); unreadable or malformed files raise one line."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ChaosbenchError(f"{path}: cannot read ({err.__class__.__name__})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ChaosbenchError(f"{path}: malformed YAML{where}: {problem}") from None
