"""Tideflow: data, training and inference for data teams, scaled from a laptop to a cluster."""

__version__ = "0.1.0"
__all__ = ["__version__"]
