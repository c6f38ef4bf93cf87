"""Read YAML keeping the line of every key, and turn pydantic errors into located ``ProjectError``s."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from tideflow.errors import ProjectError, did_you_mean
from tideflow.project.errorlocs import TYPE_WORDS, Place, locate, unknown_key
from tideflow.project.yamlloader import DuplicateKey, Refused, compose, loads
from tideflow.recipes.base import SourceText, key_error

KeyPath = tuple[str | int, ...]
__all__ = ["KeyPath", "describe_value", "format_path", "key_error", "line_of", "loads", "located", "parse_path",
           "read_yaml", "register_tags", "validate"]


def _walk(root: yaml.Node, lines: dict[KeyPath, int]) -> None:
    """Record the line of every key path under ``root`` (a value's own line where it has no key).

    Iterative: the loader bounds the expanded size and depth of a document, not Python's stack.
    """
    stack: list[tuple[yaml.Node, KeyPath]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value
                lines[(*path, key)] = key_node.start_mark.line + 1  # the key's line, not its value's
                stack.append((value_node, (*path, key)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*path, i)) for i, item in enumerate(node.value))


def read_yaml(path: Path, shown: str) -> tuple[Any, dict[KeyPath, int]]:
    """Parse ``path``; return the data and a map key path -> line. Errors name ``shown``."""
    text = _read_text(path, shown)
    try:
        node, data = compose(text)
    except yaml.reader.ReaderError as err:  # PyYAML says where as "position 73 of <unicode string>"
        line = text[: err.position].count("\n") + 1
        code = err.character if isinstance(err.character, int) else 0  # a code point, for text input
        raise ProjectError(f"invalid YAML: the character U+{code:04X} at line {line} is not "
                           "allowed in YAML text: expected printable text (remove it, or write it as an escape "
                           "such as \\0 in a double-quoted string)", file=shown, line=line) from None
    except DuplicateKey as err:
        duplicate = (*_path_to(err.root, err.mapping), err.key) if err.mapping is not None else (err.key,)
        raise ProjectError(
            f"the key {err.key!r} is written twice (lines {err.first_line} and {err.second_line}): expected "
            "each key once (YAML would silently keep the last one)",
            file=shown, line=err.second_line, key_path=format_path(duplicate),
        ) from None
    except Refused as err:
        where = _path_to(err.root, err.mapping) if err.mapping is not None else ()
        raise ProjectError(err.message, file=shown, line=err.line, key_path=format_path(where) or None) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err)
        raise ProjectError(f"invalid YAML: {problem}", file=shown, line=mark.line + 1 if mark else None) from None
    lines: dict[KeyPath, int] = {}
    if node is not None:
        _walk(node, lines)
    return data, lines


def _read_text(path: Path, shown: str) -> str:
    """The file's text as ``read_text`` reads it; why it cannot be read in words, without Python's
    exception text (it holds the absolute path)."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise ProjectError("it is a directory: expected a YAML file", file=shown) from None
    except FileNotFoundError:
        raise ProjectError("cannot read the file: it does not exist (or is a symbolic link to a missing file)",
                           file=shown) from None
    except OSError as err:
        raise ProjectError(f"cannot read the file: {err.strerror or type(err).__name__}", file=shown) from None
    try:
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ProjectError(f"the file is not UTF-8 text: byte 0x{data[err.start]:02x} at line {line} is not UTF-8: "
                           "expected a file saved as UTF-8", file=shown, line=line) from None


def _path_to(root: yaml.Node | None, target: yaml.Node) -> KeyPath:
    """The key path of ``target`` (a node) under ``root``; () when not found."""
    stack: list[tuple[yaml.Node, KeyPath]] = [(root, ())] if root is not None else []
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if node is target:
            return path
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend((value, (*path, key.value)) for key, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*path, i)) for i, item in enumerate(node.value))
    return ()


