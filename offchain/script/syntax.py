"""Parsing untrusted program text into a Python AST, safely, with located errors.

Both small languages of Unseen — secure scripts over shares
(:mod:`offchain.script.compiler`) and the rules that published programs
evaluate at a data owner (:mod:`offchain.publish.rules`) — use Python's
syntax and nothing of its runtime: the source is parsed with :mod:`ast`
and never compiled or executed by Python. Each language walks the tree
itself and refuses every construct it does not list.

Parsing is the one step that runs before any check, so it is bounded
here: the text must be a ``str`` of at most :data:`MAX_SOURCE_CHARS`
characters without NUL, and the tree at most :data:`MAX_DEPTH` levels deep
(measured without recursion), so a hostile text can neither exhaust the
parser nor overflow the recursion of the walkers that follow.
"""

from __future__ import annotations

import ast

from offchain.errors import ScriptError

MAX_SOURCE_CHARS = 65_536
MAX_DEPTH = 60
MAX_NODES = 20_000

_CONSTRUCTS: dict[type, str] = {
    ast.Import: "imports",
    ast.ImportFrom: "imports",
    ast.FunctionDef: "function definitions",
    ast.AsyncFunctionDef: "function definitions",
    ast.Lambda: "lambda functions",
    ast.ClassDef: "class definitions",
    ast.While: "while loops (use `for i in range(N)` with a constant N)",
    ast.With: "with blocks",
    ast.AsyncWith: "with blocks",
    ast.AsyncFor: "async loops",
    ast.Try: "try blocks",
    ast.Raise: "raise",
    ast.Assert: "assert",
    ast.Delete: "del",
    ast.Global: "global declarations",
    ast.Nonlocal: "nonlocal declarations",
    ast.Return: "return (assign the declared outputs instead)",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Await: "await",
    ast.NamedExpr: "assignment expressions (:=)",
    ast.Attribute: "attribute access",
    ast.Starred: "starred expressions",
    ast.Dict: "dictionaries",
    ast.Set: "sets",
    ast.DictComp: "dictionary comprehensions",
    ast.SetComp: "set comprehensions",
    ast.JoinedStr: "f-strings",
    ast.FormattedValue: "f-strings",
    ast.Match: "match statements",
}
if hasattr(ast, "TryStar"):
    _CONSTRUCTS[ast.TryStar] = "try blocks"


def location(node: ast.AST) -> tuple[int | None, int | None]:
    """Return the 1-based ``(line, column)`` of ``node`` (``None`` when it has none)."""
    line = getattr(node, "lineno", None)
    column = getattr(node, "col_offset", None)
    return line, (column + 1 if column is not None else None)


def error_at(node: ast.AST, reason: str, where: str | None = None) -> ScriptError:
    """Return a :class:`ScriptError` located at ``node``."""
    line, column = location(node)
    return ScriptError(reason, line, column, where)


def describe(node: ast.AST) -> str:
    """Name the construct ``node`` is, for "… are not allowed" messages."""
    known = _CONSTRUCTS.get(type(node))
    if known:
        return known
    return type(node).__name__


def parse(source: object, mode: str = "exec", *, what: str = "script",
          where: str | None = None) -> ast.AST:
    """Parse ``source`` (a module, or one expression with ``mode="eval"``) within the limits.

    Raises :class:`ScriptError` with the line and column of a syntax error,
    or naming the limit a text exceeds.
    """
    if not isinstance(source, str):
        raise ScriptError(f"a {what} must be text, got {type(source).__name__}", where=where)
    if len(source) > MAX_SOURCE_CHARS:
        raise ScriptError(
            f"the {what} has {len(source)} characters; at most {MAX_SOURCE_CHARS} are allowed",
            where=where,
        )
    if "\x00" in source:
        line = source.count("\n", 0, source.index("\x00")) + 1
        raise ScriptError(f"the {what} contains a NUL character", line, where=where)
    try:
        tree = ast.parse(source, mode=mode, type_comments=False, feature_version=(3, 11))
    except SyntaxError as exc:
        reason = exc.msg or "invalid syntax"
        raise ScriptError(f"syntax error: {reason}", exc.lineno, exc.offset, where) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ScriptError(
            f"the {what} cannot be parsed ({type(exc).__name__}): nesting is too deep", where=where
        ) from None
    check_size(tree, what=what, where=where)
    return tree


def check_size(tree: ast.AST, *, what: str = "script", where: str | None = None) -> None:
    """Refuse trees deeper than :data:`MAX_DEPTH` or larger than :data:`MAX_NODES` (iteratively)."""
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise error_at(
                node,
                f"the {what} nests more than {MAX_DEPTH} levels deep; split the expression "
                "into named steps",
                where,
            )
        if count > MAX_NODES:
            raise ScriptError(
                f"the {what} has more than {MAX_NODES} syntax nodes; it is too long to check",
                where=where,
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
