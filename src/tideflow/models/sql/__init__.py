"""Model to SQL: a fitted pipeline as one SQL expression per output, for DuckDB and PostgreSQL.

    from tideflow.models.sql import compile_model
    compiled = compile_model(pipeline)            # raises UnsupportedPushdown(step, reason)
    compiled.sql("duckdb")                        # {"prediction": "...", "proba_0": "...", ...}
    compiled.select("payments", "postgres", keep=["id"])

Pure: sqlglot and the fitted model only, no database drivers.
"""

from tideflow.models.sql.compile import DIALECTS, ModelSQL, compile_model, compile_plan, deep_recursion
from tideflow.models.sql.plan import Feature, LinearPlan, ModelPlan, Tree, TreesPlan, plan_model, proba_name

__all__ = [
    "DIALECTS",
    "Feature",
    "LinearPlan",
    "ModelPlan",
    "ModelSQL",
    "Tree",
    "TreesPlan",
    "compile_model",
    "compile_plan",
    "deep_recursion",
    "plan_model",
    "proba_name",
]