def located(data: Any, lines: dict[KeyPath, int], path: KeyPath = ()) -> Any:
    """``data`` with every string value replaced by a ``SourceText`` that knows its line, so that
    errors found after loading (an unknown column in an expression) can still name the line.

    Recursive over a tree the loader bounded (``yamlloader.MAX_VALUES`` values, ``MAX_DEPTH`` levels, no
    recursive alias), so it ends, and quickly, whatever the file holds."""
    if isinstance(data, dict):
        return {k: located(v, lines, (*path, k)) for k, v in data.items()}
    if isinstance(data, list):
        return [located(v, lines, (*path, i)) for i, v in enumerate(data)]
    if isinstance(data, str) and not isinstance(data, SourceText) and path in lines:
        return SourceText(data, lines[path])
    return data


def describe_value(value: Any) -> str:
    """A YAML value in words, for "got ...": ``a mapping``, ``a string '4'``, ``a date 2025-01-01``."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list | tuple):
        return "a list" if value else "an empty list"
    if isinstance(value, bool):
        return f"a boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        return f"an integer {value}"
    if isinstance(value, float):
        return f"a number {value}"
    if isinstance(value, dt.datetime):
        return f"a timestamp {value}"
    if isinstance(value, dt.date):
        return f"a date {value}"
    if isinstance(value, str):
        return f"a string {str(value)!r}"
    return f"a {type(value).__name__} value"


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


def _describe(error: dict[str, Any], place: Place, vocabulary: set[str], noun: str) -> str:
    kind = error["type"]
    loc = error["loc"]
    got = error.get("input")
    if kind == "extra_forbidden":
        return unknown_key(str(loc[-1]), place, vocabulary, noun)
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
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
        # Our validators say what they expected and what came already; and the input of a model's own
        # validator is its whole mapping, so "(got a mapping)" would tell nothing.
        if ", got " in message or isinstance(got, dict):
            return message
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of keys, got {describe_value(got)}"
    if kind.endswith("_type"):  # string_type, int_type, bool_type, list_type...: say what came in words
        return f"{message} (got {describe_value(got)}{_type_hint(kind, got)})"
    return f"{message} (got {_shown(got)})"


def _shown(value: Any) -> str:
    """A value as a message shows it: scalars as written (``-3``, ``'abc'``), the rest in words."""
    if value is None or isinstance(value, dict | list | tuple | dt.date):
        return describe_value(value)
    return repr(str(value) if isinstance(value, str) else value)


def _type_hint(kind: str, got: Any) -> str:
    """How to write the value YAML read with the wrong type."""
    if kind == "string_type" and isinstance(got, bool | int | float | dt.date):
        text = str(got).lower() if isinstance(got, bool) else str(got)
        return f": quote it, as in '{text}', to keep it as text"
    if isinstance(got, str) and kind in ("int_type", "float_type", "bool_type"):
        try:
            parsed = loads(got)
        except yaml.YAMLError:
            return ""
        wanted = {"int_type": int, "float_type": int | float, "bool_type": bool}[kind]
        if isinstance(parsed, wanted) and (kind == "bool_type" or not isinstance(parsed, bool)):
            return ": remove the quotes"
    if kind == "bool_type":
        return ": write true or false"
    return ""


_TAGS: set[str] = set()


def register_tags(tags: Iterable[str]) -> None:
    """Discriminator values that pydantic inserts into error locations (recipe types, step ops)."""
    _TAGS.update(tags)


def validate(
    model: Any, data: Any, *, shown: str, lines: dict[KeyPath, int], vocabulary_of: type[BaseModel],
    prefix: KeyPath = (),
) -> Any:
    """Validate ``data`` with ``model`` (a class or a TypeAdapter); raise one located ``ProjectError``.

    The message lists every problem found; ``line`` and ``key_path`` are those of the first. Key
    paths are the file's (no union tags or variant names); the branches of a union of scalar types
    that all refused a value are one problem (``expected a string, number or boolean, got ...``).
    """
    try:
        if isinstance(model, type) and issubclass(model, BaseModel):
            return model.model_validate(data)
        return model.validate_python(data)
    except ValidationError as err:
        start = model if isinstance(model, type) else getattr(model, "_type", vocabulary_of)
        vocabulary = _vocabulary(vocabulary_of)
        noun = next((p for p in reversed(prefix) if isinstance(p, str)), shown.split("/")[0] if "/" in shown else "")
        found: list[tuple[KeyPath, str]] = []
        for loc, place, errors in _merged(err.errors(), data, start):
            path = (*prefix, *loc)
            if len(errors) > 1:
                found.append((path, scalar_union_message(errors)))
            else:
                found.append((path, _describe(errors[0], place, vocabulary, noun or "ones")))
        problems = []
        for path, text in found:
            line = line_of(path, lines)
            problems.append(f"{format_path(path) or '(top level)'}{f' (line {line})' if line else ''}: {text}")
        first_path = found[0][0]
        message = found[0][1] if len(found) == 1 else f"{len(found)} problems:\n  " + "\n  ".join(problems)
        raise ProjectError(message, file=shown, line=line_of(first_path, lines),
                           key_path=format_path(first_path) or None) from None


def scalar_union_message(errors: list[Any]) -> str:
    """One message for the branches of a union that all refused a value by its type."""
    kinds = [e["type"] for e in errors]
    words = list(dict.fromkeys(TYPE_WORDS[k] for k in kinds if not (k == "int_type" and "float_type" in kinds)))
    bare = [words[0], *(w.removeprefix("a ").removeprefix("an ") for w in words[1:])]
    expected = bare[0] if len(bare) == 1 else f"{', '.join(bare[:-1])} or {bare[-1]}"
    got = errors[0].get("input")
    hint = _type_hint("string_type", got) if "string_type" in kinds else ""
    return f"expected {expected}, got {describe_value(got)}{hint}"


def _merged(errors: list[Any], data: Any, start: Any) -> list[tuple[KeyPath, Place, list[Any]]]:
    """The errors by the file's key path. Errors of a union's branches about one value are grouped
    (they are one problem); a branch's type error is dropped when another branch reached into the
    value (a mapping with a wrong key is not "expected a string")."""
    located_errors = []
    for error in errors:
        place = locate(error["loc"], data, start, kind=error["type"], tags=_TAGS)
        located_errors.append(((*place.path, *_key_of(error)), place, error))
    deeper = {loc[:n] for loc, _, _ in located_errors for n in range(len(loc))}
    out: list[tuple[KeyPath, Place, list[Any]]] = []
    groups: dict[KeyPath, int] = {}
    for loc, place, error in located_errors:
        if place.variant and error["type"] in TYPE_WORDS:
            if loc in deeper:
                continue
            if loc in groups:
                out[groups[loc]][2].append(error)
                continue
            groups[loc] = len(out)
        out.append((loc, place, [error]))
    return out


def _key_of(error: Any) -> KeyPath:
    """The key under the error's location that the error is about: the discriminator of a union whose
    tag is wrong, or the key a model's own validator named with ``key_error``."""
    ctx = error.get("ctx") or {}
    if error["type"] == "union_tag_invalid":
        return (str(ctx.get("discriminator", "type")).strip("'"),)
    return tuple(ctx.get("key_path") or ())


def parse_path(text: str) -> KeyPath:
    """``steps[2].op`` -> ``('steps', 2, 'op')``: the inverse of ``format_path`` for errors that carry
    a key path as text (the check runner's), to find its line."""
    path: list[str | int] = []
    for part in text.split("."):
        name, *indexes = part.split("[")
        if name:
            path.append(name)
        path.extend(int(i.rstrip("]")) for i in indexes if i.rstrip("]").isdigit())
    return tuple(path)


def line_of(loc: KeyPath, lines: dict[KeyPath, int]) -> int | None:
    """The line of ``loc``, or of its nearest ancestor written in the file."""
    path = tuple(loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())
