"""A Tideflow project on disk: ``tideflow.yaml``, ``datasets/*.yaml``, ``recipes/*.yaml``."""

from tideflow.project.compute_specs import ClusterSpec, ComputeSpec, NodeResources, NodeType, ResourceProfile
from tideflow.project.graph import FlowGraph, build_graph
from tideflow.project.loader import PROJECT_FILE, Project, load_project
from tideflow.project.specs import (
    DEFAULT_CONNECTION,
    SQL_CONNECTION_TYPES,
    ConnectionSpec,
    DatasetSpec,
    Defaults,
    DuckDBConnection,
    FilesConnection,
    PostgresConnection,
    ProjectConfig,
)

__all__ = [
    "DEFAULT_CONNECTION",
    "PROJECT_FILE",
    "SQL_CONNECTION_TYPES",
    "ClusterSpec",
    "ComputeSpec",
    "ConnectionSpec",
    "DatasetSpec",
    "Defaults",
    "DuckDBConnection",
    "FilesConnection",
    "FlowGraph",
    "NodeResources",
    "NodeType",
    "PostgresConnection",
    "Project",
    "ProjectConfig",
    "ResourceProfile",
    "build_graph",
    "load_project",
]
