"""Where a pydantic error is, in the words of the file it was found in.

Pydantic locates an error by the path it validated, which holds more than the keys of the file: the
tag of a discriminated union (``connections.files.files.threads``: the second ``files`` is the
connection's type) and the variant of a plain union (``steps[1].value.str``, ``...value.int``, or
``function-after[...]``). ``locate`` walks that path along the spec's types and the data together,
so it keeps exactly the keys and indexes written in the file (a connection named ``files`` stays),
and it says which models the last key was looked up in: what an unknown key is compared with.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from tideflow.errors import did_you_mean

KeyPath = tuple[str | int, ...]
_LISTS = (list, tuple, set, frozenset, Sequence)
_MAPPINGS = (dict, Mapping)
# Errors about the type of a value, and the type each expected, in words: the branches of a union of
# scalar types that all refused a value are one problem ("expected a string, number or boolean").
TYPE_WORDS = {
    "string_type": "a string", "int_type": "an integer", "float_type": "a number", "bool_type": "a boolean",
    "list_type": "a list", "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "none_required": "nothing (null)", "date_type": "a date", "datetime_type": "a timestamp",
}


@dataclass
class Place:
    """``path``: the error's key path in the file. ``models``: the models holding the last key (for an
    unknown key, where it was found). ``union``: ``(tag, members, key)`` when those models were chosen
    by the tag of a discriminated union: the tag, every member, the discriminator's key. ``noun``: the
    last key of the spec passed before that union (``connections``, ``steps``), to name its members.
    ``variant``: the path went through a plain union (``str | int``), one branch of several."""

    path: KeyPath
    models: list[type[BaseModel]] = field(default_factory=list)
    union: tuple[str, list[type[BaseModel]], str] | None = None
    noun: str | None = None
    variant: bool = False


def flatten(annotation: Any) -> list[Any]:
    """The alternatives of a type: ``Annotated`` unwrapped, unions split, ``None`` dropped."""
    out: list[Any] = []
    stack = [annotation]
    while stack:
        item = stack.pop()
        origin = get_origin(item)
        if origin is Annotated:
            stack.append(get_args(item)[0])
        elif origin is Union or origin is types.UnionType:
            stack.extend(reversed(get_args(item)))
        elif item is not None and item is not type(None):
            out.append(item)
    return out


def is_model(item: Any) -> bool:
    return isinstance(item, type) and issubclass(item, BaseModel)


def keys_of(model: type[BaseModel]) -> list[str]:
    """The keys of ``model`` as a file writes them (aliases where there are)."""
    return [info.alias or name for name, info in model.model_fields.items()]


def discriminator(model: type[BaseModel], tag: str) -> str | None:
    """The key of ``model`` whose only allowed values include ``tag`` (its ``type``, ``op``, ``rule``)."""
    for name, info in model.model_fields.items():
        if get_origin(info.annotation) is Literal and tag in get_args(info.annotation):
            return info.alias or name
    return None


def tag_of(model: type[BaseModel], key: str) -> str | None:
    """The value of ``model``'s discriminator ``key`` (``postgres`` for a PostgreSQL connection)."""
    for name, info in model.model_fields.items():
        if key in (name, info.alias) and get_origin(info.annotation) is Literal:
            return str(get_args(info.annotation)[0])
    return None


