// distrod console: a hash-routed single page, no framework, no build step.
// Every read goes to the console API (/distrod/console/...), every change
// to the open API (cp/v1/ns/instance), with the login token when auth is on.

const cp = document.body.dataset.contextPath || "";
const main = document.getElementById("main");
const alertBox = document.getElementById("alert");
const TOKEN = "distrod.accessToken";
const USER = "distrod.username";
let info = { authEnabled: false };
let timer = null; // the current page's refresh timer
let generation = 0; // bumps on every navigation: stale answers are dropped

// h builds an element: h("a", {href: "#"}, "text", child...).
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === undefined || kid === null || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

function showError(msg) {
  alertBox.textContent = msg;
  alertBox.hidden = !msg;
}

class HTTPError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}

// call sends one request and returns its parsed answer; a failure throws
// an HTTPError whose message is the server's own words.
async function call(method, url, params = {}, body = null) {
  const q = new URLSearchParams(params);
  const token = sessionStorage.getItem(TOKEN);
  if (token) q.set("accessToken", token);
  const init = { method, headers: {} };
  if (body) {
    init.body = new URLSearchParams(body);
    init.headers["Content-Type"] = "application/x-www-form-urlencoded";
  }
  let res;
  try {
    res = await fetch(url + "?" + q.toString(), init);
  } catch (e) {
    throw new HTTPError(0, "cannot reach the server: " + e.message);
  }
  const text = await res.text();
  let data = text;
  try { data = JSON.parse(text); } catch { /* plain text answer */ }
  if (!res.ok) {
    let msg = typeof data === "string" ? data : (data.message || data.error || data.data || text);
    if (res.status === 403 && info.authEnabled) msg = "not allowed (" + msg + "): log in as an administrator";
    throw new HTTPError(res.status, `${res.status} ${res.statusText}: ${msg}`);
  }
  return data;
}

const consoleAPI = (path, params) => call("GET", "/distrod/console/" + path, params);

// needLogin sends the user to the login page when the token is missing,
// expired or invalid; a valid token without the right role stays, and the
// page shows the refusal.
function needLogin(err) {
  const tokenProblem = !sessionStorage.getItem(TOKEN) || /token|user not found/i.test(err.message);
  if (info.authEnabled && (err.status === 401 || err.status === 403) && tokenProblem) {
    sessionStorage.removeItem(TOKEN);
    location.hash = "#/login";
    return true;
  }
  return false;
}

// refresh runs load now and every ms milliseconds while the page stays.
function refresh(ms, load) {
  const gen = generation;
  const tick = async () => {
    if (gen !== generation) return;
    try {
      await load(gen);
      if (gen === generation) showError("");
    } catch (e) {
      if (gen !== generation || needLogin(e)) return;
      showError(e.message);
    }
    if (gen === generation && ms > 0) timer = setTimeout(tick, ms);
  };
  tick();
}

function parseHash() {
  const [path, qs] = location.hash.replace(/^#\/?/, "").split("?");
  return { page: path || "namespaces", q: new URLSearchParams(qs || "") };
}

function link(page, params, text) {
  return h("a", { href: "#/" + page + "?" + new URLSearchParams(params).toString() }, text);
}

function setTitle(text) {
  document.title = text + " · distrod";
  main.replaceChildren(h("h1", {}, text));
}

function table(headers, rows, caption) {
  return h("table", {},
    caption ? h("caption", { class: "muted" }, caption) : null,
    h("thead", {}, h("tr", {}, headers.map(([t, cls]) => h("th", { scope: "col", class: cls }, t)))),
    h("tbody", {}, rows));
}

const nsLabel = (ns) => ns === "public" || ns === "" ? "public" : ns;

// ---- pages ----

function loginPage() {
  setTitle("Log in");
  const err = h("p", { class: "no", role: "status" });
  const form = h("form", { class: "card" },
    h("label", {}, "Username", h("input", { name: "username", autocomplete: "username", required: true })),
    h("label", {}, "Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    h("p", {}, h("button", { type: "submit" }, "Log in")), err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const fd = new FormData(form);
    try {
      const r = await call("POST", cp + "/v1/auth/users/login", {}, { username: fd.get("username"), password: fd.get("password") });
      sessionStorage.setItem(TOKEN, r.accessToken);
      sessionStorage.setItem(USER, r.username || fd.get("username"));
      updateUser();
      location.hash = "#/namespaces";
    } catch (e) {
      err.textContent = e.status === 403 || e.status === 401 ? "Wrong username or password." : e.message;
    }
  });
  main.append(form);
  form.querySelector("input").focus();
}

function namespacesPage() {
  setTitle("Namespaces");
  main.append(h("p", { class: "muted" }, "Namespaces exist while they hold services."));
  const slot = h("div");
  main.append(slot);
  refresh(5000, async (gen) => {
    const r = await consoleAPI("namespaces");
    if (gen !== generation) return;
    const rows = r.namespaces.map((n) => h("tr", {},
      h("td", {}, link("services", { ns: n.namespace }, nsLabel(n.namespace))),
      h("td", { class: "num" }, n.services), h("td", { class: "num" }, n.instances),
      h("td", { class: "num" }, n.healthy)));
    if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: 4 }, "No services registered yet.")));
    slot.replaceChildren(table([["Namespace"], ["Services", "num"], ["Instances", "num"], ["Healthy", "num"]], rows));
  });
}

