"""Read YAML keeping the line of every key, and turn pydantic errors into located ``ProjectError``s."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from tideflow.errors import ProjectError, did_you_mean

KeyPath = tuple[str | int, ...]


class _LineLoader(yaml.SafeLoader):
    """A safe loader with YAML 1.2 booleans: only true/false are booleans, so a join's ``on:`` key
    stays the string "on" (YAML 1.1 reads on/off/yes/no as booleans)."""


_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "tTfF":
    _LineLoader.yaml_implicit_resolvers.setdefault(_first, []).insert(
        0, ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"))
    )


def loads(text: str) -> Any:
    """Parse YAML text the way project files are parsed."""
    return yaml.load(text, Loader=_LineLoader)


def _walk(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines)


def read_yaml(path: Path, shown: str) -> tuple[Any, dict[KeyPath, int]]:
    """Parse ``path``; return the data and a map key path -> line. Errors name ``shown``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ProjectError(f"cannot read the file: {err}", file=shown) from None
    try:
        loader = _LineLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err)
        raise ProjectError(f"invalid YAML: {problem}", file=shown, line=mark.line + 1 if mark else None) from None
    lines: dict[KeyPath, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def format_path(path: Iterable[str | int]) -> str:
    """``('steps', 2, 'op')`` -> ``steps[2].op``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _vocabulary(model: type[BaseModel], seen: set[type] | None = None) -> set[str]:
    """Every field name (and alias) reachable from ``model``: candidates for 'did you mean'."""
    seen = seen if seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    names: set[str] = set()
    for name, field in model.model_fields.items():
        names.add(field.alias or name)
        for arg in _model_args(field.annotation):
            names |= _vocabulary(arg, seen)
    return names


def _model_args(annotation: object) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    stack = [annotation]
    while stack:
        item = stack.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            found.append(item)
            continue
        stack.extend(getattr(item, "__args__", ()) or ())
        stack.extend(getattr(item, "__metadata__", ()) or ())
        origin = getattr(item, "__origin__", None)
        if origin is not None and origin is not item:
            stack.append(origin)
    return found


def _fields_at(model: type[BaseModel], path: tuple[Any, ...]) -> set[str]:
    """Field names (and aliases) of the model(s) at ``path`` under ``model`` (empty when it cannot be followed)."""
    current = [model]
    for key in path:
        if isinstance(key, int):
            continue
        following: list[type[BaseModel]] = []
        for m in current:
            for name, field in m.model_fields.items():
                if key in (name, field.alias):
                    following += _model_args(field.annotation)
        if not following:
            return set()
        current = following
    return {field.alias or name for m in current for name, field in m.model_fields.items()}


def _describe(error: dict[str, Any], vocabulary: set[str], model: type[BaseModel] | None = None) -> str:
    kind = error["type"]
    loc = error["loc"]
    got = error.get("input")
    if kind == "extra_forbidden":
        # the keys allowed where the typo is come first; then any key of the file (a key at the wrong level)
        here = _fields_at(model, _strip_union_tags(tuple(loc))[:-1]) if model is not None else set()
        hint = did_you_mean(str(loc[-1]), here) or did_you_mean(str(loc[-1]), vocabulary)
        return f"unknown key {loc[-1]!r}{hint}"
    if kind == "missing":
        return f"missing required key {loc[-1]!r}"
    if kind in ("union_tag_invalid", "literal_error"):
        ctx = error.get("ctx") or {}
        expected = ctx.get("expected_tags") or ctx.get("expected") or ""
        if kind == "union_tag_invalid":
            got = ctx.get("tag", got)
        options = [o.strip().strip("'") for o in str(expected).replace(" or ", ",").split(",") if o.strip()]
        hint = did_you_mean(str(got), options)
        return f"expected one of {expected}, got {got!r}{hint}"
    if kind == "union_tag_not_found":
        ctx = error.get("ctx") or {}
        return f"missing the key {ctx.get('discriminator', 'type')}"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
        if ", got " in message:  # our validators say what they expected and what came already
            return message
    shown_got = got if not isinstance(got, dict | list) else type(got).__name__
    return f"{message} (got {shown_got!r})"


def _strip_union_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop pydantic's discriminated-union tags (e.g. 'prepare', 'filter') from an error location."""
    out: list[Any] = []
    for part in loc:
        if isinstance(part, str) and (part.startswith("function-") or part in _TAGS):
            continue
        out.append(part)
    return tuple(out)


_TAGS: set[str] = set()


def register_tags(tags: Iterable[str]) -> None:
    """Discriminator values that pydantic inserts into error locations (recipe types, step ops)."""
    _TAGS.update(tags)


def validate(
    model: Any, data: Any, *, shown: str, lines: dict[KeyPath, int], vocabulary_of: type[BaseModel],
    prefix: KeyPath = (),
) -> Any:
    """Validate ``data`` with ``model`` (a class or a TypeAdapter); raise one located ``ProjectError``.

    The message lists every problem found; ``line`` and ``key_path`` are those of the first.
    """
    try:
        if isinstance(model, type) and issubclass(model, BaseModel):
            return model.model_validate(data)
        return model.validate_python(data)
    except ValidationError as err:
        vocabulary = _vocabulary(vocabulary_of)
        problems = []
        first_path: KeyPath = ()
        for i, error in enumerate(err.errors()):
            loc = (*prefix, *_strip_union_tags(tuple(error["loc"])))
            if error["type"] == "union_tag_invalid":
                loc = (*loc, str((error.get("ctx") or {}).get("discriminator", "type")).strip("'"))
            line = _line_of(loc, lines)
            text = f"{format_path(loc) or '(top level)'}"
            text += f" (line {line})" if line else ""
            problems.append(f"{text}: {_describe(error, vocabulary, vocabulary_of)}")  # type: ignore[arg-type]
            if i == 0:
                first_path = loc
        first_line = _line_of(first_path, lines)
        message = problems[0].split(": ", 1)[1] if len(problems) == 1 else "\n  " + "\n  ".join(problems)
        raise ProjectError(message, file=shown, line=first_line,
                           key_path=format_path(first_path) or None) from None


def _line_of(loc: KeyPath, lines: dict[KeyPath, int]) -> int | None:
    path = tuple(loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())
