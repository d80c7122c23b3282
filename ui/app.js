// The cluster page: plain JavaScript against the member's own API (same origin, the browser's
// client certificate), no build step and nothing from elsewhere. Polls members, instances and
// metrics every 2 s; events arrive live over /1.0/events.
"use strict";

const POLL_MS = 2000;
const HISTORY_MS = 5 * 60 * 1000;
const history = []; // { t, commit: {location: n}, lag: {follower: n} }
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return e;
}

async function api(path, init = {}) {
  const r = await fetch(path, { credentials: "same-origin", ...init });
  if (path === "/1.0/metrics") {
    if (!r.ok) throw new Error(`${path}: ${r.status}`);
    return await r.text();
  }
  const body = await r.json();
  if (body.type === "error") throw Object.assign(new Error(body.error), { status: body.error_code });
  return body.metadata;
}

/** Prometheus text: [{ name, labels, value }]. */
function parseMetrics(text) {
  const out = [];
  const re = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/;
  const lre = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = re.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] ?? "").matchAll(lre)) labels[l[1]] = l[2].replace(/\\(.)/g, "$1");
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

function renderMembers(members, instances) {
  const count = {};
  for (const i of instances) count[i.location] = (count[i.location] ?? 0) + 1;
  const tbody = $("members").tBodies[0];
  tbody.replaceChildren(...members.map((m) => {
    const leader = m.roles.includes("database-leader");
    const state = m.status.toUpperCase();
    return el(
      "tr",
      { "data-member": m.server_name, "data-state": state, ...(leader ? { "data-leader": "true" } : {}) },
      el(
        "td",
        {},
        m.server_name,
        leader ? el("span", { class: "leader", title: "database leader" }, " ★ leader") : "",
      ),
      el("td", {}, m.url),
      el("td", {}, m.roles.join(", ")),
      el("td", { class: state === "ONLINE" ? "ok" : "bad" }, state),
      el("td", {}, m.message),
      el("td", {}, m.failure_domain),
      el("td", {}, (m.groups ?? []).join(", ")),
      el("td", {}, count[m.server_name] ?? 0),
    );
  }));
}

function renderInstances(instances) {
  $("instances").tBodies[0].replaceChildren(
    ...(instances.length === 0
      ? [el("tr", {}, el("td", { colspan: "4", class: "muted" }, "no instances"))]
      : []),
    ...instances.map((i) =>
      el(
        "tr",
        {},
        el("td", {}, i.name),
        el("td", {}, i.location),
        el("td", { class: i.status === "Running" ? "ok" : "" }, i.status.toUpperCase()),
        el("td", {}, i.type),
      )
    ),
  );
}

function renderRaft(samples) {
  const by = {};
  const get = (name) => samples.filter((s) => s.name === name);
  for (const s of get("shoal_raft_term")) (by[s.labels.location] ??= {}).term = s.value;
  for (const s of get("shoal_raft_commit_index")) (by[s.labels.location] ??= {}).commit = s.value;
  for (const s of get("shoal_raft_applied_index")) (by[s.labels.location] ??= {}).applied = s.value;
  const lag = {};
  for (const s of get("shoal_raft_replication_lag_entries")) lag[s.labels.follower] = s.value;
  $("raft-table").tBodies[0].replaceChildren(
    ...Object.keys(by).sort().map((loc) =>
      el(
        "tr",
        {},
        el("td", {}, loc),
        el("td", {}, by[loc].term ?? ""),
        el("td", {}, by[loc].commit ?? ""),
        el("td", {}, by[loc].applied ?? ""),
        el("td", {}, lag[loc] ?? (loc in lag ? 0 : "—")),
      )
    ),
  );
  const leader = get("shoal_raft_leader").find((s) => s.value === 1)?.labels.location;
  const now = Date.now();
  history.push({ t: now, commit: leader ? by[leader]?.commit ?? null : null, lag });
  while (history.length && history[0].t < now - HISTORY_MS) history.shift();
  const rate = [];
  for (let i = 1; i < history.length; i++) {
    const a = history[i - 1], b = history[i];
    if (a.commit !== null && b.commit !== null) {
      rate.push({ t: b.t, v: Math.max(0, (b.commit - a.commit) / ((b.t - a.t) / 1000)) });
    }
  }
  chart($("chart-rate"), { commits: rate }, now);
  const lines = {};
  for (const h of history) for (const [f, v] of Object.entries(h.lag)) (lines[f] ??= []).push({ t: h.t, v });
  chart($("chart-lag"), lines, now);
}

