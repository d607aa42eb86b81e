"""The convenience layer over the generated `hydrogen.v1.AppService` stub."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Union

import grpc

from .apps import app_from_json
from .v1 import app_pb2 as pb
from .v1 import app_pb2_grpc as pb_grpc

AppLike = Union[pb.App, Mapping[str, Any]]

# A watch reconnects after these; every other code ends it with an error.
_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})


class HydrogenError(Exception):
    """A failed call: the gRPC status code and the server's message."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message

    @classmethod
    def from_rpc(cls, err: grpc.RpcError) -> HydrogenError:
        code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
        details = err.details() if hasattr(err, "details") else str(err)
        return cls(code, details or "")


def _target(target: str) -> str:
    for scheme in ("http://", "grpc://"):
        if target.startswith(scheme):
            return target[len(scheme) :].rstrip("/")
    return target


def _app(app: AppLike) -> pb.App:
    return app if isinstance(app, pb.App) else app_from_json(app)


def _apps(arg: AppLike | Iterable[AppLike]) -> list[pb.App]:
    """One app, or every app of a list (or any other iterable) of apps."""
    if isinstance(arg, (pb.App, Mapping)):
        return [_app(arg)]
    if isinstance(arg, (str, bytes)) or not isinstance(arg, Iterable):
        raise TypeError(f"deploy takes apps (protobuf App or app JSON dicts) or lists of them, not {type(arg).__name__}")
    out = []
    for app in arg:
        if not isinstance(app, (pb.App, Mapping)):
            raise TypeError(f"deploy takes apps (protobuf App or app JSON dicts), not {type(app).__name__} in a list")
        out.append(_app(app))
    return out


class Client:
    """A client of one Hydrogen server (any instance answers).

    `target` is `host:port` (an `http://` prefix, as `hydrogen dev` prints
    it, is accepted). `token` is sent as `authorization: Bearer <token>`.
    `timeout` (seconds) bounds every unary call. Calls raise `HydrogenError`.
    """

    def __init__(
        self,
        target: str,
        token: str | None = None,
        *,
        timeout: float | None = 30.0,
        channel: grpc.Channel | None = None,
    ):
        self._channel = channel or grpc.insecure_channel(_target(target))
        self._stub = pb_grpc.AppServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._timeout = timeout

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=self._timeout, metadata=self._metadata)
        except grpc.RpcError as err:
            raise HydrogenError.from_rpc(err) from None

    def deploy(self, *apps: AppLike | Iterable[AppLike]) -> list[pb.DeployResult]:
        """Deploys apps (protobuf `App`s or app JSON dicts), all or none; one
        result each, in order. Give them as arguments, as lists
        (`deploy(apps_from_file(path))`), or both."""
        request = pb.DeployRequest(apps=[app for arg in apps for app in _apps(arg)])
        resp = self._call(self._stub.Deploy, request)
        return list(resp.results)

    def kill(self, name: str, expected_version: int | None = None) -> pb.KillResponse:
        """Asks for an app to be killed (idempotent)."""
        return self._call(self._stub.Kill, pb.KillRequest(name=name, expected_version=expected_version))

    def update(self, app: AppLike, expected_version: int | None = None) -> pb.UpdateResponse:
        """Replaces an app's spec (`app.name` names it)."""
        return self._call(self._stub.Update, pb.UpdateRequest(app=_app(app), expected_version=expected_version))

    def state(self, name: str) -> pb.AppState:
        """One app: spec, version, tasks, status."""
        return self._call(self._stub.State, pb.StateRequest(name=name))

    def list_all(self, page_size: int = 2000) -> list[pb.Task]:
        """Every task known to Hydrogen, read ``page_size`` tasks at a time so
        no answer outgrows gRPC's default 4 MB message limit."""
        tasks: list[pb.Task] = []
        token = ""
        while True:
            page = self._call(
                self._stub.ListAll, pb.ListAllRequest(page_size=page_size, page_token=token)
            )
            tasks.extend(page.tasks)
            if not page.next_page_token:
                return tasks
            token = page.next_page_token

    def watch_tasks(
        self,
        app: str | None = None,
        after_revision: int | None = None,
        *,
        reconnect: bool = True,
        max_backoff: float = 5.0,
    ) -> TaskWatch:
        """Task events as an iterator; see `TaskWatch`."""
        return TaskWatch(self, app, after_revision, reconnect=reconnect, max_backoff=max_backoff)


class TaskWatch(Iterator[pb.TaskEvent]):
    """Task events, oldest first, then live.

    `after_revision=0` replays the whole log, `None` starts at the head. When
    the connection drops (UNAVAILABLE, or the server ends the stream as it does
    on shutdown) the watch reconnects with `after_revision` set to the last
    revision it yielded, so no event is missed or repeated. Before the first
    event of a head watch there is no revision to resume from: a reconnect
    then starts at the new head. Other errors (OUT_OF_RANGE, UNAUTHENTICATED,
    ...) raise `HydrogenError`. `cancel()` (from any thread) ends it.
    """

    def __init__(self, client: Client, app: str | None, after_revision: int | None, *, reconnect: bool, max_backoff: float):
        self._client = client
        self._app = app
        self.revision = after_revision
        self.reconnects = 0
        self._reconnect = reconnect
        self._max_backoff = max_backoff
        self._lock = threading.Lock()
        self._cancelled = False
        self._call: Any = None

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._call is not None:
                self._call.cancel()

    def __iter__(self) -> TaskWatch:
        return self

    def _open(self) -> Any:
        req = pb.WatchTasksRequest(app=self._app, after_revision=self.revision)
        call = self._client._stub.WatchTasks(req, metadata=self._client._metadata)
        with self._lock:
            if self._cancelled:
                call.cancel()
            self._call = call
        return call

    def __next__(self) -> pb.TaskEvent:
        backoff = 0.05
        while True:
            if self._cancelled:
                raise StopIteration
            call = self._call or self._open()
            try:
                event = next(call)
            except StopIteration:
                err = None  # the server ended the stream (shutdown)
            except grpc.RpcError as e:
                err = e
            else:
                if self.revision is not None and event.revision <= self.revision:
                    continue  # never yield a repeat
                self.revision = event.revision
                return event
            self._call = None
            if self._cancelled or (err is not None and err.code() == grpc.StatusCode.CANCELLED and self._cancelled):
                raise StopIteration
            if not self._reconnect or (err is not None and err.code() not in _RETRYABLE):
                if err is None:
                    raise StopIteration
                raise HydrogenError.from_rpc(err) from None
            self.reconnects += 1
            time.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)