function servicesPage(q) {
  const ns = q.get("ns") || "public";
  const pageNo = Number(q.get("page") || 1);
  setTitle("Services in " + nsLabel(ns));
  const form = h("form", { class: "filters", role: "search" },
    h("label", {}, "Namespace", h("input", { name: "ns", value: ns })),
    h("label", {}, "Service name contains", h("input", { name: "name", value: q.get("name") || "", type: "search" })),
    h("label", {}, "Group contains", h("input", { name: "group", value: q.get("group") || "", type: "search" })),
    h("label", { class: "inline" }, h("input", { type: "checkbox", name: "empty", checked: q.get("empty") === "true" }), "Only empty services"),
    h("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const fd = new FormData(form);
    const p = { ns: fd.get("ns") || "public", name: fd.get("name"), group: fd.get("group") };
    if (fd.get("empty")) p.empty = "true";
    location.hash = "#/services?" + new URLSearchParams(p).toString();
  });
  const slot = h("div");
  main.append(form, slot);
  refresh(5000, async (gen) => {
    const r = await consoleAPI("services", { namespaceId: ns, name: q.get("name") || "", group: q.get("group") || "",
      empty: q.get("empty") || "", pageNo, pageSize: 20 });
    if (gen !== generation) return;
    const rows = r.services.map((s) => h("tr", { class: s.instances > 0 && s.healthy === 0 ? "bad" : null },
      h("td", {}, link("service", { ns, group: s.group, name: s.name }, s.name)),
      h("td", {}, s.group), h("td", { class: "num" }, s.clusters),
      h("td", { class: "num" }, s.instances),
      h("td", { class: "num" }, s.healthy)));
    if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: 5 }, "No service matches.")));
    const pages = Math.max(1, Math.ceil(r.count / r.pageSize));
    const go = (n) => { const p = new URLSearchParams(q); p.set("page", n); location.hash = "#/services?" + p.toString(); };
    slot.replaceChildren(
      table([["Service"], ["Group"], ["Clusters", "num"], ["Instances", "num"], ["Healthy", "num"]], rows),
      h("nav", { class: "pager", "aria-label": "Pages" },
        h("button", { type: "button", class: "plain", disabled: pageNo <= 1, onclick: () => go(pageNo - 1) }, "Previous"),
        h("span", {}, `Page ${pageNo} of ${pages} · ${r.count} services`),
        h("button", { type: "button", class: "plain", disabled: pageNo >= pages, onclick: () => go(pageNo + 1) }, "Next")));
  });
}

function instanceParams(svc, inst) {
  return { namespaceId: svc.namespace, groupName: svc.group, serviceName: svc.name,
    ip: inst.ip, port: inst.port, clusterName: inst.cluster, ephemeral: "true" };
}

async function change(method, svc, inst, extra, reload) {
  try {
    await call(method, cp + "/v1/ns/instance", {}, { ...instanceParams(svc, inst), ...extra });
    showError("");
  } catch (e) {
    if (!needLogin(e)) showError(`Changing ${inst.ip}:${inst.port} failed: ${e.message}`);
  }
  reload();
}

function editDialog(svc, inst, reload) {
  const dlg = h("dialog", { "aria-labelledby": "edit-title" });
  const form = h("form", { method: "dialog" },
    h("h2", { id: "edit-title" }, `Edit ${inst.ip}:${inst.port}`),
    h("label", {}, "Weight (0 to 10000)", h("input", { name: "weight", type: "number", min: 0, max: 10000, step: "any", value: inst.weight, required: true })),
    h("label", {}, "Metadata (JSON object)", h("textarea", { name: "metadata", rows: 6, cols: 40 }, JSON.stringify(inst.metadata, null, 1))),
    h("p", { class: "no", role: "status" }),
    h("div", { class: "actions" },
      h("button", { type: "submit" }, "Save"),
      h("button", { type: "button", class: "plain", onclick: () => dlg.close() }, "Cancel")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const fd = new FormData(form);
    try { JSON.parse(fd.get("metadata") || "{}"); } catch (e) {
      form.querySelector("[role=status]").textContent = "Metadata is not valid JSON: " + e.message;
      return;
    }
    dlg.close();
    await change("PATCH", svc, inst, { weight: fd.get("weight"), metadata: fd.get("metadata") || "{}" }, reload);
  });
  dlg.append(form);
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
}

