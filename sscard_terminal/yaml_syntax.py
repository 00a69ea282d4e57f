"""One line for a YAML syntax error: the file, the line and column, the problem.

PyYAML's own text spans several lines and quotes a fragment of the document;
flattened into one line it reads as a squashed fragment. Every loader of a
YAML file (profiles, person files, terminal.yaml, key sets, policies, the key
service's registry, schedules) says it this way instead.
"""

from __future__ import annotations

import os

import yaml

__all__ = ["describe_yaml_error"]


def describe_yaml_error(path: str | os.PathLike[str], exc: yaml.YAMLError) -> str:
    """``FILE line L, column C: PROBLEM (CONTEXT)``, lines and columns counted from 1."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    where = f"{os.fspath(path)}"
    if mark is not None:
        where += f" line {mark.line + 1}, column {mark.column + 1}"
    detail = f"{problem} ({context})" if context else str(problem)
    return f"{where}: YAML syntax error: {detail}"
