// The field page: token once, list, detail with chart, acknowledge and resolve.
// Data only ever goes into the DOM through textContent / attributes (no HTML injection).
"use strict";
const KEY = "envmon.token", BY = "envmon.by";
const $ = (id) => document.getElementById(id);
const SEV = { info: "提示", warning: "警告", critical: "严重" };
const STATUS = { open: "待确认", acknowledged: "已确认", dispatched: "已派单", resolved: "已处置",
                 closed: "已关闭" };
const ACTION = { raised: "产生预警", reopened: "再次出现", cleared: "数据恢复正常",
                 severity_changed: "级别变化", acknowledge: "确认接收", dispatch: "派单",
                 resolve: "处置完成", close: "关闭", reopen: "重新打开", escalate: "超时升级",
                 comment: "备注", notified: "已通知", notify_failed: "通知失败" };

function cst(iso) {
  if (!iso) return "";
  const d = new Date(new Date(iso).getTime() + 8 * 3600e3);
  const p = (n) => String(n).padStart(2, "0");
  return `${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`;
}

async function api(path, opts = {}) {
  const headers = { Authorization: "Bearer " + localStorage.getItem(KEY) };
  if (opts.body) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { ...opts, headers });
  if (r.status === 401) { localStorage.removeItem(KEY); show("login"); throw new Error("令牌无效"); }
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const d = data.detail;
    throw new Error(typeof d === "string" ? d : JSON.stringify(d));
  }
  return data;
}

function show(which) {
  for (const s of ["login", "list", "detail"]) $(s).hidden = s !== which;
}

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function card(a) {
  const li = el("li", { class: `card alert-card ${a.severity}`, "data-id": a.id });
  const link = el("a", { href: "#" + encodeURIComponent(a.id) });
  link.append(el("div", { class: "t" }, `${a.kind_zh} · ${a.station_name}`));
  link.append(el("div", { class: "s" },
    `${SEV[a.severity]} · ${STATUS[a.status]} · 自 ${cst(a.start)}` + (a.active ? "" : " · 已恢复")));
  li.append(link);
  return li;
}

async function renderList() {
  show("list");
  const alerts = await api("/api/v1/alerts?limit=200");
  const open = alerts.filter((a) => ["open", "acknowledged", "dispatched"].includes(a.status));
  const done = alerts.filter((a) => !open.includes(a)).slice(0, 30);
  $("open-alerts").replaceChildren(...open.map(card));
  $("done-alerts").replaceChildren(...done.map(card));
  $("no-open").hidden = open.length > 0;
}

function chart(data, alert) {
  const W = 340, H = 160, L = 8, R = 8, T = 8, B = 20;
  const t0 = Date.parse(data.start), t1 = Date.parse(data.end);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  const ns = (tag, attrs, text) => {
    const e = document.createElementNS(svg.namespaceURI, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e); return e;
  };
  const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - R);
  const a0 = Date.parse(data.alert_start), a1 = data.alert_end ? Date.parse(data.alert_end) : t1;
  ns("rect", { x: x(a0), y: T, width: Math.max(2, x(a1) - x(a0)), height: H - T - B,
               fill: "#cf222e", "fill-opacity": "0.10" });
  const colors = ["#0b5cab", "#bf8700", "#1a7f37", "#8250df"];
  const names = Object.keys(data.series);
  if (!names.length) ns("text", { x: W / 2, y: H / 2, "text-anchor": "middle", fill: "#8c959f" }, "暂无数据");
  names.forEach((p, i) => {
    const pts = data.series[p];
    const vs = pts.map((q) => q[1]);
    const lo = Math.min(...vs), hi = Math.max(...vs), span = hi - lo || 1;
    const y = (v) => H - B - ((v - lo) / span) * (H - T - B);
    const d = pts.map((q, k) => `${k ? "L" : "M"}${x(Date.parse(q[0])).toFixed(1)},${y(q[1]).toFixed(1)}`).join("");
    ns("path", { d, fill: "none", stroke: colors[i % 4], "stroke-width": 1.6, class: `line-${p}` });
    // one legend line per parameter, stacked top-left, so long labels never overlap
    ns("text", { x: L + 2, y: T + 10 + i * 13, fill: colors[i % 4], "font-size": 11 },
       `${data.labels[p] || p} ${lo.toFixed(1)}–${hi.toFixed(1)} ${data.units[p] || ""}`);
  });
  ns("text", { x: L, y: H - 6, "font-size": 10, fill: "#57606a" }, cst(data.start).slice(6));
  ns("text", { x: W - R, y: H - 6, "font-size": 10, fill: "#57606a", "text-anchor": "end" }, cst(data.end).slice(6));
  return svg;
}

