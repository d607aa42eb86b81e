// The TypeScript client against a live `hydrogen dev` (see server.ts).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  type App,
  AppGoal,
  type AppState,
  appsFromFile,
  Client,
  HydrogenError,
  status,
  StrategyType,
  type TaskEvent,
  TaskState,
} from "../src/index";
import { DroppingProxy, eventually, EXAMPLE, Server } from "./server";

const TERMINAL = new Set([
  TaskState.TASK_STATE_FINISHED, TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_KILLED,
  TaskState.TASK_STATE_ERROR, TaskState.TASK_STATE_LOST, TaskState.TASK_STATE_DROPPED,
  TaskState.TASK_STATE_GONE, TaskState.TASK_STATE_GONE_BY_OPERATOR,
]);

const running = (s: AppState) => s.tasks.filter((t) => t.state === TaskState.TASK_STATE_RUNNING);

/** Runs a watch in the background and keeps what it yields. */
class Collector {
  readonly events: TaskEvent[] = [];
  error: unknown;
  reconnects = 0;
  private readonly abort = new AbortController();
  private readonly done: Promise<void>;
  constructor(client: Client, app: string, afterRevision: number) {
    this.done = (async () => {
      try {
        for await (const e of client.watchTasks({
          app, afterRevision, signal: this.abort.signal, onReconnect: () => { this.reconnects++; },
        })) this.events.push(e);
      } catch (e) {
        this.error = e;
      }
    })();
  }
  async stop(): Promise<void> {
    this.abort.abort();
    await this.done;
    assert.equal(this.error, undefined, `watch error: ${this.error}`);
  }
}

async function rejectsWith(p: Promise<unknown>, code: status): Promise<HydrogenError> {
  const err = await p.then(() => undefined, (e) => e);
  assert.ok(err instanceof HydrogenError, `expected a HydrogenError, got ${err}`);
  assert.equal(err.code, code, err.message);
  return err;
}

function testApp(): App {
  const [app] = appsFromFile(EXAMPLE);
  assert.equal(app.name, "test-app");
  assert.equal(app.instances, 5);
  return app;
}