function servicePage(q) {
  const key = { namespaceId: q.get("ns") || "public", groupName: q.get("group") || "DEFAULT_GROUP", serviceName: q.get("name") || "" };
  setTitle("Service " + key.serviceName);
  main.append(h("p", {}, link("services", { ns: key.namespaceId }, "← all services in " + nsLabel(key.namespaceId)),
    h("span", { class: "live", id: "updated" })));
  const slot = h("div");
  main.append(slot);
  let reload = () => {};
  // The service and its subscribers on every member, fetched together.
  const load = async (gen) => {
    const [svc, subs] = await Promise.all([consoleAPI("service", key), consoleAPI("subscribers", key)]);
    if (gen === generation) draw(svc, subs.nodes);
  };
  reload = () => refresh(0, load);
  refresh(3000, load);
  function draw(svc, subNodes) {
    if (slot.contains(document.activeElement) && document.activeElement.tagName !== "BODY") {
      // Keep the keyboard user's place: redraw, then focus the same control.
      var focusKey = document.activeElement.dataset.key;
    }
    const rows = svc.instances.map((i) => {
      const id = `${i.ip}:${i.port}/${i.cluster}`;
      const why = i.editable ? null : `Registered over gRPC connection ${i.client}: the 2.x SDK client owns it; change it from the application.`;
      const whyId = why ? "why-" + id.replace(/[^a-zA-Z0-9]/g, "-") : null;
      return h("tr", { class: i.healthy ? null : "bad", "data-instance": `${i.ip}:${i.port}` },
        h("td", {}, `${i.ip}:${i.port}`), h("td", {}, i.cluster), h("td", { class: "num" }, i.weight),
        h("td", {}, h("span", { class: "tag " + (i.healthy ? "ok" : "no") }, i.healthy ? "healthy" : "unhealthy")),
        h("td", {}, h("span", { class: "tag " + (i.enabled ? "ok" : "warn") }, i.enabled ? "enabled" : "disabled")),
        h("td", {}, i.ephemeral ? "yes" : "no"),
        h("td", { class: "kv" }, Object.entries(i.metadata).map(([k, v]) => h("div", {}, `${k}=${v}`))),
        h("td", {}, i.owner || "?"),
        h("td", {}, h("span", { class: "tag" }, i.via || "?"), " ", h("span", { class: "kv" }, i.client)),
        h("td", {}, h("div", { class: "actions" },
          h("button", { type: "button", class: "plain", disabled: !i.editable, title: why, "aria-describedby": whyId, "data-key": id + "/toggle",
            "aria-label": `${i.enabled ? "Disable" : "Enable"} ${i.ip}:${i.port}`,
            onclick: () => change("PATCH", svc, i, { enabled: String(!i.enabled) }, reload) }, i.enabled ? "Disable" : "Enable"),
          h("button", { type: "button", class: "plain", disabled: !i.editable, title: why, "aria-describedby": whyId, "data-key": id + "/edit",
            "aria-label": `Edit ${i.ip}:${i.port}`, onclick: () => editDialog(svc, i, reload) }, "Edit"),
          h("button", { type: "button", class: "danger", disabled: !i.editable, title: why, "aria-describedby": whyId, "data-key": id + "/del",
            "aria-label": `Deregister ${i.ip}:${i.port}`,
            onclick: () => { if (confirm(`Deregister ${i.ip}:${i.port}?`)) change("DELETE", svc, i, {}, reload); } }, "Deregister")),
          why ? h("div", { class: "muted", id: whyId }, "Read-only: a gRPC (2.x SDK) client owns it; change it from the application.") : null));
    });
    if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: 10 }, "This service has no instances.")));
    const subs = [];
    for (const n of subNodes) {
      if (n.error) {
        subs.push(h("tr", { class: "bad", "data-subscriber-node": n.node }, h("td", {}, n.node),
          h("td", { colspan: 4 }, "cannot ask this member: " + n.error)));
        continue;
      }
      for (const s of n.subscribers) {
        subs.push(h("tr", { "data-subscriber-node": n.node }, h("td", {}, n.node), h("td", { class: "kv" }, s.target),
          h("td", {}, s.via), h("td", {}, s.clusters || "all"), h("td", {}, s.agent || "")));
      }
    }
    if (!subs.length) subs.push(h("tr", {}, h("td", { colspan: 5 }, "Nobody subscribes to this service.")));
    slot.replaceChildren(
      h("dl", { class: "facts" },
        h("dt", {}, "Namespace"), h("dd", {}, nsLabel(svc.namespace)),
        h("dt", {}, "Group"), h("dd", {}, svc.group),
        h("dt", {}, "Clusters"), h("dd", {}, svc.clusters.join(", ") || "none"),
        h("dt", {}, "Protect threshold"), h("dd", {}, svc.protectThreshold,
          svc.reachProtectionThreshold ? h("span", { class: "warn" }, " (reached: clients get every instance)") : ""),
        h("dt", {}, "Metadata"), h("dd", { class: "kv" }, JSON.stringify(svc.metadata))),
      h("h2", {}, `Instances (${svc.instances.length})`),
      table([["Address"], ["Cluster"], ["Weight", "num"], ["Health"], ["State"], ["Ephemeral"], ["Metadata"], ["Owner node"], ["Registered by"], ["Actions"]], rows),
      h("h2", {}, "Subscribers"),
      table([["Member"], ["Connection or address"], ["Via"], ["Clusters"], ["User agent"]], subs,
        "Clients get pushes from the member they are connected to."));
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    if (focusKey) slot.querySelector(`[data-key="${CSS.escape(focusKey)}"]`)?.focus();
  }
}