async function renderDetail(id) {
  show("detail");
  $("message").textContent = ""; $("message").className = "";
  const [a, audit] = await Promise.all([api(`/api/v1/alerts/${encodeURIComponent(id)}`),
                                        api(`/api/v1/alerts/${encodeURIComponent(id)}/audit`)]);
  $("detail").dataset.id = a.id;
  $("d-title").textContent = `${a.kind_zh} · ${a.station_name}`;
  $("d-severity").textContent = SEV[a.severity];
  $("d-severity").className = "sev " + a.severity;
  $("status").textContent = STATUS[a.status] + (a.active ? "" : "（数据已恢复）");
  $("status").dataset.status = a.status;
  const facts = [["站点", `${a.station_name}（${a.station}）`], ["河流", a.river || "—"],
    ["指标", Object.values(a.parameter_labels).join("、")], ["开始", cst(a.start)],
    ["最近", cst(a.last_seen || a.start)]];
  if (a.suspected_source) facts.push(["疑似来源",
    (a.suspected_source_name || a.suspected_source) +
    (a.confidence != null ? `（置信度 ${Math.round(a.confidence * 100)}%）` : "")]);
  if (a.message) facts.push(["说明", a.message]);
  if (a.cause_zh) facts.push(["原因", a.cause_zh]);
  if (a.resolution_note) facts.push(["反馈", a.resolution_note]);
  $("d-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  $("btn-ack").hidden = a.status !== "open";
  $("resolve-form").hidden = !["acknowledged", "dispatched"].includes(a.status);
  $("audit").replaceChildren(...audit.map((e) => el("li", { "data-action": e.action },
    `${cst(e.at)} ${ACTION[e.action] || e.action} · ${e.actor}` + (e.note ? ` · ${e.note}` : ""))));
  api(`/api/v1/alerts/${encodeURIComponent(id)}/series`)
    .then((s) => $("chart").replaceChildren(chart(s, a)))
    .catch((err) => $("chart").replaceChildren(el("p", { class: "muted" }, "曲线加载失败：" + err.message)));
}

async function loadCauses() {
  const causes = await api("/api/v1/causes");
  $("resolve-cause").replaceChildren(el("option", { value: "" }, "请选择"),
    ...causes.map((c) => el("option", { value: c.code }, c.label)));
}

async function act(action, body) {
  const id = $("detail").dataset.id;
  const by = localStorage.getItem(BY);
  try {
    await api(`/api/v1/alerts/${encodeURIComponent(id)}/${action}`,
              { method: "POST", body: JSON.stringify({ ...body, ...(by ? { by } : {}) }) });
    await renderDetail(id);
    $("message").textContent = action === "resolve" ? "已提交处置反馈" : "已确认";
    $("message").className = "ok";
  } catch (err) {
    $("message").textContent = err.message;
  }
}

async function route() {
  if (!localStorage.getItem(KEY)) { show("login"); return; }
  try {
    const me = await api("/api/v1/me");
    $("who").textContent = `${me.jurisdictions_zh.join("、")} · ${me.name}`;
    const id = decodeURIComponent(location.hash.slice(1));
    if (id) { await loadCauses(); await renderDetail(id); } else await renderList();
  } catch (err) {
    if (!$("login").hidden) return;
    $("message").textContent = err.message;
  }
}

$("token-save").addEventListener("click", () => {
  const t = $("token-input").value.trim();
  if (!t) return;
  localStorage.setItem(KEY, t);
  const by = $("by-input").value.trim();
  if (by) localStorage.setItem(BY, by);
  $("token-input").value = "";
  route();
});
$("btn-ack").addEventListener("click", () => act("acknowledge", {}));
$("resolve-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const cause = $("resolve-cause").value, note = $("resolve-note").value.trim();
  if (!cause || !note) { $("message").textContent = "请选择原因并填写处置反馈"; return; }
  act("resolve", { cause, note });
});
window.addEventListener("hashchange", route);
route();
