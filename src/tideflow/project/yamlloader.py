"""The YAML loader of project files: safe, strict about what YAML leaves ambiguous, and bounded.

A project file is small; YAML can still make a small file huge or endless. Aliases repeat their
anchor's value wherever they are used, so ten aliases of ten aliases of ... ("billion laughs")
expand a 300-byte file to millions of values, and an alias inside its own anchor (``&a [*a]``)
never ends. PyYAML's composer also recurses once per nesting level, so 2,000 ``[`` overflow
Python's stack. This loader refuses all three while it composes the document, naming the line,
before anything walks the expanded tree. Its errors are ``yaml.YAMLError``s, so every caller
that already handles bad YAML handles them too; ``read_yaml`` turns them into ``ProjectError``s.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
# Generous bounds: a real project file holds a few hundred values, nested a dozen levels deep.
MAX_VALUES = 100_000  # values (scalars, lists and mappings) of one file once its aliases are expanded
MAX_DEPTH = 100  # lists and mappings nested in one another, aliases expanded


class _KeyProblem(yaml.YAMLError):
    """A problem in ``mapping`` (when known) of the document whose root node is ``root`` (set once
    the document is composed): ``read_yaml`` names the mapping's key path from them."""

    mapping: yaml.MappingNode | None = None
    root: yaml.Node | None = None


class Refused(_KeyProblem):
    """A document the loader refuses, with the line to name."""

    def __init__(self, message: str, line: int | None, mapping: yaml.MappingNode | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.mapping = mapping


class DuplicateKey(_KeyProblem):
    """A mapping holds the same key twice (YAML would keep the last one silently)."""

    def __init__(self, mapping: yaml.MappingNode, key: str, first: yaml.Node, second: yaml.Node) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.mapping = mapping
        self.key = key
        self.first_line = first.start_mark.line + 1
        self.second_line = second.start_mark.line + 1


def _line(node_or_event: yaml.Node | yaml.Event) -> int:
    mark = node_or_event.start_mark
    return int(mark.line) + 1 if mark is not None else 1


class LineLoader(yaml.SafeLoader):
    """A safe loader with YAML 1.2 booleans: only true/false are booleans, so a join's ``on:`` key
    stays the string "on" (YAML 1.1 reads on/off/yes/no as booleans). A key written twice in one
    mapping is an error, not "the last one wins"; so is a key that is not text. Aliases are
    measured as they are composed (see the module's docstring)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._extent: dict[int, tuple[int, int]] = {}  # id(node) -> (values, levels) with aliases expanded
        self._open: dict[str, int] = {}  # anchors of the values being composed -> their line
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            return self._compose_alias(parent, index)
        event = self.peek_event()
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise Refused(f"nesting too deep at line {_line(event)}: expected at most {MAX_DEPTH} levels of "
                          "lists and mappings inside one another", _line(event))
        if event.anchor is not None:
            self._open[event.anchor] = _line(event)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if event.anchor is not None:
                self._open.pop(event.anchor, None)
        if node is not None:
            self._measure(node)
        return node

    def _compose_alias(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """The anchored node, refused when it contains this alias or nests beyond the depth bound."""
        event = self.peek_event()
        line, anchor = _line(event), event.anchor
        if anchor in self._open:
            raise Refused(f"a recursive alias at line {line}: *{anchor} is used inside the value it names "
                          f"(&{anchor} at line {self._open[anchor]}), which would never end: expected an alias "
                          "of a value written before it", line)
        node = super().compose_node(parent, index)  # an unknown anchor is PyYAML's error, with its line
        levels = self._extent[id(node)][1] if node is not None else 0  # values count where used: see _measure
        if self._depth + levels > MAX_DEPTH:
            raise Refused(f"nesting too deep at line {line}: the alias *{anchor} nests its value "
                          f"{levels} levels deeper: expected at most {MAX_DEPTH} levels of lists and mappings "
                          "inside one another", line)
        return node

    def _measure(self, node: yaml.Node) -> None:
        """Record how many values ``node`` holds and how deep it goes, aliases expanded (its children
        are measured already: an alias reuses its anchor's measure instead of walking it again)."""
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        measured = [self._extent[id(child)] for child in children]
        values = 1 + sum(v for v, _ in measured)
        levels = 1 + max((depth for _, depth in measured), default=0)
        if values > MAX_VALUES:
            raise Refused(f"the file is too large: the value at line {_line(node)} holds more than {MAX_VALUES:,} "
                          f"values (an alias counts its anchor's values each time it is used): expected at most "
                          f"{MAX_VALUES:,} in one file", _line(node))
        self._extent[id(node)] = (values, levels)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, yaml.Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue  # keys merged in with '<<' may be overridden: that is what merging is for
                _require_text_key(node, key_node)
                if key_node.value in seen:
                    raise DuplicateKey(node, key_node.value, seen[key_node.value], key_node)
                seen[key_node.value] = key_node
            self.flatten_mapping(node)  # now, to check the merged keys too (super() finds nothing left to merge)
            for key_node, _ in node.value:
                _require_text_key(node, key_node)
        return super().construct_mapping(node, deep=deep)


# What YAML reads an unquoted key as, in words (the key's tag -> "got ...").
_KEY_KINDS = {
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "a boolean",
    "tag:yaml.org,2002:null": "nothing (null)",
}


def _require_text_key(mapping: yaml.MappingNode, key: yaml.Node) -> None:
    """Every key of a project file is a name. YAML reads an unquoted ``1:``, ``true:``, ``null:`` or
    ``2025-01-01:`` as a number, boolean, null or date, which no key of a project file can be."""
    if isinstance(key, yaml.ScalarNode) and key.tag == _STR_TAG:
        return
    line = _line(key)
    if not isinstance(key, yaml.ScalarNode):
        got = "a list" if isinstance(key, yaml.SequenceNode) else "a mapping"
        raise Refused(f"a key at line {line} must be a name (text), got {got}", line, mapping)
    text = str(key.value)
    if key.tag == "tag:yaml.org,2002:timestamp":
        got = "a date" if len(text) == 10 else "a timestamp"
    else:
        got = _KEY_KINDS.get(key.tag, f"a value tagged {key.tag}")
    if not text:
        raise Refused(f"a key at line {line} is empty: expected a name (text), got {got}", line, mapping)
    raise Refused(f"key {text} at line {line} must be a name (text), got {got}: quote it, as in '{text}', "
                  "to keep it as text", line, mapping)


LineLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "tTfF":
    LineLoader.yaml_implicit_resolvers.setdefault(_first, []).insert(
        0, ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"))
    )


def compose(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree and the data of ``text``. A nesting the stack cannot hold is ``Refused`` too
    (the depth bound stops PyYAML's recursion first, unless the caller's stack is already deep)."""
    loader = LineLoader(text)
    node: yaml.Node | None = None
    try:
        node = loader.get_single_node()
        return node, loader.construct_document(node) if node is not None else None
    except RecursionError:
        raise Refused("nesting too deep: expected fewer levels of lists and mappings inside one another",
                      None) from None
    except _KeyProblem as err:
        err.root = node
        raise
    finally:
        loader.dispose()


def loads(text: str) -> Any:
    """Parse YAML text the way project files are parsed."""
    return compose(text)[1]
