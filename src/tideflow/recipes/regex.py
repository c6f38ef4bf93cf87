"""The regular expressions every engine reads the same way.

A ``regex_extract`` pattern runs on RE2 (DuckDB), on PostgreSQL's ARE engine and on Rust's ``regex``
(the memory engine). Their common ground is literals, classes with ranges, ``\\d \\w \\s`` (and their
negations), greedy quantifiers, capturing and non-capturing groups, alternation between branches of one
fixed length, ``^`` and ``$`` (PostgreSQL still prefers the longest overall match where a pattern can
match in several ways: the docs ask for patterns with one way to match).
Outside it they disagree silently or fail only at build time: in PostgreSQL the first quantifier
sets the greediness of the whole pattern (``*?`` there makes later ``+`` lazy too), ``\\b`` is a
backspace and ``[[:alpha:]]`` takes any letter; ``(?i)`` and named groups break the group PostgreSQL
adds; RE2 and Rust have no look-around, back-references or ``\\Z``; ``\\u`` is unknown to RE2 and a
lone ``{`` to Rust. ``portable_regex_problem`` names the first such construct, so a pattern is
refused when the project is loaded rather than giving different rows per engine.
"""

from __future__ import annotations

import re
from re import _constants as C  # type: ignore[attr-defined]  # the parser behind ``re`` (3.11+)
from re import _parser as P  # type: ignore[attr-defined]

_ESCAPES = set("dwsDWSntr")  # letters allowed after a backslash; any punctuation may be escaped
_QUANTIFIER = re.compile(r"\{[0-9]+(,[0-9]*)?\}")
_MAX_REPEAT = 255
_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE | re.ASCII
_REFUSED = {
    C.MIN_REPEAT: "a lazy quantifier (*?, +?, ??, {n,m}?): PostgreSQL lets the first quantifier set the "
                  "greediness of the whole pattern",
    C.GROUPREF: "a back-reference: RE2 (DuckDB) and the memory engine have none",
    C.GROUPREF_EXISTS: "a conditional group: RE2 (DuckDB) and the memory engine have none",
    C.ASSERT: "a look-ahead or look-behind: RE2 (DuckDB) and the memory engine have none",
    C.ASSERT_NOT: "a look-ahead or look-behind: RE2 (DuckDB) and the memory engine have none",
}
for _name, _why in (("POSSESSIVE_REPEAT", "a possessive quantifier"), ("ATOMIC_GROUP", "an atomic group")):
    if hasattr(C, _name):
        _REFUSED[getattr(C, _name)] = f"{_why}: only Python has it"


def portable_regex_problem(pattern: str) -> str | None:
    """What keeps ``pattern`` from meaning the same on every engine (None: nothing; invalid: the error)."""
    problem = _scan(pattern)
    if problem is not None:
        return problem
    try:
        parsed = P.parse(pattern)
    except re.error as err:
        return f"invalid regular expression: {err}"
    if parsed.state.flags & _FLAGS:
        return "inline flags such as (?i): they break the group PostgreSQL adds around the pattern; write the " \
               "letter cases out ([Aa])"
    if parsed.state.groupdict:
        return "a named group (?P<name>...): PostgreSQL has none; use a plain group and its number"
    return _walk(parsed)


def _scan(pattern: str) -> str | None:
    """Text-level checks the parser cannot see: escapes, POSIX classes, braces that are not quantifiers."""
    i, in_class, class_start = 0, False, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1 : i + 2]
            if nxt in ("<", ">") or (nxt and not nxt.isascii()):
                return (f"the escape \\{nxt} (a word boundary in the memory engine's regex, an error on RE2 "
                        "for a non-ASCII character): write the character without a backslash")
            if nxt.isalnum() and nxt not in _ESCAPES:
                why = {"b": "a backspace on PostgreSQL, a word boundary elsewhere", "B": "not on every engine",
                       "A": "not on every engine", "Z": "not on RE2 (DuckDB)", "z": "not on PostgreSQL",
                       "u": "not on RE2 (DuckDB): write the character itself",
                       "x": "read with any number of hex digits by PostgreSQL: write the character itself"}
                detail = why.get(nxt, "not the same on every engine" if not nxt.isdigit()
                                 else "a back-reference or octal escape, not on every engine")
                return f"the escape \\{nxt} ({detail})"
            i += 2
            continue
        if in_class:
            if c == "[" and pattern[i + 1 : i + 2] in (":", "=", "."):
                return "a POSIX class such as [[:alpha:]]: PostgreSQL takes any letter, RE2 ASCII only; " \
                       "spell the characters out ([A-Za-z])"
            if c == "[":
                return f"a '[' inside a class at position {i} (a nested class for the memory engine): write \\["
            if pattern[i : i + 2] in ("&&", "--", "~~") and i > class_start:
                return (f"'{pattern[i : i + 2]}' inside a class at position {i} (a set operation for the memory "
                        "engine): escape one of them")
            if c == "]" and i > class_start:
                in_class = False
        elif c == "(" and pattern[i + 1 : i + 2] == "?":
            if pattern[i + 2 : i + 3] == "#":
                return "a comment (?#...): RE2 (DuckDB) and the memory engine have none"
            if re.match(r"[aiLmsux-]+[:)]", pattern[i + 2 :]):
                return "inline flags such as (?i): they break the group PostgreSQL adds around the pattern; write " \
                       "the letter cases out ([Aa])"
        elif c == "[":
            in_class = True
            class_start = i + 1 + (pattern[i + 1 : i + 2] == "^")  # a ']' right after '[' or '[^' is literal
        elif c in "{}":
            match = _QUANTIFIER.match(pattern, i) if c == "{" else None
            if match is None:
                return f"a brace that is not a quantifier {{n}} or {{n,m}} at position {i}: write \\{c}"
            if any(int(n) > _MAX_REPEAT for n in re.findall(r"[0-9]+", match.group())):
                return f"a repeat count over {_MAX_REPEAT} at position {i} (PostgreSQL's limit)"
            i = match.end()
            continue
        i += 1
    return None


def _walk(items: object) -> str | None:
    for op, av in items:  # type: ignore[attr-defined]
        if op in _REFUSED:
            return _REFUSED[op]
        if op is C.AT and av not in (C.AT_BEGINNING, C.AT_END):
            return "an anchor other than ^ and $ (\\A, \\Z, \\b): not on every engine"
        if op is C.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if add_flags or del_flags:
                return "inline flags such as (?i:...): PostgreSQL has none; write the letter cases out ([Aa])"
            found = _walk(sub)
        elif op in (C.MAX_REPEAT,):
            found = _walk(av[2])
        elif op is C.BRANCH:
            widths = {b.getwidth() for b in av[1]}
            if len(widths) > 1 or any(low != high for low, high in widths):
                return ("an alternation whose branches can match different lengths (cat|category): PostgreSQL "
                        "takes the longest match, DuckDB and the memory engine the first branch that matches; "
                        "give every branch one fixed length, or use one step per branch")
            found = next((p for p in (_walk(b) for b in av[1]) if p is not None), None)
        else:
            found = None
        if found is not None:
            return found
    return None
