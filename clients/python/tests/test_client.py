"""The Python client against a live `hydrogen dev` (see conftest.py)."""

from __future__ import annotations

import threading

import grpc
import pytest

from conftest import EXAMPLE, DroppingProxy, eventually
from hydrogen_client import Client, HydrogenError, TaskState, apps_from_file, pb

RUNNING = TaskState.Value("TASK_STATE_RUNNING")
TERMINAL = {TaskState.Value(n) for n in ("TASK_STATE_FINISHED", "TASK_STATE_FAILED", "TASK_STATE_KILLED", "TASK_STATE_ERROR", "TASK_STATE_LOST", "TASK_STATE_DROPPED", "TASK_STATE_GONE", "TASK_STATE_GONE_BY_OPERATOR")}


class Collector:
    """Runs a watch on a thread and keeps what it yields."""

    def __init__(self, watch):
        self.watch = watch
        self.events: list[pb.TaskEvent] = []
        self.error: Exception | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for e in self.watch:
                with self._lock:
                    self.events.append(e)
        except Exception as err:  # noqa: BLE001 - surfaced by the test
            self.error = err

    def snapshot(self) -> list[pb.TaskEvent]:
        with self._lock:
            return list(self.events)

    def stop(self) -> None:
        self.watch.cancel()
        self._thread.join(10)
        assert not self._thread.is_alive(), "watch did not end on cancel"


def running(state: pb.AppState) -> list[pb.Task]:
    return [t for t in state.tasks if t.state == RUNNING]


def test_lifecycle_deploy_state_watch_update_kill(server):
    app = apps_from_file(EXAMPLE)[0]
    assert (app.name, app.instances) == ("test-app", 5)
    with Client(server.target) as c:
        watch = Collector(c.watch_tasks(app="test-app", after_revision=0))

        [result] = c.deploy(app)
        assert (result.name, result.version, result.created) == ("test-app", 1, True)
        assert result.message == "Task test-app successfully queued"
        [again] = c.deploy(app)
        assert (again.version, again.created) == (1, False), "same spec twice changes nothing"

        # State until 5 tasks run, one per agent (UNIQUE).
        state = eventually(lambda: (s := c.state("test-app")) and len(running(s)) == 5 and s, "5 running tasks")
        assert state.running == 5
        assert state.state == "TASK_RUNNING"
        assert state.version == 1 and state.goal == pb.APP_GOAL_RUN
        assert state.spec.strategy.type == pb.STRATEGY_TYPE_UNIQUE
        assert sorted(t.instance for t in running(state)) == [0, 1, 2, 3, 4]
        assert len({t.agent_id for t in running(state)}) == 5
        listed = [t for t in c.list_all() if t.app == "test-app" and t.state == RUNNING]
        assert sorted(t.id for t in listed) == sorted(t.id for t in running(state))

        # The watch saw every task reach RUNNING, in revision order.
        def seen_running() -> set[int]:
            return {e.instance for e in watch.snapshot() if e.state == RUNNING}

        eventually(lambda: seen_running() == {0, 1, 2, 3, 4}, "RUNNING events of 5 instances")
        revs = [e.revision for e in watch.snapshot()]
        assert revs == sorted(set(revs)), "revisions strictly increase"
        assert all(e.app == "test-app" for e in watch.snapshot())

        # Update 5 -> 3 instances (optimistic concurrency on version 1).
        spec = pb.App()
        spec.CopyFrom(state.spec)
        spec.instances = 3
        with pytest.raises(HydrogenError) as stale:
            c.update(spec, expected_version=7)
        assert stale.value.code == grpc.StatusCode.FAILED_PRECONDITION
        updated = c.update(spec, expected_version=1)
        assert (updated.name, updated.version, updated.changed) == ("test-app", 2, True)
        state = eventually(
            lambda: (s := c.state("test-app")) and len(running(s)) == 3 and len(s.tasks) == 3 and s,
            "3 tasks after the update",
        )
        assert state.version == 2 and state.spec.instances == 3
        assert sorted(t.instance for t in state.tasks) == [0, 1, 2]
        eventually(
            lambda: {e.instance for e in watch.snapshot() if e.state in TERMINAL} >= {3, 4},
            "terminal events of instances 3 and 4",
        )

        # Kill: the tasks die, then the app is forgotten (NOT_FOUND).
        killed = c.kill("test-app", expected_version=2)
        assert (killed.name, killed.version) == ("test-app", 3)

        def gone() -> bool:
            try:
                c.state("test-app")
                return False
            except HydrogenError as err:
                assert err.code == grpc.StatusCode.NOT_FOUND, err
                return True

        eventually(gone, "the killed app to be forgotten")
        ids = {e.task_id for e in watch.snapshot()}
        eventually(
            lambda: {e.task_id for e in watch.snapshot() if e.state in TERMINAL} >= ids,
            "a terminal event for every task",
        )
        assert not [t for t in c.list_all() if t.app == "test-app" and t.state not in TERMINAL]
        watch.stop()
        assert watch.error is None, watch.error


