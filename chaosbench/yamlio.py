"""Reading YAML that users and the repository provide, with one-line errors.

Every YAML document chaosbench reads goes through :func:`parse_yaml` (``tests/test_bad_input.py``
checks that no other module calls a YAML loader). Aliases are allowed, but a document whose
aliases would expand to more than :data:`MAX_NODES` nodes (a "billion laughs" file, or an alias
inside the node it names) is refused before anything is built from it: the graph of shared nodes
is sized in time proportional to its distinct nodes, not to its expansion.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from chaosbench.errors import ChaosbenchError

MAX_NODES = 100_000  # expanded size of a document (the largest shipped file: 158)


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """The parsed document at ``path``; unreadable or malformed files raise one line naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ChaosbenchError(f"{path}: cannot read ({err.__class__.__name__})") from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, source: str) -> Any:
    """The document in ``text`` (safe loader); problems raise one line naming ``source``."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_NODES:
            raise ChaosbenchError(f"{source}: its aliases expand to more than {MAX_NODES} YAML nodes")
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ChaosbenchError(f"{source}: malformed YAML{where}: {problem}") from None
    except ValueError as err:  # e.g. an impossible date
        raise ChaosbenchError(f"{source}: malformed YAML: {err}") from None
    except RecursionError:
        raise ChaosbenchError(f"{source}: YAML nested too deeply") from None
    finally:
        loader.dispose()


def _expanded_size(root: yaml.Node) -> int:
    """The number of nodes ``root`` stands for once every alias is copied out (a node reached
    through several aliases counts each time; one inside itself, without end), capped at
    ``MAX_NODES + 1``; each distinct node is visited once."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            return MAX_NODES + 1
        open_nodes.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        total = 1 + sum(size(child) for child in children)
        open_nodes.discard(key)
        sizes[key] = min(total, MAX_NODES + 1)  # keeps the numbers small
        return sizes[key]

    return size(root)
