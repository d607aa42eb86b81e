// The convenience layer over the generated hydrogen.v1.AppService client.
import {
  type CallOptions,
  type ChannelCredentials,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import {
  type App,
  type AppState,
  AppServiceClient,
  type DeployResult,
  type KillResponse,
  type Task,
  type TaskEvent,
  type UpdateResponse,
} from "../gen/hydrogen/v1/app";
import { appFromJson } from "./apps";

/** A protobuf App, or an app in the REST API's JSON shape. */
export type AppLike = App | Record<string, unknown>;

/** A failed call: the gRPC status code and the server's message. */
export class HydrogenError extends Error {
  readonly code: status;
  readonly details: string;
  constructor(code: status, details: string) {
    super(`${status[code] ?? code}: ${details}`);
    this.name = "HydrogenError";
    this.code = code;
    this.details = details;
  }
  static from(err: unknown): HydrogenError {
    if (err instanceof HydrogenError) return err;
    const e = err as Partial<ServiceError>;
    return new HydrogenError(e.code ?? status.UNKNOWN, e.details ?? String(err));
  }
}

export interface ClientOptions {
  /** Sent as `authorization: Bearer <token>`. */
  token?: string;
  /** Deadline of every unary call, ms (default 30000). */
  timeoutMs?: number;
  /** Channel credentials (default: plaintext). */
  credentials?: ChannelCredentials;
}

export interface WatchOptions {
  /** Only this app's events; every app when absent. */
  app?: string;
  /** Replay after this revision (0 = the whole log); absent: from the head. */
  afterRevision?: number;
  /** Ends the watch (the iterator returns). */
  signal?: AbortSignal;
  /** Fail on the first transport error instead of reconnecting. */
  noReconnect?: boolean;
  /** Cap of the delay between reconnects, ms (default 5000). */
  maxBackoffMs?: number;
  /** Called before each reconnect. */
  onReconnect?: (err: unknown) => void;
  /** Also yield apps' scheduler statuses (events with `status` set, revision 0). */
  includeStatus?: boolean;
  /** Also yield leadership changes (events with `cluster` set, revision 0). */
  includeCluster?: boolean;
}

const RETRYABLE = new Set([status.UNAVAILABLE, status.INTERNAL, status.UNKNOWN]);

function isApp(a: AppLike): a is App {
  return typeof (a as App).name === "string" && Array.isArray((a as App).filters) && typeof (a as App).labels === "object";
}

/** A client of one Hydrogen server (any instance answers). */
export class Client {
  /** The generated client, for what this layer does not cover. */
  readonly raw: AppServiceClient;
  private readonly token?: string;
  private readonly timeoutMs: number;

  /** `target` is `host:port`; an `http://` prefix (as `hydrogen dev` prints it) is accepted. */
  constructor(target: string, options: ClientOptions = {}) {
    const address = target.replace(/^(http|grpc):\/\//, "").replace(/\/$/, "");
    this.raw = new AppServiceClient(address, options.credentials ?? credentials.createInsecure());
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  close(): void {
    this.raw.close();
  }

  private metadata(): Metadata {
    const md = new Metadata();
    if (this.token) md.set("authorization", `Bearer ${this.token}`);
    return md;
  }

  private unary<Req, Res>(method: string, request: Req): Promise<Res> {
    const options: Partial<CallOptions> = { deadline: Date.now() + this.timeoutMs };
    return new Promise((resolve, reject) => {
      const fn = (this.raw as any)[method] as (
        req: Req, md: Metadata, opts: Partial<CallOptions>, cb: (err: ServiceError | null, res: Res) => void,
      ) => unknown;
      fn.call(this.raw, request, this.metadata(), options, (err, res) =>
        err ? reject(HydrogenError.from(err)) : resolve(res));
    });
  }

  /** Deploys apps; one result per app, in order. */
  async deploy(...apps: AppLike[]): Promise<DeployResult[]> {
    const resp = await this.unary<unknown, { results: DeployResult[] }>("deploy", {
      apps: apps.map((a) => (isApp(a) ? a : appFromJson(a))),
    });
    return resp.results;
  }

  /** Asks for an app to be killed (idempotent). */
  kill(name: string, expectedVersion?: number): Promise<KillResponse> {
    return this.unary("kill", { name, expectedVersion });
  }

  /** Replaces an app's spec (`app.name` names it). */
  update(app: AppLike, expectedVersion?: number): Promise<UpdateResponse> {
    return this.unary("update", { app: isApp(app) ? app : appFromJson(app), expectedVersion });
  }

  /** One app: spec, version, tasks, status. */
  state(name: string): Promise<AppState> {
    return this.unary("state", { name });
  }

  /**
   * Every task known to Hydrogen, read `pageSize` tasks at a time so no
   * answer outgrows gRPC's default 4 MB message limit.
   */
  async listAll(pageSize = 2000): Promise<Task[]> {
    const tasks: Task[] = [];
    let pageToken = "";
    for (;;) {
      const page = await this.unary<unknown, { tasks: Task[]; nextPageToken: string }>("listAll", {
        pageSize,
        pageToken,
      });
      tasks.push(...page.tasks);
      if (!page.nextPageToken) return tasks;
      pageToken = page.nextPageToken;
    }
  }

  /**
   * Task events, oldest first, then live, as an async iterator.
   *
   * When the connection drops (UNAVAILABLE, or the server ends the stream as
   * it does on shutdown) the watch reconnects with `afterRevision` set to the
   * last revision it yielded: no event is missed or repeated. A head watch
   * (no `afterRevision`) that has yielded nothing yet resumes at the new head.
   * Other errors (OUT_OF_RANGE, UNAUTHENTICATED, ...) throw HydrogenError.
   * Breaking out of the loop or aborting `signal` ends the call.
   */
  async *watchTasks(options: WatchOptions = {}): AsyncGenerator<TaskEvent, void, undefined> {
    let after = options.afterRevision;
    const maxBackoff = options.maxBackoffMs ?? 5000;
    let backoff = 50;
    const signal = options.signal;
    while (!signal?.aborted) {
      const call = this.raw.watchTasks(
        {
          app: options.app,
          afterRevision: after,
          includeStatus: options.includeStatus ?? false,
          includeCluster: options.includeCluster ?? false,
        },
        this.metadata(),
      );
      call.on("error", () => {}); // surfaced by the iterator below
      const abort = () => call.cancel();
      signal?.addEventListener("abort", abort);
      let err: unknown = undefined;
      try {
        for await (const event of call as AsyncIterable<TaskEvent>) {
          // Statuses and leadership are states, not log entries (revision 0):
          // they never move the resume point.
          if (event.status !== undefined || event.cluster !== undefined) {
            backoff = 50;
            yield event;
            continue;
          }
          if (after !== undefined && event.revision <= after) continue; // never a repeat
          after = event.revision;
          backoff = 50;
          yield event;
        }
      } catch (e) {
        err = e;
      } finally {
        signal?.removeEventListener("abort", abort);
        call.cancel();
      }
      if (signal?.aborted) return;
      const code = (err as Partial<ServiceError> | undefined)?.code;
      if (err !== undefined && (options.noReconnect || code === undefined || !RETRYABLE.has(code))) {
        throw HydrogenError.from(err);
      }
      if (err === undefined && options.noReconnect) return;
      options.onReconnect?.(err);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, backoff);
        function done() {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          resolve();
        }
        signal?.addEventListener("abort", done);
      });
      backoff = Math.min(backoff * 2, maxBackoff);
    }
  }
}
