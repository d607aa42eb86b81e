// Hydrogen console: a hand-written page over the public REST API
// (/v1/api/...) and its SSE task watch. No framework, no build step.
// Data is only ever put in the page as text (never as HTML).
"use strict";

const TOKEN_KEY = "hydrogen.token";
// Keys the State answer adds to an app's spec; removed to get the spec back.
const STATE_KEYS = ["state", "version", "config_version", "goal", "running", "tasks", "status", "created_ms", "updated_ms"];
const TIMELINE_MAX = 60;
// Statuses and the cluster arrive on the watch; this slow re-read is only a
// safety net (a change made by another client that moved no task).
const SAFETY_REFRESH_MS = 60000;
const TERMINAL = new Set(["TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR",
  "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR"]);

const ui = {
  apps: [],
  cluster: null,
  lastEventId: null,
  refreshTimer: null,
  // Refreshes can overlap (an event's refresh while the safety refresh is
  // in flight); an answer to an older request must not replace a newer one.
  refreshIssued: 0,
  refreshApplied: 0,
  tokenWaiters: [],
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function badge(text, cls) {
  return el("span", { class: "badge b-" + (cls || text), text });
}

function fmtTime(ms) {
  if (!ms) return "—";
  const d = new Date(ms);
  return d.toLocaleString(undefined, { hour12: false });
}

function ago(ms) {
  if (!ms) return "—";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}

// ------------------------------------------------------------------ token

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function authHeaders(extra) {
  const h = Object.assign({}, extra || {});
  const t = token();
  if (t) h["Authorization"] = "Bearer " + t;
  return h;
}

// Resolves once the user has entered a token (every waiter at once).
function askToken(wrong) {
  return new Promise((resolve) => {
    ui.tokenWaiters.push(resolve);
    const dialog = $("token-dialog");
    const error = $("token-error");
    // Several requests fail at once, and only the first to notice knows the
    // stored token was refused: a later one must not hide the note.
    if (!dialog.open) error.hidden = true;
    if (wrong) {
      error.textContent = "That token was refused: check it and try again.";
      error.hidden = false;
    }
    if (!dialog.open) {
      dialog.showModal();
      $("token-input").focus();
    }
  });
}

function setupToken() {
  $("token-form").addEventListener("submit", (ev) => {
    const value = $("token-input").value.trim();
    if (!value) { ev.preventDefault(); return; }
    sessionStorage.setItem(TOKEN_KEY, value);
    $("token-input").value = "";
    const waiters = ui.tokenWaiters.splice(0);
    waiters.forEach((w) => w());
  });
  // Escape would leave requests waiting forever: keep asking.
  $("token-dialog").addEventListener("cancel", (ev) => ev.preventDefault());
}

// ------------------------------------------------------------------ api

// One REST call: {status, body}. A 401 asks for the token and retries.
async function api(method, path, body) {
  let wrong = false;
  for (;;) {
    const init = { method, headers: authHeaders(body === undefined ? {} : { "Content-Type": "application/json" }) };
    if (body !== undefined) init.body = body;
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      return { status: 0, body: { message: "cannot reach the server (" + e.message + "): is it running?" } };
    }
    if (res.status === 401) {
      wrong = wrong || token() !== null;
      sessionStorage.removeItem(TOKEN_KEY);
      await askToken(wrong);
      wrong = true;
      continue;
    }
    const text = await res.text();
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch (_) { parsed = { message: text }; }
    return { status: res.status, body: parsed };
  }
}

function errorText(r) {
  const b = r.body || {};
  return b.message || ("request failed with status " + r.status);
}

function flash(text) {
  const f = $("flash");
  f.textContent = text;
  f.hidden = false;
}

// ------------------------------------------------------------------ model

function specOf(app) {
  const spec = {};
  for (const [k, v] of Object.entries(app)) if (!STATE_KEYS.includes(k)) spec[k] = v;
  return spec;
}

function liveTasks(app) {
  return (app.tasks || []).filter((t) => !TERMINAL.has(t.state));
}

// A pure scale keeps running tasks: a task is current when launched at or
// after the app's last change to anything but `instances`.
function isCurrent(app, t) {
  return t.version >= (app.config_version ?? app.version);
}

