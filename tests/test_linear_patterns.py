"""Every pattern that reads a service string runs in linear time, proven from its structure.

Python's `re` backtracks, so a pattern can take time quadratic (or worse) in its input:
`[^/?#@]*:[^/?#@]*@` tries every colon of `https://::::...` against every later one (32k colons
took 1.6 s). A backtracking match stays linear when

- every unbounded repeat is of a single character class, and the characters that can come right
  after it are all outside that class (so the run has exactly one place where the match can go on:
  backing off into it can only fail, once per character), and
- groups repeat at most once (`(...)?`), so the number of ways through the pattern is a constant.

Each way through then reads each run once, plus one failed step back per character: O(n) with a
constant that depends only on the pattern. `assert_linear` checks exactly these two rules on the
parsed pattern, with no clock involved; the last test shows it refuses the old quadratic pattern.
"""

from __future__ import annotations

import importlib
import re
from types import ModuleType
from typing import Any

import pytest

from keyrings_gar import hosts


def _sre_module(new: str, old: str) -> ModuleType:
    """re's parser and its constants: `re._parser` from Python 3.11, `sre_parse` before."""
    try:
        return importlib.import_module(new)
    except ImportError:
        return importlib.import_module(old)


sre_parse = _sre_module("re._parser", "sre_parse")
_OP = _sre_module("re._constants", "sre_constants")

END = -1
NON_LATIN1 = 256  # stands for every code point above 255: no pattern here names one
UNIVERSE = frozenset(range(NON_LATIN1 + 1))


def _class(items: list[tuple[Any, Any]]) -> frozenset[int]:
    chars: set[int] = set()
    negate = False
    for op, av in items:
        if op is _OP.NEGATE:
            negate = True
        elif op is _OP.LITERAL:
            chars.add(av)
        elif op is _OP.RANGE:
            chars.update(range(av[0], min(av[1], NON_LATIN1 - 1) + 1))
        else:
            raise AssertionError(f"unsupported in a character class: {op}")
    return UNIVERSE - chars if negate else frozenset(chars)


class _Checker:
    def __init__(self, flags: int) -> None:
        self.dotall = bool(flags & re.DOTALL)

    def chars(self, op: Any, av: Any) -> frozenset[int] | None:
        """The characters a single-character item matches; None if it is not one."""
        if op is _OP.LITERAL:
            return frozenset({av})
        if op is _OP.NOT_LITERAL:
            return UNIVERSE - {av}
        if op is _OP.IN:
            return _class(av)
        if op is _OP.ANY:
            return UNIVERSE if self.dotall else UNIVERSE - {ord("\n")}
        return None

    def first(self, seq: list[tuple[Any, Any]], follow: frozenset[int]) -> frozenset[int]:
        """What the first character after this point can be (END: the input may end there)."""
        found: set[int] = set()
        for op, av in seq:
            single = self.chars(op, av)
            if single is not None:
                return frozenset(found | single)
            if op is _OP.AT:
                continue
            if op is _OP.SUBPATTERN:
                inner = self.first(list(av[-1]), frozenset({END}))
            elif op in (_OP.MAX_REPEAT, _OP.MIN_REPEAT):
                inner = self.first(list(av[2]), frozenset({END}))
                inner = inner | {END} if av[0] == 0 else inner
            elif op is _OP.BRANCH:
                inner = frozenset().union(*(self.first(list(alt), frozenset({END})) for alt in av[1]))
            else:
                raise AssertionError(f"unsupported item: {op}")
            found |= inner - {END}
            if END not in inner:
                return frozenset(found)
        return frozenset(found | follow)

    def check(self, seq: list[tuple[Any, Any]], follow: frozenset[int]) -> None:
        for index, (op, av) in enumerate(seq):
            after = self.first(seq[index + 1:], follow)
            if op is _OP.SUBPATTERN:
                self.check(list(av[-1]), after)
            elif op is _OP.BRANCH:
                for alternative in av[1]:
                    self.check(list(alternative), after)
            elif op in (_OP.MAX_REPEAT, _OP.MIN_REPEAT):
                high, sub = av[1], list(av[2])
                single = self.chars(*sub[0]) if len(sub) == 1 else None
                if single is None:
                    assert high <= 1, "a group may repeat at most once"
                    self.check(sub, after)
                elif high is _OP.MAXREPEAT:
                    overlap = sorted(single & after)
                    assert not overlap, (f"a run of {[chr(c) for c in sorted(single)[:8]]}... may be followed by "
                                         f"{[chr(c) for c in overlap[:8]]}, which it also matches")


def assert_linear(pattern: re.Pattern[str]) -> None:
    checker = _Checker(pattern.flags)
    checker.check(list(sre_parse.parse(pattern.pattern, pattern.flags)), frozenset({END}))


@pytest.mark.parametrize("name", ["_SERVICE", "_PASSWORD_IN_URL", "_ARTIFACT_REGISTRY_PYTHON_HOST"])
def test_every_service_pattern_in_hosts_is_linear(name: str) -> None:
    assert_linear(getattr(hosts, name))


@pytest.mark.parametrize("quadratic", [
    r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#@]*:[^/?#@]*@",  # hosts._PASSWORD_IN_URL before it was fixed
    r"(?:a+)+b",
    r"[a-z]*[a-z0-9]*!",
    r"(?:x|xy)*z",
])
def test_the_proof_refuses_patterns_that_backtrack_badly(quadratic: str) -> None:
    with pytest.raises(AssertionError):
        assert_linear(re.compile(quadratic))
