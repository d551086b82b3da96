"""A small PromQL-aware check: which metrics a query selects, and an organisation matcher added to some.

Not a full parser (Prometheus 2.42 has no `/api/v1/parse_query` to ask): a tokenizer that knows
where metric names can stand. Strings and label matchers are skipped, words followed by `(` are
functions or aggregations, grouping lists (`by (...)`, `on (...)`) hold label names, and the
remaining words are keywords or metric names. Anything it does not understand, such as a
`__name__` matcher or a selector without a metric name, is refused rather than guessed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

ALLOWED_PREFIX = "shipyard_"
ORGANIZATION_LABEL = "organization_id"
# Words that are operators, aggregations (also written `sum by (x) (...)`) or modifiers, never metric names.
KEYWORDS = frozenset(
    {
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "atan2",
        "inf",
        "nan",
    }
)
GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    |(?P<matchers>\{(?:[^{}"'`]|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)*\})
    |(?P<range>\[[^\]]*\])
    |(?P<word>[A-Za-z_:][A-Za-z0-9_:]*)
    |(?P<number>[0-9][0-9a-zA-Z.]*)
    |(?P<space>\s+)
    |(?P<other>.)
    """,
    re.VERBOSE,
)


class QueryRefused(ValueError):  # noqa: N818 - reads as what happened: the query was refused
    """The query selects something the caller may not read, or cannot be checked."""


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    start: int
    end: int


def _tokens(query: str) -> list[_Token]:
    found = []
    for match in _TOKEN.finditer(query):
        kind = match.lastgroup or "other"
        if kind != "space":
            found.append(_Token(kind, match.group(), match.start(), match.end()))
    return found


def _selectors(tokens: list[_Token]) -> list[tuple[int, _Token | None]]:
    """(index of the metric-name token or of a bare `{...}`, its matchers token) for every selector."""
    selectors: list[tuple[int, _Token | None]] = []
    in_grouping = False
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if in_grouping:
            in_grouping = token.text != ")"
            continue
        if token.kind == "word":
            if token.text in GROUPING:
                in_grouping = following is not None and following.text == "("
            elif token.text.lower() in KEYWORDS or (following is not None and following.text == "("):
                continue
            else:
                matchers = following if following is not None and following.kind == "matchers" else None
                selectors.append((index, matchers))
        elif token.kind == "matchers" and (index == 0 or tokens[index - 1].kind != "word"):
            selectors.append((index, token))
    return selectors


def metric_names(query: str) -> set[str]:
    """The metric names `query` selects; refuses selectors it cannot name."""
    if "__name__" in query:
        msg = "Select metrics by name, not with a __name__ matcher."
        raise QueryRefused(msg)
    tokens = _tokens(query)
    names = set()
    for index, _ in _selectors(tokens):
        token = tokens[index]
        if token.kind == "matchers":
            msg = f"The selector {token.text} names no metric; name one (shipyard_...)."
            raise QueryRefused(msg)
        names.add(token.text)
    if not names:
        msg = "The query selects no metric."
        raise QueryRefused(msg)
    return names


def check_and_scope(query: str, organization_id: str | None, labelled: frozenset[str]) -> str:
    """`query` if every metric it reads is Shipyard's, with `organization_id` matched on `labelled` metrics.

    `organization_id` None means the caller may read the whole deployment (the operator).
    """
    names = metric_names(query)
    if foreign := sorted(name for name in names if not name.startswith(ALLOWED_PREFIX)):
        msg = f"Only Shipyard's own metrics ({ALLOWED_PREFIX}*) can be queried; not {', '.join(foreign)}."
        raise QueryRefused(msg)
    if organization_id is None:
        return query
    if unscoped := sorted(names - labelled):
        msg = (
            f"{', '.join(unscoped)} cover the whole deployment, not one organisation; "
            "only a token of the operator organisation may query them."
        )
        raise QueryRefused(msg)
    tokens = _tokens(query)
    matcher = f"{ORGANIZATION_LABEL}={json.dumps(organization_id)}"
    edits: list[tuple[int, int, str]] = []
    for index, matchers in _selectors(tokens):
        name = tokens[index]
        if matchers is None:
            edits.append((name.end, name.end, "{" + matcher + "}"))
        elif ORGANIZATION_LABEL in matchers.text:
            msg = f"Do not match {ORGANIZATION_LABEL} yourself: the token's organisation is applied."
            raise QueryRefused(msg)
        else:
            inner = matchers.text[1:-1].strip().rstrip(",")
            edits.append((matchers.start, matchers.end, "{" + (f"{inner}, " if inner else "") + matcher + "}"))
    for start, end, text in sorted(edits, reverse=True):
        query = query[:start] + text + query[end:]
    return query
