"""LightGBM compiled to machine code by lleaves (LLVM), after the compiled numpy preprocessing.

Needs ``lleaves`` with ``llvmlite==0.44.0`` (newer llvmlite fails at compile time). The saved form
is the model text plus lleaves' object-file cache, so loading does not recompile.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from tideflow.errors import MissingExtraError
from tideflow.models.scorers.base import BaseScorer, Head
from tideflow.models.sql.plan import Feature, ModelPlan


def available() -> bool:
    try:
        import lleaves  # noqa: F401
    except Exception:  # lleaves imports llvmlite, which can fail in several ways
        return False
    return True


class LleavesScorer(BaseScorer):
    kind = "lleaves"

    def __init__(self, family: str, input_columns: list[str], features: list[Feature], head: Head,
                 model_text: str, workdir: Path | None = None) -> None:
        super().__init__(family, input_columns, features, head)
        try:
            import lleaves
        except ImportError as err:  # pragma: no cover
            raise MissingExtraError("lleaves", "scoring") from err
        self.model_text = model_text
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="tide-lleaves-"))
            weakref.finalize(self, shutil.rmtree, str(workdir), True)
        workdir.mkdir(parents=True, exist_ok=True)
        model_file = workdir / "model.txt"
        if not model_file.exists() or model_file.read_text() != model_text:
            model_file.write_text(model_text)
        self.workdir = workdir
        self.model = lleaves.Model(model_file=str(model_file))
        self.model.compile(cache=str(workdir / "model.o"))

    def _transformed(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(x, n_jobs=1), dtype=np.float64)

    def _predict_matrix(self, x: np.ndarray) -> dict[str, np.ndarray]:
        y = self._transformed(x)
        head = self.head
        if head.classes is None:
            return {"prediction": y.reshape(len(x), -1)[:, 0]}
        proba = np.column_stack([1.0 - y, y]) if y.ndim == 1 else y
        assert head.class_array is not None
        out = {"prediction": head.class_array[np.argmax(proba, axis=1)]}
        for k, name in enumerate(head.names[1:]):
            out[name] = proba[:, k]
        return out

    def save(self, path: str | Path) -> None:
        path = Path(path)
        self._write_header(path)
        (path / "model.txt").write_text(self.model_text)
        src = self.workdir / "model.o"
        if src.exists() and src.resolve() != (path / "model.o").resolve():
            (path / "model.o").write_bytes(src.read_bytes())

    @classmethod
    def load(cls, path: Path, header: dict[str, Any], family: str, columns: list[str], features: list[Feature],
             head: Head) -> LleavesScorer:
        return cls(family, columns, features, head, (path / "model.txt").read_text(), workdir=path)


def lleaves_from_plan(plan: ModelPlan, model: Any) -> LleavesScorer:
    booster = model if type(model).__name__ == "Booster" else model.booster_
    return LleavesScorer(plan.family, list(plan.input_columns), list(plan.features), Head.from_plan(plan),
                         booster.model_to_string())
