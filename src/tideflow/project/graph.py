"""The Flow graph of a project: which recipe writes and reads which dataset. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter

from tideflow.errors import GraphError
from tideflow.recipes import RecipeBase


@dataclass(frozen=True)
class FlowGraph:
    """Datasets and recipes as a bipartite DAG.

    ``producer[dataset]`` is the recipe writing it (absent for source datasets);
    ``consumers[dataset]`` the recipes reading it; ``order`` a topological order of recipes.
    """

    producer: dict[str, str]
    consumers: dict[str, list[str]]
    recipe_inputs: dict[str, list[str]]
    recipe_outputs: dict[str, list[str]]
    order: list[str] = field(default_factory=list)

    def upstream_recipes(self, recipe: str) -> list[str]:
        """Recipes whose outputs ``recipe`` reads directly."""
        return [self.producer[d] for d in self.recipe_inputs[recipe] if d in self.producer]

    def downstream_recipes(self, recipe: str) -> list[str]:
        out: list[str] = []
        for dataset in self.recipe_outputs[recipe]:
            for consumer in self.consumers.get(dataset, []):
                if consumer not in out:
                    out.append(consumer)
        return out

    def ancestors(self, recipes: Iterable[str]) -> set[str]:
        """Every recipe upstream of ``recipes`` (not including them)."""
        seen: set[str] = set()
        stack = [u for r in recipes for u in self.upstream_recipes(r)]
        while stack:
            r = stack.pop()
            if r not in seen:
                seen.add(r)
                stack.extend(self.upstream_recipes(r))
        return seen

    def descendants(self, recipes: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        stack = [d for r in recipes for d in self.downstream_recipes(r)]
        while stack:
            r = stack.pop()
            if r not in seen:
                seen.add(r)
                stack.extend(self.downstream_recipes(r))
        return seen

    def sources(self) -> list[str]:
        """Datasets read by some recipe and written by none."""
        return sorted({d for ins in self.recipe_inputs.values() for d in ins if d not in self.producer})


def build_graph(
    recipes: Mapping[str, RecipeBase],
    files: Mapping[str, str] | None = None,
    lines: Mapping[str, Mapping[tuple[str | int, ...], int]] | None = None,
) -> FlowGraph:
    """Build and check the graph: each input and output listed once, one writer per dataset, no
    cycles. Errors name the recipes (and, with ``lines``, the line of the key in the recipe's file)."""
    files = files or {}
    lines = lines or {}

    def line_of(recipe: str, key: str, index: int) -> int | None:
        known = lines.get(recipe, {})
        return known.get((key, index)) or known.get((key,))

    producer: dict[str, str] = {}
    consumers: dict[str, list[str]] = {}
    for name, recipe in recipes.items():
        for i, inp in enumerate(recipe.inputs):
            if inp in recipe.inputs[:i]:  # the recipe would read it once: a second copy is a mistake
                raise GraphError(
                    f"recipe {name!r} lists input {inp!r} twice: expected each input once",
                    file=files.get(name), line=line_of(name, "inputs", i), key_path=f"inputs[{i}]",
                )
        for i, out in enumerate(recipe.outputs):
            if out in recipe.outputs[:i]:
                raise GraphError(
                    f"recipe {name!r} lists output {out!r} twice: expected each output once",
                    file=files.get(name), line=line_of(name, "outputs", i), key_path=f"outputs[{i}]",
                )
            if out in recipe.inputs:
                raise GraphError(
                    f"recipe {name!r} reads and writes the same dataset {out!r}: expected its outputs to be "
                    "new datasets, not its inputs",
                    file=files.get(name), line=line_of(name, "outputs", i), key_path="outputs",
                )
            if out in producer:
                other = producer[out]
                raise GraphError(
                    f"dataset {out!r} is written by two recipes: {other!r} ({files.get(other, '?')}) and "
                    f"{name!r} ({files.get(name, '?')}); expected exactly one writer per dataset",
                    file=files.get(name), line=line_of(name, "outputs", i), key_path=f"outputs[{i}]",
                )
            producer[out] = name
        for inp in recipe.inputs:
            consumers.setdefault(inp, []).append(name)
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for name, recipe in recipes.items():
        sorter.add(name, *[producer[d] for d in recipe.inputs if d in producer])
    try:
        order = list(sorter.static_order())
    except CycleError as err:
        cycle = err.args[1] if len(err.args) > 1 else []
        path = " -> ".join(str(c) for c in cycle)
        raise GraphError(f"the Flow has a cycle through recipes: {path}; expected a DAG") from None
    return FlowGraph(
        producer=producer,
        consumers=consumers,
        recipe_inputs={n: list(r.inputs) for n, r in recipes.items()},
        recipe_outputs={n: list(r.outputs) for n, r in recipes.items()},
        order=order,
    )