describe("against hydrogen dev", () => {
  let server: Server;
  let c: Client;
  before(async () => {
    server = await Server.start();
    c = new Client(server.target);
  });
  after(async () => {
    c?.close();
    await server?.stop();
  });

  test("deploy, state, watch, update, kill", async () => {
    const watch = new Collector(c, "test-app", 0);
    const app = testApp();
    const [result] = await c.deploy(app);
    assert.deepEqual([result.name, result.version, result.created], ["test-app", 1, true]);
    assert.equal(result.message, "Task test-app successfully queued");
    const [again] = await c.deploy(app);
    assert.deepEqual([again.version, again.created], [1, false]);

    let state = await eventually("5 running tasks", async () => {
      const s = await c.state("test-app");
      return running(s).length === 5 ? s : undefined;
    });
    assert.equal(state.running, 5);
    assert.equal(state.state, "TASK_RUNNING");
    assert.equal(state.version, 1);
    assert.equal(state.goal, AppGoal.APP_GOAL_RUN);
    assert.equal(state.spec?.strategy?.type, StrategyType.STRATEGY_TYPE_UNIQUE);
    assert.deepEqual(running(state).map((t) => t.instance).sort(), [0, 1, 2, 3, 4]);
    assert.equal(new Set(running(state).map((t) => t.agentId)).size, 5);
    const listed = (await c.listAll()).filter((t) => t.app === "test-app" && t.state === TaskState.TASK_STATE_RUNNING);
    assert.deepEqual(listed.map((t) => t.id).sort(), running(state).map((t) => t.id).sort());

    await eventually("RUNNING events of 5 instances", () =>
      new Set(watch.events.filter((e) => e.state === TaskState.TASK_STATE_RUNNING).map((e) => e.instance)).size === 5);
    const revs = watch.events.map((e) => e.revision);
    assert.deepEqual(revs, [...new Set(revs)].sort((a, b) => a - b), "revisions strictly increase");

    // Update 5 -> 3 instances.
    const spec: App = { ...state.spec!, instances: 3 };
    await rejectsWith(c.update(spec, 7), status.FAILED_PRECONDITION);
    const updated = await c.update(spec, 1);
    assert.deepEqual([updated.name, updated.version, updated.changed], ["test-app", 2, true]);
    state = await eventually("3 tasks after the update", async () => {
      const s = await c.state("test-app");
      return running(s).length === 3 && s.tasks.length === 3 ? s : undefined;
    });
    assert.equal(state.version, 2);
    assert.equal(state.spec?.instances, 3);
    await eventually("terminal events of instances 3 and 4", () => {
      const dead = new Set(watch.events.filter((e) => TERMINAL.has(e.state)).map((e) => e.instance));
      return dead.has(3) && dead.has(4);
    });

    // Kill, then the app is forgotten.
    const killed = await c.kill("test-app", 2);
    assert.deepEqual([killed.name, killed.version], ["test-app", 3]);
    await eventually("the killed app to be forgotten", () =>
      c.state("test-app").then(() => false, (e) => { assert.equal(e.code, status.NOT_FOUND); return true; }));
    await eventually("a terminal event for every task", () => {
      const seen = new Set(watch.events.map((e) => e.taskId));
      const dead = new Set(watch.events.filter((e) => TERMINAL.has(e.state)).map((e) => e.taskId));
      return seen.size >= 5 && seen.size === dead.size;
    });
    await watch.stop();
  });

  test("errors carry gRPC codes", async () => {
    await rejectsWith(c.state("ghost"), status.NOT_FOUND);
    const bad = testApp();
    bad.name = "bad";
    bad.resources!.cpu = 0;
    const err = await rejectsWith(c.deploy(bad), status.INVALID_ARGUMENT);
    assert.match(err.details, /resources\.cpu must be > 0/);
    await assert.rejects(c.deploy({ name: "x", no_such_field: 1 }), /unknown app field/);
  });

  test("a watch asked for them yields statuses and leadership, and they never move the resume point", async () => {
    const seen: TaskEvent[] = [];
    const abort = new AbortController();
    const done = (async () => {
      for await (const e of c.watchTasks({
        afterRevision: 0, includeStatus: true, includeCluster: true, signal: abort.signal,
      })) seen.push(e);
    })();
    const app = testApp();
    app.name = "status-app";
    app.instances = 2;
    app.strategy!.type = StrategyType.STRATEGY_TYPE_MUX;
    await c.deploy(app);
    await eventually("a leadership event naming an epoch", () =>
      seen.some((e) => e.cluster !== undefined && (e.cluster.epoch ?? 0) > 0));
    await eventually("status-app's status", () =>
      seen.some((e) => e.status !== undefined && e.app === "status-app"));
    await eventually("status-app's task events", () =>
      seen.filter((e) => e.status === undefined && e.cluster === undefined && e.app === "status-app").length >= 2);
    abort.abort();
    await done;
    const revisions = seen.filter((e) => e.status === undefined && e.cluster === undefined).map((e) => e.revision);
    assert.deepEqual(revisions, [...new Set(revisions)].sort((a, b) => a - b), "task events in order, none twice");
    await c.kill("status-app");
  });

  test("watch resumes after the connection drops", async () => {
    const proxy = await DroppingProxy.start(server.target);
    const viaProxy = new Client(proxy.target);
    try {
      const app = testApp();
      app.name = "resume-app";
      app.instances = 3;
      app.strategy!.type = StrategyType.STRATEGY_TYPE_MUX;
      await c.deploy(app);
      const watch = new Collector(viaProxy, "resume-app", 0);
      await eventually("a first event through the proxy", () => watch.events.length >= 1);
      assert.ok(proxy.drop() > 0);
      await eventually("3 running tasks", async () => running(await c.state("resume-app")).length === 3);
      proxy.drop();
      await eventually("a reconnect", () => watch.reconnects >= 1);
      const reference = new Collector(c, "resume-app", 0);
      await eventually("the resumed watch to match an uninterrupted one", () => {
        const ref = reference.events.map((e) => e.revision);
        const got = watch.events.map((e) => e.revision);
        return ref.length >= 6 && got.length >= ref.length && ref.every((r, i) => got[i] === r);
      });
      const got = watch.events.map((e) => e.revision);
      assert.deepEqual(got, [...new Set(got)].sort((a, b) => a - b), "no repeat, no reordering");
      await reference.stop();
      await watch.stop();
      await c.kill("resume-app");
    } finally {
      viaProxy.close();
      await proxy.close();
    }
  });
});

describe("bearer token", () => {
  let server: Server;
  before(async () => { server = await Server.start("s3cret-token"); });
  after(async () => { await server?.stop(); });

  test("no or wrong token is UNAUTHENTICATED, the right one works", async () => {
    for (const token of [undefined, "wrong"]) {
      const c = new Client(server.target, { token });
      try {
        await rejectsWith(c.listAll(), status.UNAUTHENTICATED);
        const first = c.watchTasks({ afterRevision: 0 }).next();
        await rejectsWith(first, status.UNAUTHENTICATED);
      } finally {
        c.close();
      }
    }
    const c = new Client(`http://${server.target}`, { token: "s3cret-token" });
    try {
      assert.deepEqual(await c.listAll(), []);
      const [result] = await c.deploy(testApp());
      assert.ok(result.created);
      assert.equal((await c.state("test-app")).version, 1);
    } finally {
      c.close();
    }
  });
});
