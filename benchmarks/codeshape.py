"""The shape of the package's code at a commit, as issue 24 measures it: lines, raise messages, long
string literals and function-local imports. Read from git, so two commits compare without a checkout.

    python3 benchmarks/codeshape.py b8237ca HEAD

Lines are every line of keyrings_gar/**/*.py. A raise message is the literal first argument of
`raise X(...)`, an f-string's fields counted as 8 characters each. A long literal is any string
literal outside a docstring over 200 characters (implicit concatenation is one literal). A local
import is an import statement inside a function; "with a reason" means a comment on its line or
in the comment block right above it (the module docstring can also give the reason: read it).
"""

from __future__ import annotations

import ast
import statistics
import subprocess
import sys

_FIELD = 8


def _files(rev: str) -> dict[str, str]:
    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, "keyrings_gar"], capture_output=True,
                           text=True, check=True).stdout.split()
    return {name: subprocess.run(["git", "show", f"{rev}:{name}"], capture_output=True, text=True,
                                 check=True).stdout for name in names if name.endswith(".py")}


def _literal_size(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return len(node.value)
    if isinstance(node, ast.JoinedStr):
        return sum(len(str(part.value)) if isinstance(part, ast.Constant) else _FIELD for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal_size(node.left), _literal_size(node.right)
        return None if left is None or right is None else left + right
    return None


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        for statement in getattr(node, "body", []) if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                                                          ast.AsyncFunctionDef)) else []:
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                found.add(id(statement.value))
    return found


def _has_reason(lines: list[str], lineno: int) -> bool:
    if "#" in lines[lineno - 1]:
        return True
    above = lineno - 2
    while above >= 0 and lines[above].strip().startswith(("import ", "from ")):
        above -= 1
    return above >= 0 and lines[above].strip().startswith("#")


def shape(rev: str) -> str:
    files = _files(rev)
    raises: list[int] = []
    long_literals = local_imports = with_reason = 0
    for text in files.values():
        tree = ast.parse(text)
        lines = text.splitlines()
        skipped = _docstrings(tree) | {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
                                       for part in node.values}
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                size = _literal_size(node.exc.args[0])
                if size is not None:
                    raises.append(size)
            if id(node) not in skipped and isinstance(node, (ast.Constant, ast.JoinedStr)):
                size = _literal_size(node)
                long_literals += size is not None and size > 200
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)):
                        local_imports += 1
                        with_reason += _has_reason(lines, inner.lineno)
    line_count = sum(len(text.splitlines()) for text in files.values())
    largest = max(files, key=lambda name: len(files[name].splitlines()))
    return (f"{rev}: {line_count} lines in {len(files)} modules (largest {largest}, "
            f"{len(files[largest].splitlines())}); {len(raises)} raise messages, median "
            f"{statistics.median(raises):.0f} characters, {sum(s > 200 for s in raises)} over 200, "
            f"{sum(s > 150 for s in raises)} over 150; {long_literals} string literals over 200 characters; "
            f"{local_imports} function-local imports, {with_reason} with a reason beside them")


if __name__ == "__main__":
    for rev in sys.argv[1:] or ["HEAD"]:
        print(shape(rev))