function clusterPage() {
  setTitle("Cluster");
  main.append(h("p", { class: "muted" }, "Each member's own /distrod/status, read by this node every 3 seconds.",
    h("span", { class: "live", id: "updated" })));
  const slot = h("div");
  main.append(slot);
  refresh(3000, async (gen) => {
    const r = await consoleAPI("cluster");
    if (gen !== generation) return;
    const ms = (v) => v ? v.toFixed(0) + " ms" : "0";
    const rows = r.nodes.map((n) => {
      const st = n.status;
      if (!st) {
        return h("tr", { class: "bad", "data-node": n.address }, h("th", { scope: "row" }, n.address),
          h("td", { colspan: 8 }, h("span", { class: "tag no" }, "unreachable"), " ", n.error));
      }
      const d = st.distro || {};
      const peers = d.peers || [];
      const pending = peers.reduce((a, p) => a + p.pending, 0);
      const oldest = peers.reduce((a, p) => Math.max(a, p.oldestPendingMs), 0);
      const snap = d.snapshot || {};
      const snapText = !d.snapshot ? "n/a" : st.ready ? `loaded (${snap.done} peers, ${snap.records} records)` :
        `loading: ${snap.loading} peers streaming, ${snap.done} done, ${snap.gaveUp} gave up`;
      const views = (st.members || []).map((m) => `${m.address} ${m.state}`).join(", ");
      const bad = !st.ready || n.digestDiffers;
      return h("tr", { class: bad ? "bad" : null, "data-node": n.address },
        h("th", { scope: "row" }, n.address, n.self ? h("span", { class: "muted" }, " (this node)") : ""),
        h("td", {}, h("span", { class: "tag " + (st.ready ? "ok" : "no") }, st.ready ? "ready" : "not ready")),
        h("td", { class: "num" }, d.owned ?? st.instances),
        h("td", { class: "num" }, `${st.services} / ${st.instances} / ${st.clients}`),
        h("td", { class: "num" }, `${pending} keys, oldest ${ms(oldest)}`),
        h("td", { class: "num" }, `${d.verifyRoundsSent ?? 0} rounds, ${d.repairsPulled ?? 0} repairs`),
        h("td", {}, snapText),
        h("td", { class: "kv" }, st.digest, n.digestDiffers ? h("div", { class: "no" }, "differs from most members") : ""),
        h("td", {}, st.version || "", h("div", { class: "muted" }, views)));
    });
    slot.replaceChildren(table([["Member"], ["State"], ["Records owned", "num"], ["Services / instances / clients", "num"],
      ["Sync lag", "num"], ["Verify", "num"], ["Snapshot"], ["Digest"], ["Version and member view"]], rows));
    document.getElementById("updated").textContent = " Updated " + new Date().toLocaleTimeString() + ".";
  });
}

// ---- shell ----

function updateUser() {
  const u = sessionStorage.getItem(USER);
  document.getElementById("who").textContent = info.authEnabled && u ? "signed in as " + u : "";
  document.getElementById("logout").hidden = !(info.authEnabled && sessionStorage.getItem(TOKEN));
}

function route() {
  generation++;
  clearTimeout(timer);
  showError("");
  const { page, q } = parseHash();
  if (info.authEnabled && !sessionStorage.getItem(TOKEN) && page !== "login") {
    location.hash = "#/login";
    return;
  }
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === page || (page === "service" && a.dataset.nav === "services")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const pages = { login: loginPage, namespaces: namespacesPage, services: servicesPage, service: servicePage, cluster: clusterPage };
  (pages[page] || namespacesPage)(q);
  updateUser();
}

document.getElementById("logout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(USER);
  location.hash = "#/login";
});

window.addEventListener("hashchange", route);
try {
  info = await call("GET", "/distrod/console/info");
} catch (e) {
  showError(e.message);
}
route();