function counts(app) {
  const tasks = app.tasks || [];
  const running = tasks.filter((t) => t.state === "TASK_RUNNING");
  return {
    desired: app.instances,
    running: running.length,
    // Without a health check nothing is ever healthy: say so, not "0".
    healthy: app.healthcheck ? running.filter((t) => t.healthy === true).length : "—",
    current: running.filter((t) => isCurrent(app, t)).length,
  };
}

// The one-word state an operator wants: stopped, failing, waiting,
// deploying or running.
function appState(app) {
  const st = app.status || {};
  const c = counts(app);
  if (app.goal === "KILL" || (app.instances === 0 && liveTasks(app).length === 0)) return "stopped";
  const backingOff = st.backoff_until_ms && st.backoff_until_ms > Date.now();
  const unhealthy = (app.tasks || []).some((t) => t.state === "TASK_RUNNING" && t.healthy === false);
  if (backingOff || (st.consecutive_failures || 0) > 0 || unhealthy) return "failing";
  if (c.current >= app.instances && c.running >= app.instances) return "running";
  if ((st.waiting || 0) > 0 && st.message && liveTasks(app).length < app.instances) return "waiting";
  return "deploying";
}

function strategyOf(app) {
  return (app.strategy && app.strategy.type) || "default";
}

// ------------------------------------------------------------------ views

