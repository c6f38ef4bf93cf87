"""The in-memory engine on Polars: the reference implementation (oracle) of every recipe's semantics.

Differential tests require the SQL engines to return what this engine returns, so it implements the
documented rules of ``tideflow.recipes.visual`` directly, without sharing code with
``tideflow.engines.sql``.
"""

from tideflow.engines.memory.dtypes import normalize, schema_of
from tideflow.engines.memory.engine import run_recipe

__all__ = ["normalize", "run_recipe", "schema_of"]