def test_errors_carry_grpc_codes(server):
    with Client(server.target) as c:
        with pytest.raises(HydrogenError) as err:
            c.state("ghost")
        assert err.value.code == grpc.StatusCode.NOT_FOUND
        bad = apps_from_file(EXAMPLE)[0]
        bad.name = "bad"
        bad.resources.cpu = 0
        with pytest.raises(HydrogenError) as err:
            c.deploy(bad)
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "resources.cpu must be > 0" in err.value.message
        with pytest.raises(ValueError):
            c.deploy({"name": "x", "no_such_field": 1})


def test_watch_resumes_after_connection_drop(server):
    app = apps_from_file(EXAMPLE)[0]
    app.name, app.instances = "resume-app", 3
    app.strategy.type = pb.STRATEGY_TYPE_MUX
    proxy = DroppingProxy(server.target)
    try:
        with Client(proxy.target) as via_proxy, Client(server.target) as direct:
            direct.deploy(app)
            watch = Collector(via_proxy.watch_tasks(app="resume-app", after_revision=0))
            eventually(lambda: len(watch.snapshot()) >= 1, "a first event through the proxy")
            assert proxy.drop() > 0
            eventually(lambda: len(running(direct.state("resume-app"))) == 3, "3 running tasks")
            # Drop again mid-stream, then let it reconnect and catch up.
            proxy.drop()
            eventually(lambda: watch.watch.reconnects >= 1, "a reconnect")
            reference = Collector(direct.watch_tasks(app="resume-app", after_revision=0))
            eventually(
                lambda: len(reference.snapshot()) >= 6
                and [e.revision for e in watch.snapshot()][: len(reference.snapshot())]
                == [e.revision for e in reference.snapshot()],
                "the resumed watch to match an uninterrupted one",
            )
            resumed = [e.revision for e in watch.snapshot()]
            assert resumed == sorted(set(resumed)), "no repeat, no reordering"
            reference.stop()
            watch.stop()
            assert watch.error is None and reference.error is None
            direct.kill("resume-app")
    finally:
        proxy.close()


def test_bearer_token(auth_server):
    for token in (None, "wrong"):
        with Client(auth_server.target, token=token) as c:
            with pytest.raises(HydrogenError) as err:
                c.list_all()
            assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(HydrogenError) as err:
                next(c.watch_tasks(after_revision=0))
            assert err.value.code == grpc.StatusCode.UNAUTHENTICATED, "a watch does not retry auth errors"
    with Client(auth_server.target, token="s3cret-token") as c:
        assert c.list_all() == []
        [result] = c.deploy(apps_from_file(EXAMPLE)[0])
        assert result.created
        assert c.state("test-app").version == 1


def _idle_app(name: str) -> dict:
    return {"name": name, "resources": {"cpu": 0.1, "mem": 32}, "instances": 0, "command": {"cmd": "sleep 100"}}


def test_deploy_takes_apps_lists_of_apps_or_both(server):
    with Client(server.target) as c:
        listed = c.deploy([_idle_app("listed-a"), _idle_app("listed-b")])
        assert [(r.name, r.created) for r in listed] == [("listed-a", True), ("listed-b", True)]
        mixed = c.deploy(_idle_app("listed-a"), [_idle_app("listed-b"), _idle_app("listed-c")], (_idle_app("listed-d"),))
        assert [(r.name, r.created) for r in mixed] == [
            ("listed-a", False),
            ("listed-b", False),
            ("listed-c", True),
            ("listed-d", True),
        ]
        for name in ("listed-a", "listed-b", "listed-c", "listed-d"):
            c.kill(name)


def test_deploy_refuses_what_is_not_an_app_before_calling():
    # No server: the refusal happens before any call is made.
    with Client("127.0.0.1:9", timeout=1.0) as c:
        for bad in ("test-app", b"{}", 7, [_idle_app("ok"), "test-app"]):
            with pytest.raises(TypeError):
                c.deploy(bad)
