#!/usr/bin/env python3
"""What an app with no task costs a whole `hydrogen dev` process (issue 16):
the RSS delta per app after deploying N apps (default 10,000) with 0
instances through the REST API.

Usage: dev_app_memory.py [--apps N] [--batch B] HYDROGEN_BINARY

Starts `HYDROGEN_BINARY dev` on loopback (free ports), waits until it leads
and its RSS is steady, POSTs the apps in batches of B to /v1/api/app, waits
until the RSS is steady again (the leader's scheduler has read every app
and written its status) and reports the delta per app. It then reads one
app's State (which builds the API's snapshot of every app) and reports the
delta again, with that snapshot held; then opens one SSE watch with
statuses (which starts the process's watch hub: it keeps every app's
status and its encodings) and reports it once more. Prints one JSON
line. The process is
the whole of `hydrogen dev`: API, memory store, scheduler and the simulated
master (which keeps nothing per app without tasks). Use a release binary:
RSS is what the OS sees, allocator slack included.
"""
import argparse
import json
import subprocess
import sys
import threading
import time
import urllib.request


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def steady_rss(pid, deadline_s, window=8, tolerance=64 * 1024, every=0.5):
    """The RSS once `window` samples in a row differ by less than
    `tolerance`; fails after `deadline_s`."""
    end = time.monotonic() + deadline_s
    samples = []
    while time.monotonic() < end:
        samples.append(rss_bytes(pid))
        samples = samples[-window:]
        if len(samples) == window and max(samples) - min(samples) < tolerance:
            return samples[-1]
        time.sleep(every)
    raise RuntimeError(f"RSS not steady within {deadline_s} s: {samples}")


def request(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, r.read()


def until(what, deadline_s, check):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"timed out: {what}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--apps", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("binary")
    args = ap.parse_args()
    proc = subprocess.Popen(
        [args.binary, "dev", "--listen", "127.0.0.1:0", "--sim-listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={"HYDROGEN_LOG": "warn", "PATH": "/usr/bin:/bin"},
        text=True,
    )
    try:
        base = None
        for line in proc.stdout:
            if line.startswith("listening on "):
                base = line.split()[-1].strip()
                break
        if base is None:
            raise RuntimeError("hydrogen dev did not print its address")

        def leads():
            status, body = request("GET", f"{base}/readyz")
            return status == 200 and json.loads(body).get("leader") is True

        until("hydrogen dev leads", 60, leads)
        rss0 = steady_rss(proc.pid, 60)
        names = [f"bench-app-{i}" for i in range(args.apps)]
        for i in range(0, len(names), args.batch):
            apps = [
                {
                    "name": n,
                    "instances": 0,
                    "resources": {"cpu": 0.01, "mem": 4},
                    "command": {"cmd": "sleep 100000"},
                }
                for n in names[i : i + args.batch]
            ]
            status, _ = request("POST", f"{base}/v1/api/app", apps)
            if status != 200:
                raise RuntimeError(f"deploy answered {status}")
        rss1 = steady_rss(proc.pid, 300)

        def has_status():
            _, body = request("GET", f"{base}/v1/api/app?name={names[-1]}")
            return json.loads(body).get("status") is not None

        until("the last app has a status", 120, has_status)
        rss2 = steady_rss(proc.pid, 120)

        seen = {"statuses": 0}

        def watch():
            with urllib.request.urlopen(f"{base}/v1/api/app/watch?include=status") as r:
                for line in r:
                    if line.startswith(b"event: status"):
                        seen["statuses"] += 1

        threading.Thread(target=watch, daemon=True).start()
        until("the watch lists every status", 120, lambda: seen["statuses"] >= args.apps)
        rss3 = steady_rss(proc.pid, 120)
        n = float(args.apps)
        print(
            json.dumps(
                {
                    "case": "hydrogen dev, REST deploy",
                    "apps": args.apps,
                    "rss_before_bytes": rss0,
                    "rss_bytes_per_app_0_instances": (rss1 - rss0) / n,
                    "rss_bytes_per_app_0_instances_after_a_state_read": (rss2 - rss0) / n,
                    "rss_bytes_per_app_0_instances_with_a_status_watch": (rss3 - rss0) / n,
                    "note": "whole process VmRSS deltas (API, memory store, scheduler, simulated master); steady = 8 samples 0.5 s apart within 64 KiB",
                }
            )
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
