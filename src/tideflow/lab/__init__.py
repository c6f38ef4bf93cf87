"""The Lab: modelling tasks, search spaces, distributed hyperparameter search, leaderboard."""

from tideflow.lab.algorithms import ALGORITHMS, Algorithm, Param
from tideflow.lab.leaderboard import Leaderboard, leaderboard
from tideflow.lab.loading import ModelFile, load_model_spec, model_names, parse_model_spec
from tideflow.lab.specs import ModelSpec, SearchParam
from tideflow.lab.store import TrialRow
from tideflow.lab.training import FinalModel, LabEvent, TrainingInterrupted, TrainingResult, train

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "FinalModel",
    "LabEvent",
    "Leaderboard",
    "ModelFile",
    "ModelSpec",
    "Param",
    "SearchParam",
    "TrainingInterrupted",
    "TrainingResult",
    "TrialRow",
    "leaderboard",
    "load_model_spec",
    "model_names",
    "parse_model_spec",
    "train",
]
