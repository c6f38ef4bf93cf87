"""What one prepare step compiles to, and the helpers every step uses (``prepare``, ``prepare_text_time``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from tideflow.engines.sql.build import Ctx, col
from tideflow.recipes.types import ColumnType, Schema


@dataclass
class StepResult:
    columns: dict[str, tuple[exp.Expr, ColumnType]]
    where: exp.Expr | None = None


def same_columns(schema: Schema) -> dict[str, tuple[exp.Expr, ColumnType]]:
    return {name: (col(name), typ) for name, typ in schema.items()}


def put_column(schema: Schema, name: str, value: exp.Expr, typ: ColumnType) -> StepResult:
    columns = same_columns(schema)
    columns[name] = (value, typ)
    return StepResult(columns)


def typed_columns(
    step_columns: list[str],
    schema: Schema,
    ctx: Ctx,
    key_path: str,
    allowed: tuple[ColumnType, ...] | None = None,
) -> list[tuple[str, ColumnType]]:
    out = []
    for i, name in enumerate(step_columns):
        typ = ctx.check_column(name, schema, f"{key_path}.columns[{i}]")
        if allowed is not None and typ not in allowed:
            raise ctx.error(
                f"{key_path}.columns[{i}]",
                f"column {name!r} is {typ.value}; expected {' or '.join(t.value for t in allowed)}",
            )
        out.append((name, typ))
    return out