const COLORS = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2"];

/** A small SVG line chart of series over the last HISTORY_MS. */
function chart(svg, series, now) {
  const W = 300, H = 80;
  const all = Object.values(series).flat();
  const max = Math.max(1, ...all.map((p) => p.v));
  const x = (t) => (W * (t - (now - HISTORY_MS)) / HISTORY_MS).toFixed(1);
  const y = (v) => (H - 4 - (H - 14) * v / max).toFixed(1);
  const ns = "http://www.w3.org/2000/svg";
  const nodes = [];
  Object.entries(series).forEach(([name, pts], i) => {
    const p = document.createElementNS(ns, "polyline");
    p.setAttribute("fill", "none");
    p.setAttribute("stroke", COLORS[i % COLORS.length]);
    p.setAttribute("stroke-width", "1.5");
    p.setAttribute("points", pts.map((q) => `${x(q.t)},${y(q.v)}`).join(" "));
    nodes.push(p);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", String(4 + 70 * i));
    label.setAttribute("y", "10");
    label.setAttribute("font-size", "9");
    label.setAttribute("fill", COLORS[i % COLORS.length]);
    label.textContent = `${name} ${pts.length ? Math.round(pts[pts.length - 1].v) : ""}`;
    nodes.push(label);
  });
  const top = document.createElementNS(ns, "text");
  top.setAttribute("x", String(W - 4));
  top.setAttribute("y", "10");
  top.setAttribute("font-size", "9");
  top.setAttribute("text-anchor", "end");
  top.setAttribute("fill", "#8a919c");
  top.textContent = `max ${Math.round(max)}`;
  nodes.push(top);
  svg.replaceChildren(...nodes);
}

function addEvent(e) {
  const list = $("events");
  const what = e.type === "lifecycle"
    ? `${e.metadata.action} ${e.metadata.source}`
    : e.type === "operation"
    ? `${e.metadata.description} ${e.metadata.status}`
    : `${e.metadata.level}: ${e.metadata.message}`;
  list.prepend(el("li", {}, `${e.timestamp.slice(11, 19)} ${e.location ?? ""} ${e.type} ${what}`));
  while (list.children.length > 50) list.lastChild.remove();
}

function connectEvents() {
  const ws = new WebSocket(`wss://${location.host}/1.0/events?type=lifecycle,operation,logging`);
  ws.onopen = () => ($("events-state").textContent = "live");
  ws.onmessage = (m) => {
    try {
      const e = JSON.parse(m.data);
      if (e.type === "logging" && e.metadata.level === "debug") return;
      addEvent(e);
    } catch { /* not an event */ }
  };
  ws.onclose = () => {
    $("events-state").textContent = "reconnecting…";
    setTimeout(connectEvents, 3000);
  };
}

async function poll() {
  try {
    const [members, instances, metrics] = await Promise.all([
      api("/1.0/cluster/members?recursion=1"),
      api("/1.0/instances?recursion=1"),
      api("/1.0/metrics"),
    ]);
    renderMembers(members, instances);
    renderInstances(instances);
    renderRaft(parseMetrics(metrics));
    $("status").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    $("status").textContent = `not updated: ${e.message}`;
  }
}

async function trustWithToken(ev) {
  ev.preventDefault();
  try {
    await api("/1.0/certificates", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ type: "client", password: $("token").value.trim() }),
    });
    location.reload();
  } catch (e) {
    $("login-error").textContent = e.message;
  }
}

async function main() {
  $("token-form").addEventListener("submit", trustWithToken);
  const server = await api("/1.0");
  if (server.auth !== "trusted") {
    $("login").hidden = false;
    $("status").textContent = "not trusted";
    return;
  }
  $("server").textContent = `· ${server.environment.server_name}`;
  connectEvents();
  await poll();
  setInterval(poll, POLL_MS);
}

main().catch((e) => ($("status").textContent = `error: ${e.message}`));