function route() {
  const h = location.hash || "#/apps";
  const m = h.match(/^#\/app\/(.+)$/);
  if (m) return { view: "app", name: decodeURIComponent(m[1]) };
  const e = h.match(/^#\/deploy(?:\?edit=(.+))?$/);
  if (e) return { view: "deploy", edit: e[1] ? decodeURIComponent(e[1]) : null };
  return { view: "apps" };
}

function show(view) {
  for (const v of ["apps", "app", "deploy"]) $("view-" + v).hidden = v !== view;
  $("nav-apps").toggleAttribute("aria-current", view === "apps" || view === "app");
  if (view === "apps" || view === "app") $("nav-apps").setAttribute("aria-current", "page");
  $("nav-deploy").toggleAttribute("aria-current", view === "deploy");
  if (view === "deploy") $("nav-deploy").setAttribute("aria-current", "page");
}

async function render() {
  const r = route();
  show(r.view);
  if (r.view === "apps") {
    // Drawn at once from what the page holds, then from a fresh read: the
    // list only follows task events, and a status-only change (or an event
    // missed while the watch reconnected) would otherwise show stale counts.
    renderApps();
    scheduleRefresh();
  } else if (r.view === "app") renderApp(r.name);
  else if (r.view === "deploy") await openEditor(r.edit);
}

function renderApps() {
  const q = $("search").value.trim().toLowerCase();
  const want = $("filter").value;
  const body = $("apps-body");
  const rows = [];
  for (const app of ui.apps) {
    const state = appState(app);
    if (want && state !== want) continue;
    if (q && !JSON.stringify(specOf(app)).toLowerCase().includes(q)) continue;
    const c = counts(app);
    rows.push(el("tr", { "data-app": app.name, "data-state": state },
      el("td", {}, el("a", { href: "#/app/" + encodeURIComponent(app.name), text: app.name })),
      el("td", {}, badge(state)),
      el("td", { class: "num", "aria-label": `${c.desired} desired, ${c.running} running, ${c.healthy} healthy` },
        `${c.desired} / ${c.running} / ${c.healthy}`),
      el("td", { class: "num", text: "v" + app.version }),
      el("td", { text: strategyOf(app) }),
      el("td", {}, el("time", { datetime: new Date(app.updated_ms).toISOString(), title: fmtTime(app.updated_ms), text: ago(app.updated_ms) })),
    ));
  }
  body.replaceChildren(...rows);
  $("apps-empty").hidden = ui.apps.length > 0;
}

async function renderApp(name) {
  const r = await api("GET", "/v1/api/app?name=" + encodeURIComponent(name));
  if (route().name !== name) return;
  if (r.status !== 200) {
    // The actions must never act on a previously shown app.
    ui.current = null;
    $("app-title").textContent = name;
    $("app-summary").textContent = r.status === 404
      ? "This app does not exist (any more)."
      : errorText(r);
    for (const id of ["tasks-body"]) $(id).replaceChildren();
    for (const id of ["rollout", "pending", "failures", "spec"]) $(id).replaceChildren();
    return;
  }
  drawApp(r.body);
}

// Draws one app from what the page holds (no request).
function drawApp(app) {
  ui.current = app;
  const state = appState(app);
  const c = counts(app);
  $("app-title").replaceChildren(app.name + " ", badge(state));
  $("app-title").setAttribute("data-state", state);
  $("app-summary").textContent =
    `v${app.version} · ${c.desired} desired, ${c.running} running, ` +
    `${app.healthcheck ? c.healthy + " healthy" : "no health check"} · ` +
    `strategy ${strategyOf(app)} · changed ${ago(app.updated_ms)}`;
  const scale = $("scale-input");
  if (document.activeElement !== scale) scale.value = app.instances;

  // Rolling update: running tasks at the current version out of desired.
  const old = (app.tasks || []).filter((t) => !isCurrent(app, t) && !TERMINAL.has(t.state));
  const rollout = $("rollout");
  if (old.length === 0) {
    rollout.replaceChildren(el("p", { text: "No rolling update in progress: no task runs an older spec." }));
  } else {
    const label = `${c.current} of ${app.instances} instances run the current spec (v${app.config_version ?? app.version}); ` +
      `${old.length} older task${old.length > 1 ? "s" : ""} still live`;
    rollout.replaceChildren(
      el("progress", { class: "progress", max: Math.max(app.instances, 1), value: c.current, "aria-label": label }),
      el("p", { text: label }));
  }

  const specPorts = portsOf(app);
  $("tasks-body").replaceChildren(...(app.tasks || []).map((t) => el("tr", { "data-task": t.id, "data-state": t.state },
    el("td", { class: "num", text: t.instance }),
    el("td", { text: t.hostname || "—", title: t.agent_id }),
    el("td", {}, badge(t.state), t.message ? el("div", { class: "help", text: t.message }) : null),
    el("td", {}, !app.healthcheck ? "—" : t.healthy === true ? badge("healthy") : t.healthy === false ? badge("unhealthy") : badge("unknown")),
    el("td", { text: (t.ips || []).join(", ") || "—" }),
    el("td", { text: taskPorts(t, specPorts) }),
    el("td", { class: "num", text: "v" + t.version }),
    el("td", {}, el("time", { datetime: new Date(t.created_ms).toISOString(), text: fmtTime(t.created_ms) })),
  )));
  if (!(app.tasks || []).length) {
    $("tasks-body").replaceChildren(el("tr", {}, el("td", { colspan: 8, text: "No tasks." })));
  }

  const st = app.status || {};
  const pending = [];
  if (st.message) pending.push(el("p", { text: st.message }));
  if (st.waiting) pending.push(el("p", { text: `${st.waiting} instance${st.waiting > 1 ? "s" : ""} waiting for a launch.` }));
  if (st.consecutive_failures) {
    pending.push(el("p", { text: `${st.consecutive_failures} task failure(s) since the app last stayed up: it counts as failing until a relaunched task has stayed up a while.` }));
  }
  if (st.backoff_until_ms && st.backoff_until_ms > Date.now()) {
    pending.push(el("p", { text: `Backing off after ${st.consecutive_failures} failed launch(es) until ${fmtTime(st.backoff_until_ms)}.` }));
  }
  const rej = Object.entries(st.rejections || {});
  if (rej.length) {
    pending.push(el("ul", {}, ...rej.map(([rule, n]) => el("li", {}, el("code", { text: rule }), ` — ${n} offer${n > 1 ? "s" : ""} declined`))));
  }
  $("pending").replaceChildren(...(pending.length ? pending : [el("p", { text: "Nothing is waiting or failing." })]));

  const fails = st.recent_terminations || [];
  $("failures").replaceChildren(fails.length
    ? el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ...["When", "Slot", "State", "Reason", "Message", "Host"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, ...fails.map((f) => el("tr", {},
        el("td", { text: fmtTime(f.at_ms) }),
        el("td", { class: "num", text: f.instance }),
        el("td", {}, badge(f.state)),
        el("td", { text: [f.reason, f.source].filter(Boolean).join(" · ") || "—" }),
        el("td", { text: f.message || "—" }),
        el("td", { text: f.hostname || "—" }))))))
    : el("p", { text: "No task of this app has ended recently." }));

  $("spec").textContent = JSON.stringify(specOf(app), null, 2);
}

