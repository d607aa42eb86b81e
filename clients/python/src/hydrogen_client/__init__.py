"""Python client for Hydrogen's gRPC API (`hydrogen.v1.AppService`).

    from hydrogen_client import Client, apps_from_file
    with Client("127.0.0.1:8080", token="s3cret") as c:
        c.deploy(*apps_from_file("examples/test-app.json"))
        print(c.state("test-app").running)
"""

from .apps import app_from_json, apps_from_file
from .client import Client, HydrogenError, TaskWatch
from .v1 import app_pb2 as pb

# The messages and enums most callers need, re-exported.
App = pb.App
AppState = pb.AppState
Task = pb.Task
TaskEvent = pb.TaskEvent
TaskState = pb.TaskState

__version__ = "1.0.0"
__all__ = [
    "App",
    "AppState",
    "Client",
    "HydrogenError",
    "Task",
    "TaskEvent",
    "TaskState",
    "TaskWatch",
    "app_from_json",
    "apps_from_file",
    "pb",
]
