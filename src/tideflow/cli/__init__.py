"""The ``tide`` command line (Typer + Rich). Entry point: ``tideflow.cli.main:main``."""