// A task's host ports as the API reports them (`$PORT0` first); a task
// launched before Hydrogen kept them falls back to what the spec asks for.
function taskPorts(task, specPorts) {
  return (task.ports || []).length ? task.ports.join(", ") : specPorts;
}

// What the spec asks for: the container's port mappings, and how many
// ports Mesos assigns (`resources.ports`).
function portsOf(app) {
  const c = app.container || {};
  const out = [];
  for (const n of c.network || []) {
    for (const p of n.port_mapping || []) {
      out.push(`${p.host_port}→${p.container_port}${p.protocol ? "/" + String(p.protocol).toLowerCase() : ""}`);
    }
  }
  const dynamic = (app.resources || {}).ports;
  if (dynamic) out.push(`${dynamic} assigned by Mesos`);
  return out.join(", ") || "—";
}

async function refresh() {
  const seq = ++ui.refreshIssued;
  const [apps, cluster] = await Promise.all([api("GET", "/v1/api/apps"), api("GET", "/v1/api/cluster")]);
  if (seq < ui.refreshApplied) return;
  ui.refreshApplied = seq;
  if (apps.status === 200 && Array.isArray(apps.body)) ui.apps = apps.body;
  if (cluster.status === 200) { ui.cluster = cluster.body; renderCluster(cluster.body); }
  const r = route();
  if (r.view === "apps") renderApps();
  else if (r.view === "app") await renderApp(r.name);
}

// Coalesces bursts of task events into one refresh.
function scheduleRefresh() {
  if (ui.refreshTimer) return;
  ui.refreshTimer = setTimeout(() => { ui.refreshTimer = null; refresh(); }, 200);
}

function renderCluster(c) {
  const leader = c.leader_id ? `${c.leader_id} (${c.leader_address || "?"})` : "none";
  $("cl-leader").textContent = leader + (c.leader ? " · this instance" : "");
  $("cl-epoch").textContent = c.epoch ?? "—";
  $("cl-master").textContent = (c.masters || []).join(", ") || "—";
  $("cl-framework").textContent = c.framework_id || "not yet registered";
  $("cl-subscribed").textContent = c.subscribed === true ? "yes" : c.subscribed === false ? "no" : "unknown";
  $("cl-subscribed").setAttribute("data-subscribed", String(c.subscribed));
}

// A cluster event: who leads, the epoch, subscribed, framework id. What
// only /v1/api/cluster knows (this instance, its masters) is kept.
function applyCluster(c) {
  const base = ui.cluster || {};
  const merged = Object.assign({}, base, c);
  merged.leader = base.instance_id !== undefined && c.leader_id === base.instance_id;
  ui.cluster = merged;
  renderCluster(merged);
}

// A status event: the app's new scheduler status, drawn from the event.
function applyStatus(st) {
  const app = ui.apps.find((a) => a.name === st.app);
  if (app) app.status = st;
  const r = route();
  // The app on screen is drawn from the event even when the list has not
  // caught up with it yet (just deployed from this page, say).
  if (r.view === "app" && r.name === st.app && ui.current && ui.current.name === st.app) {
    ui.current.status = st;
    drawApp(ui.current);
  }
  // The last status the watch brought for each app, where scripts (and the
  // browser test) can see that statuses arrive without asking.
  (window.watchedStatuses ||= {})[st.app] = st.waiting || 0;
  if (!app) { scheduleRefresh(); return; }
  if (r.view === "apps") renderApps();
}

// ------------------------------------------------------------------ live

// The SSE watch over fetch (EventSource cannot send the token): resumes
// with Last-Event-ID after a drop, so no event is missed or repeated.
async function watch() {
  let delay = 500;
  for (;;) {
    const headers = authHeaders({ Accept: "text/event-stream" });
    if (ui.lastEventId !== null) headers["Last-Event-ID"] = ui.lastEventId;
    try {
      const res = await fetch("/v1/api/app/watch?include=status,cluster", { headers });
      if (res.status === 401) {
        const wrong = token() !== null;
        sessionStorage.removeItem(TOKEN_KEY);
        await askToken(wrong);
        continue;
      }
      if (res.status === 410) {
        // The log moved past us: start from now and reload everything.
        ui.lastEventId = null;
        await refresh();
        continue;
      }
      if (!res.ok || !res.body) throw new Error("status " + res.status);
      setLive("live");
      delay = 500;
      if (ui.lastEventId !== null) scheduleRefresh();
      await readEvents(res.body);
    } catch (e) {
      // Dropped: retry below.
    }
    setLive("reconnecting");
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 8000);
  }
}