def _field_types(models: Iterable[type[BaseModel]], key: str) -> list[Any] | None:
    found = [info.annotation for m in models for name, info in m.model_fields.items() if key in (name, info.alias)]
    return [t for a in found for t in flatten(a)] if found else None


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def locate(loc: Iterable[str | int], data: Any, start: Any, *, kind: str, tags: set[str]) -> Place:
    """The file's key path of pydantic's ``loc`` for data ``data`` validated as ``start`` (a type).
    ``kind`` is the error's type (the last part of a missing or unknown key is a key, whatever the
    spec says); ``tags`` the registered discriminator values."""
    parts = list(loc)
    place = Place(path=())
    path: list[str | int] = []
    alternatives = flatten(start)
    node = data
    noun: str | None = None
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        models = [t for t in alternatives if is_model(t)]
        if isinstance(part, str) and len(models) > 1 and part in tags:
            chosen = [m for m in models if discriminator(m, part) is not None]
            if chosen:
                key = discriminator(chosen[0], part) or "type"
                place.union, place.noun = (part, models, key), noun
                alternatives = list(chosen)
                continue
        place.models = models
        if isinstance(part, str):
            inner = _field_types(models, part)
            if inner is not None:
                path.append(part)
                alternatives, node, noun = inner, _child(node, part), part
                continue
        if isinstance(part, int):
            lists = [t for t in alternatives if get_origin(t) in _LISTS]
            if lists or isinstance(node, list):
                path.append(part)
                alternatives = [x for t in lists for x in flatten((get_args(t) or (Any,))[0])]
                node = _child(node, part)
                continue
        mappings = [t for t in alternatives if get_origin(t) in _MAPPINGS]
        if isinstance(part, str) and mappings and (not isinstance(node, dict) or part in node):
            path.append(part)
            alternatives = [x for t in mappings for x in flatten((get_args(t) or (Any, Any))[-1])]
            node = _child(node, part)
            continue
        named = [m for m in models if m.__name__ == part]  # a member of a union of models without a tag
        if named:
            alternatives, place.variant = named, True
            continue
        unknown_key = last and kind in ("extra_forbidden", "missing")
        if unknown_key or (isinstance(node, dict) and part in node):
            path.append(part)
            node = _child(node, part)
            continue
        place.variant = True  # a union's variant ('str', 'int', 'function-after[...]'): no key of the file
    place.path = tuple(path)
    return place


def unknown_key(key: str, place: Place, vocabulary: set[str], noun: str) -> str:
    """The message for ``key``, unknown where ``place`` found it. A typo of a key allowed there is
    named; a key that is valid elsewhere in the file is never suggested as itself: the message says
    where it belongs (a mapping inside this one, another type of the same union) or lists the keys
    allowed here. ``noun`` names the members of a union at the top of the file (``recipes``)."""
    here = sorted({k for m in place.models for k in keys_of(m)} - {key})
    hint = did_you_mean(key, here)
    if hint:
        return f"unknown key {key!r}{hint}"
    route = _route_to(key, place.models)
    if route:
        return f"unknown key {key!r}: it is a key of {route}, not of this mapping"
    if place.union is not None:
        tag, members, disc = place.union
        owners = [tag_of(m, disc) or m.__name__ for m in members if m not in place.models and key in keys_of(m)]
        if owners:
            return f"unknown key {key!r}: it is a key of {_either(owners)} {place.noun or noun}, not {tag} ones"
    if key in vocabulary and here:
        return f"unknown key {key!r}: expected one of {', '.join(here)} here"
    return f"unknown key {key!r}{did_you_mean(key, vocabulary - {key})}"


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _route_to(key: str, models: list[type[BaseModel]], depth: int = 3) -> str | None:
    """Where under ``models`` ``key`` is a key, in words (``each item of 'aggregations'``), the
    nearest first; None when it is none of theirs within ``depth`` levels."""
    level: list[tuple[type[BaseModel], tuple[str, ...]]] = [(m, ()) for m in models]
    seen = set(models)
    for _ in range(depth):
        following: list[tuple[type[BaseModel], tuple[str, ...]]] = []
        for model, route in level:
            for name in keys_of(model):
                for alternative in _field_types([model], name) or []:
                    listed = get_origin(alternative) in _LISTS
                    inner = flatten(get_args(alternative)[0]) if listed and get_args(alternative) else [alternative]
                    for target in inner:
                        if is_model(target) and target not in seen:
                            seen.add(target)
                            following.append((target, (*route, name + "[]" * listed)))
        for model, route in following:
            if key in keys_of(model):
                shown = ".".join(route)
                return f"each item of {shown[:-2]!r}" if shown.endswith("[]") else repr(shown)
        level = following
    return None
