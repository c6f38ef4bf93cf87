"""Engines that run recipes: SQL (compiled, in the database) and memory (Polars)."""
