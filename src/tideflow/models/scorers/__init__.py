"""Compiled scorers: a saved model's preprocessing and model compiled together for fast scoring.

    from tideflow.models.scorers import compile_scorer, load_scorer
    scorer = compile_scorer(pipeline)          # picks the fastest measured back end per family
    scorer.predict(arrow_table)                # {"prediction": ..., "proba_<class>": ...}
    scorer.predict_one({"amount": 12.5, "country": "FR"})
    scorer.save(version_dir / "scorer");  load_scorer(version_dir / "scorer")

Back ends (see docs/scoring.md for the measurements behind the choice): numpy dot product for
linear and logistic models, lleaves for LightGBM, ONNX Runtime (one thread) for the other trees;
a vectorised numpy traversal when neither is installed.
"""

from tideflow.models.scorers._compile import BACKENDS, compile_scorer, load_scorer
from tideflow.models.scorers.base import Outputs, Scorer

__all__ = ["BACKENDS", "Outputs", "Scorer", "compile_scorer", "load_scorer"]
