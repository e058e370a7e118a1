"""The deployment's outside systems, shared by every monitor: the warehouse, the object store, the alerts, the
report viewer (Evidently's UI).

Which ones a deployment uses is decided in one place, drift_platform/resources/deployment.py, from its
environment.
"""

from drift_platform.resources.alerts import Alerter
from drift_platform.resources.store import LocalObjectStore, ObjectStore, S3ObjectStore, ScopedStore
from drift_platform.resources.viewer import ReportViewer
from drift_platform.resources.warehouse import WarehouseResource

__all__ = ["Alerter", "LocalObjectStore", "ObjectStore", "ReportViewer", "S3ObjectStore", "ScopedStore",
           "WarehouseResource"]