async function readEvents(stream) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let ev = { id: null, event: "message", data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let nl;
    while ((nl = buf.search(/\r?\n/)) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + (buf[nl] === "\r" ? 2 : 1));
      if (line === "") {
        if (ev.data.length) dispatch(ev);
        ev = { id: null, event: "message", data: [] };
        continue;
      }
      if (line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "id") ev.id = val;
      else if (field === "event") ev.event = val;
      else if (field === "data") ev.data.push(val);
    }
  }
}

function dispatch(ev) {
  if (ev.id !== null) ui.lastEventId = ev.id;
  let data;
  try { data = JSON.parse(ev.data.join("\n")); } catch (_) { return; }
  if (ev.event === "error") {
    setLive("error: " + (data.message || "watch ended"));
    return;
  }
  if (ev.event === "status") { applyStatus(data); return; }
  if (ev.event === "cluster") { applyCluster(data); return; }
  if (ev.event !== "task") return;
  addTimeline(data);
  scheduleRefresh();
}

function setLive(text) {
  $("cl-live").textContent = text;
}

function addTimeline(e) {
  const list = $("timeline");
  const item = el("li", { "data-state": e.state, "data-app": e.app, "data-instance": e.instance, "data-revision": e.revision },
    el("time", { datetime: new Date(e.timestamp_ms).toISOString(), text: new Date(e.timestamp_ms).toLocaleTimeString(undefined, { hour12: false }) }),
    el("a", { href: "#/app/" + encodeURIComponent(e.app), text: e.app }),
    `[${e.instance}] `,
    badge(e.state),
    e.message ? el("div", { class: "help", text: e.message }) : null);
  list.prepend(item);
  while (list.children.length > TIMELINE_MAX) list.lastChild.remove();
}

// ------------------------------------------------------------------ actions

const SAMPLE = {
  name: "web",
  instances: 2,
  resources: { cpu: 0.1, mem: 32 },
  command: { cmd: "sleep 3600" },
};

async function openEditor(edit) {
  const ed = $("editor");
  clearEditorErrors();
  if (edit) {
    const r = await api("GET", "/v1/api/app?name=" + encodeURIComponent(edit));
    if (r.status === 200) ed.value = JSON.stringify(specOf(r.body), null, 2);
    else showEditorErrors(r);
  } else if (!ed.value.trim()) {
    ed.value = JSON.stringify(SAMPLE, null, 2);
  }
}

function clearEditorErrors() {
  $("editor-errors").hidden = true;
  $("editor-errors").replaceChildren();
  $("editor").removeAttribute("aria-invalid");
}

// Shows the API's error: every broken rule with its field, and selects the
// first field in the editor so the cursor sits on it.
function showEditorErrors(r) {
  const b = r.body || {};
  const items = (b.errors && b.errors.length) ? b.errors : [{ field: b.field, message: b.message || errorText(r) }];
  const box = $("editor-errors");
  box.replaceChildren(
    el("p", { text: b.errors && b.errors.length > 1 ? `${b.errors.length} problems:` : "The server refused this spec:" }),
    el("ul", {}, ...items.map((it) => el("li", { "data-field": it.field || "" },
      it.field ? el("code", { text: it.field }) : null, it.field ? ": " : "", it.message || ""))));
  box.hidden = false;
  const ed = $("editor");
  ed.setAttribute("aria-invalid", "true");
  const first = items.find((it) => it.field);
  if (first) {
    const at = locate(ed.value, first.field);
    if (at) {
      ed.focus();
      ed.setSelectionRange(at.start, at.end);
      const line = ed.value.slice(0, at.start).split("\n").length;
      box.firstChild.textContent += ` (first at line ${line}, selected in the editor)`;
    }
  }
}

// Where a field path (`resources.cpu`, `[0].name`) sits in the editor's
// text: each key searched after the previous one.
function locate(text, path) {
  const keys = path.split(/[.[\]]/).filter((k) => k && !/^\d+$/.test(k));
  let pos = 0;
  let found = null;
  for (const k of keys) {
    const i = text.indexOf(JSON.stringify(k), pos);
    if (i < 0) break;
    found = { start: i, end: i + k.length + 2 };
    pos = found.end;
  }
  return found;
}

