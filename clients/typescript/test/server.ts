// A live `hydrogen dev` on free loopback ports, polling helpers, and a TCP
// proxy that can drop every connection (to prove watch resume).
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { createInterface } from "node:readline";

// Compiled to dist/test/: the client dir is two levels up.
export const CLIENT_DIR = path.resolve(__dirname, "..", "..");
export const EXAMPLE = path.resolve(CLIENT_DIR, "..", "..", "examples", "test-app.json");

export function hydrogenBin(): string {
  const bin = path.resolve(CLIENT_DIR, process.env.HYDROGEN_BIN ?? "../../target/debug/hydrogen");
  if (!existsSync(bin)) throw new Error(`no hydrogen binary at ${bin}: run \`cargo build\` or set HYDROGEN_BIN`);
  return bin;
}

export class Server {
  private constructor(readonly proc: ChildProcess, readonly target: string) {}

  static async start(token?: string): Promise<Server> {
    const args = ["dev", "--listen", "127.0.0.1:0", "--sim-listen", "127.0.0.1:0", "--agents", "5"];
    if (token) args.push("--api-token", token);
    const env = { ...process.env };
    delete env.HYDROGEN_API_TOKEN;
    const proc = spawn(hydrogenBin(), args, { stdio: ["ignore", "pipe", "ignore"], env });
    const target = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("hydrogen dev did not print `listening on` in time")), 30_000);
      const lines = createInterface({ input: proc.stdout! });
      lines.on("line", (line) => {
        const m = /^listening on http:\/\/(127\.0\.0\.1:\d+)/.exec(line.trim());
        if (m) { clearTimeout(timer); resolve(m[1]); }
      });
      proc.on("exit", (code) => { clearTimeout(timer); reject(new Error(`hydrogen dev exited (${code})`)); });
    }).catch((e) => { proc.kill("SIGKILL"); throw e; });
    return new Server(proc, target);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once("exit", r));
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/** Polls `check` until it returns a truthy value; throws after `deadlineMs`. */
export async function eventually<T>(what: string, check: () => T | Promise<T>, deadlineMs = 30_000): Promise<NonNullable<T>> {
  const end = Date.now() + deadlineMs;
  let last: T | undefined;
  while (Date.now() < end) {
    last = await check();
    if (last) return last as NonNullable<T>;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${deadlineMs}ms waiting for ${what} (last: ${String(last)})`);
}

export class DroppingProxy {
  private readonly sockets = new Set<net.Socket>();
  private constructor(private readonly server: net.Server, readonly target: string) {}

  static async start(upstream: string): Promise<DroppingProxy> {
    const [host, port] = [upstream.slice(0, upstream.lastIndexOf(":")), Number(upstream.slice(upstream.lastIndexOf(":") + 1))];
    const sockets = new Set<net.Socket>();
    const server = net.createServer((down) => {
      const up = net.connect(port, host);
      for (const [a, b] of [[down, up], [up, down]] as const) {
        sockets.add(a);
        a.on("error", () => b.destroy());
        a.on("close", () => { sockets.delete(a); b.destroy(); });
        a.pipe(b);
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const proxy = new DroppingProxy(server, `127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    (proxy as any).sockets = sockets;
    return proxy;
  }

  /** Closes every open connection; the listener stays. */
  drop(): number {
    const n = this.sockets.size;
    for (const s of [...this.sockets]) s.destroy();
    return n;
  }

  async close(): Promise<void> {
    this.drop();
    await new Promise((r) => this.server.close(r));
  }
}