function busy(button, on) {
  button.disabled = on;
}

async function submitEditor(kind) {
  clearEditorErrors();
  const ed = $("editor");
  const text = ed.value;
  let body = text;
  let parsed;
  try { parsed = JSON.parse(text); } catch (_) { parsed = undefined; }
  // The API deploys arrays and updates one app: wrap or unwrap to suit.
  if (kind === "deploy" && parsed && !Array.isArray(parsed)) body = JSON.stringify([parsed]);
  const button = kind === "deploy" ? $("deploy-button") : $("update-button");
  busy(button, true);
  const r = kind === "deploy" ? await api("POST", "/v1/api/app", body) : await api("PUT", "/v1/api/app", body);
  busy(button, false);
  if (r.status !== 200) { showEditorErrors(r); return; }
  const results = Array.isArray(r.body) ? r.body : [r.body];
  const names = results.map((x) => x.name);
  flash(results.map((x) => `${x.message} (v${x.version})`).join("; "));
  await refresh();
  location.hash = names.length === 1 ? "#/app/" + encodeURIComponent(names[0]) : "#/apps";
}

async function scaleCurrent(ev) {
  ev.preventDefault();
  const app = ui.current;
  const n = Number($("scale-input").value);
  const err = $("scale-error");
  err.hidden = true;
  if (!app) return;
  if (!Number.isInteger(n) || n < 0) {
    err.textContent = "Instances must be a whole number, 0 or more.";
    err.hidden = false;
    return;
  }
  const spec = specOf(app);
  spec.instances = n;
  busy($("scale-button"), true);
  const r = await api("PUT", "/v1/api/app?expected_version=" + app.version, JSON.stringify(spec));
  busy($("scale-button"), false);
  if (r.status !== 200) {
    err.textContent = (r.body && r.body.field ? r.body.field + ": " : "") + errorText(r) +
      (r.status === 409 ? " Reload the page to see the latest version." : "");
    err.hidden = false;
    return;
  }
  flash(`${app.name} scaled to ${n} (v${r.body.version}).`);
  await refresh();
}

function killCurrent() {
  const app = ui.current;
  if (!app) return;
  $("kill-text").textContent = `Kill ${app.name}? Its ${liveTasks(app).length} live task(s) are killed and the app is forgotten.`;
  const dialog = $("kill-dialog");
  dialog.returnValue = "";
  dialog.showModal();
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue !== "kill") { $("kill-button").focus(); return; }
    const r = await api("DELETE", "/v1/api/app", JSON.stringify({ name: app.name }));
    const err = $("scale-error");
    if (r.status !== 200) {
      err.textContent = errorText(r);
      err.hidden = false;
      return;
    }
    flash(r.body.message);
    await refresh();
  }, { once: true });
}

// ------------------------------------------------------------------ start

function start() {
  setupToken();
  window.addEventListener("hashchange", () => { $("flash").hidden = true; render(); $("main").focus(); });
  $("search").addEventListener("input", renderApps);
  $("filter").addEventListener("change", renderApps);
  $("editor-form").addEventListener("submit", (ev) => { ev.preventDefault(); submitEditor("deploy"); });
  $("update-button").addEventListener("click", () => submitEditor("update"));
  $("format-button").addEventListener("click", () => {
    try { $("editor").value = JSON.stringify(JSON.parse($("editor").value), null, 2); clearEditorErrors(); }
    catch (e) { showEditorErrors({ status: 400, body: { message: "not valid JSON: " + e.message } }); }
  });
  $("scale-form").addEventListener("submit", scaleCurrent);
  $("edit-button").addEventListener("click", () => {
    if (ui.current) location.hash = "#/deploy?edit=" + encodeURIComponent(ui.current.name);
  });
  $("kill-button").addEventListener("click", killCurrent);
  // Start the watch before the first load: an event landing between the two
  // triggers a refresh instead of being lost.
  watch();
  refresh().then(render);
  // Task, status and cluster changes arrive on the watch; a slow re-read
  // catches what moves none of them (another client's edit of a stuck app).
  setInterval(() => { if (!document.hidden) refresh(); }, SAFETY_REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", start);
