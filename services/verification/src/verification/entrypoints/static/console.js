// The desk console (DESIGN §2 step 5): support staff claim cases, look at the recipient's
// documents, fill the checklist of the sender's policy, call the firm back and decide.
//
// Plain ES module under the page's Content-Security-Policy (script and style from this
// origin only): no inline script or style, and text from the API always goes in as text
// (textContent), never as HTML. Every datum comes from the desk's JSON API with the agent's
// session cookie and its CSRF token; the policy's rules stay on the server (the checklist is
// checked by `POST /cases/{id}/checklist/check` as the agent types).

const API = "/desk/api";
const LANGUAGES = ["fr", "en"];
const LANGUAGE_KEY = "lre-desk-language";
const SHORTCUTS_KEY = "lre-desk-shortcuts";
// The queue is polled, not pushed: a GET every few seconds with If-None-Match is answered
// 304 (no body) while no case moves, works through every proxy and load balancer as it is,
// holds no connection per open console, and needs nothing of the service but the ETag. The
// ages tick on the client, counted from the server's clock of the last full answer.
const POLL_MS = 5000;
// What the console asks on its own (the queue's poll) says so: the server does not count it as
// the agent's activity, so a console left open still signs out when idle (and its next poll,
// refused, says the session ended). What the agent does goes without it and counts.
const BACKGROUND = { "x-desk-background": "1" };
const CHECK_DELAY_MS = 350;
const PARIS = "Europe/Paris";
const DESK_STATES = ["pending", "in_review"]; // waiting for the desk, not for the recipient
const KINDS = ["identity", "company_extract", "bar_certificate"];
const POLICY_KINDS = { default: ["identity"], cnb: ["identity", "company_extract", "bar_certificate"] };

const $ = (id) => document.getElementById(id);
let language = "fr";
let messages = {};
let session = null;
let pollTimer = null;
let checkTimer = null;
let lineCount = 0;
let pendingNotice = "";
const queue = { etag: null, cases: [], offset: 0, target: 30, rows: new Map() };

// ------------------------------------------------------------------ text

function t(key, values = {}) {
  const text = messages[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

async function loadLanguage(chosen) {
  const response = await fetch(`/desk/console.${chosen}.json`, { credentials: "same-origin" });
  messages = await response.json();
  language = chosen;
  document.documentElement.lang = chosen;
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  for (const node of document.querySelectorAll("[data-t-label]")) node.setAttribute("aria-label", t(node.dataset.tLabel));
  const other = chosen === "fr" ? "en" : "fr";
  const button = $("language");
  button.textContent = t("language.switch");
  button.lang = other;
  button.setAttribute("aria-label", t("language.switch.label"));
  renderShortcuts();
}

function firstLanguage() {
  const stored = localStorage.getItem(LANGUAGE_KEY);
  if (LANGUAGES.includes(stored)) return stored;
  return (navigator.language || "fr").toLowerCase().startsWith("fr") ? "fr" : "en";
}

function locale() {
  return language === "fr" ? "fr-FR" : "en-GB";
}

function when(iso) {
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short", timeZone: PARIS }).format(new Date(iso));
}

function duration(seconds) {
  const minutes = Math.max(0, Math.floor(seconds / 60));
  if (minutes < 60) return t("duration.minutes", { m: minutes });
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return t("duration.hours", { h: hours, m: String(minutes % 60).padStart(2, "0") });
  return t("duration.days", { d: Math.floor(hours / 24), h: hours % 24 });
}

function announce(text) {
  const live = $("announce");
  live.textContent = "";
  // A fresh node each time: screen readers announce a repeated message again.
  window.setTimeout(() => { live.textContent = text; }, 50);
}

// ------------------------------------------------------------------ elements

function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function heading(text) {
  return h("h1", { id: "view-title", tabindex: "-1", text });
}

// On every change of view the focus goes to its heading and the title says where the agent is.
function show(...nodes) {
  const main = $("main");
  main.replaceChildren(...nodes.filter(Boolean));
  const title = $("view-title");
  document.title = (title ? title.textContent + " — " : "") + t("brand");
  if (title) title.focus();
}

function field(label, control, hint) {
  const id = control.id;
  const nodes = [h("label", { for: id, text: label }), control];
  if (hint) {
    const hintId = id + "-hint";
    control.setAttribute("aria-describedby", [control.getAttribute("aria-describedby"), hintId].filter(Boolean).join(" "));
    nodes.splice(1, 0, h("span", { class: "hint", id: hintId, text: hint }));
  }
  return h("div", { class: "field" }, nodes);
}

function setError(control, text) {
  const id = control.id + "-error";
  let node = $(id);
  if (!text) {
    control.removeAttribute("aria-invalid");
    if (node) node.remove();
    return;
  }
  if (!node) {
    node = h("p", { class: "error", id });
    control.after(node);
    const described = (control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    if (!described.includes(id)) control.setAttribute("aria-describedby", [...described, id].join(" "));
  }
  node.textContent = text;
  control.setAttribute("aria-invalid", "true");
}

// ------------------------------------------------------------------ the API

class Refusal extends Error {
  constructor(status, body) {
    // Problem details (RFC 9457): `detail`, and what a decision lacks or which field is wrong.
    const more = (body.unmet_rules && body.unmet_rules.map(unmetText)) || body.problems || Object.entries(body.errors || {}).map(([name, why]) => `${name}: ${why.join(", ")}`);
    super((body.detail || body.title || String(status)) + (more.length ? ` (${more.join("; ")})` : ""));
    this.status = status;
    this.body = body;
  }
}

class SignedOut extends Error {}

async function api(method, path, body, extraHeaders = {}) {
  const headers = { accept: "application/json", "x-csrf-token": session ? session.csrf_token : "", ...extraHeaders };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(API + path, {
    method,
    credentials: "same-origin",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    signedOut(true);
    throw new SignedOut();
  }
  if (response.status === 304) return { notModified: true, response };
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Refusal(response.status, data);
  return Object.assign(data, { response });
}

function failed(error, where) {
  if (error instanceof SignedOut) return;
  const text = t("error.refused", { detail: error.message });
  if (where) {
    where.textContent = text;
    where.hidden = false;
  }
  announce(text);
}

// ------------------------------------------------------------------ session

async function start() {
  await loadLanguage(firstLanguage());
  $("language").addEventListener("click", switchLanguage);
  $("shortcuts-on").checked = localStorage.getItem(SHORTCUTS_KEY) !== "off";
  $("shortcuts-on").addEventListener("change", (event) => {
    localStorage.setItem(SHORTCUTS_KEY, event.target.checked ? "on" : "off");
  });
  document.addEventListener("keydown", shortcut);
  window.addEventListener("hashchange", route);
  document.addEventListener("visibilitychange", () => { if (!document.hidden && pollTimer) pollQueue(true); });
  const response = await fetch("/desk/auth/session", { credentials: "same-origin", headers: { accept: "application/json" } });
  if (!response.ok) {
    signedOut(false);
    return;
  }
  session = await response.json();
  $("who").textContent = t("who", { name: session.name || session.subject });
  $("who").hidden = false;
  $("signout-csrf").value = session.csrf_token;
  $("signout").hidden = false;
  $("nav").hidden = false;
  $("nav-triage-item").hidden = !isSupervisor();
  $("shortcuts-help").hidden = false;
  route();
}

function isSupervisor() {
  return Boolean(session && session.roles.includes("supervisor"));
}

function signedOut(expired) {
  session = null;
  stopTimers();
  $("nav").hidden = true;
  $("who").hidden = true;
  $("signout").hidden = true;
  $("shortcuts-help").hidden = true;
  const next = "/desk/" + (expired ? location.hash : "");
  show(
    heading(t(expired ? "signin.expired.title" : "signin.title")),
    h("p", { text: t(expired ? "signin.expired" : "signin.intro") }),
    h("p", {}, h("button", {
      type: "button",
      id: "signin",
      class: "primary",
      text: t("signin.button"),
      onclick: () => { location.assign("/desk/auth/login?next=" + encodeURIComponent(next)); },
    })),
  );
}

async function switchLanguage() {
  const chosen = language === "fr" ? "en" : "fr";
  localStorage.setItem(LANGUAGE_KEY, chosen);
  await loadLanguage(chosen);
  if (session) {
    $("who").textContent = t("who", { name: session.name || session.subject });
    await route();
  } else {
    signedOut(false);
  }
  $("language").focus();
  announce(t("language.changed"));
}

// ------------------------------------------------------------------ routing

function stopTimers() {
  window.clearInterval(pollTimer);
  window.clearTimeout(checkTimer);
  pollTimer = null;
}

async function route() {
  if (!session) return;
  stopTimers();
  const hash = location.hash || "#/queue";
  for (const link of document.querySelectorAll("#nav a")) {
    if (hash.startsWith(link.getAttribute("href"))) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const caseMatch = hash.match(/^#\/cases\/([0-9a-f-]{36})$/);
  try {
    if (caseMatch) await showCase(caseMatch[1]);
    else if (hash === "#/triage") await showTriage();
    else await showQueue();
  } catch (error) {
    if (error instanceof SignedOut) return;
    const problem = h("p", { class: "error", role: "alert" });
    show(heading(t("error.title")), problem, h("p", {}, h("a", { href: "#/queue", text: t("case.back") })));
    failed(error, problem);
  }
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

// ------------------------------------------------------------------ keyboard

const SHORTCUTS = [
  ["n", "shortcut.claim", () => claimNext()],
  ["f", "shortcut.queue", () => go("#/queue")],
  ["t", "shortcut.triage", () => { if (isSupervisor()) go("#/triage"); }],
  ["?", "shortcut.help", () => $("shortcuts-title").focus()],
];

function renderShortcuts() {
  const list = $("shortcuts-list");
  list.replaceChildren(...SHORTCUTS.flatMap(([key, label]) => [h("dt", {}, h("kbd", { text: key })), h("dd", { text: t(label) })]));
  $("shortcuts-title").setAttribute("tabindex", "-1");
}

function shortcut(event) {
  if (!session || !$("shortcuts-on").checked) return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target.closest("input, textarea, select, [contenteditable]")) return;
  const found = SHORTCUTS.find(([key]) => key === event.key);
  if (!found) return;
  event.preventDefault();
  found[2]();
}

// ------------------------------------------------------------------ the queue

function waitingSince(item) {
  return item.pending_since || item.opened_at;
}

function serverNow() {
  return Date.now() + queue.offset;
}

function overdue(item) {
  if (!DESK_STATES.includes(item.state)) return false;
  return serverNow() - Date.parse(waitingSince(item)) > queue.target * 60000;
}

function stateText(item) {
  const state = t("state." + item.state);
  if (item.state !== "in_review" || !item.claimed_by) return state;
  return t("state.in_review.by", { agent: agentName(item.claimed_by) });
}

function agentName(subject) {
  if (session && subject === session.subject) return t("agent.you", { name: session.name || subject });
  return subject;
}

function queueCells(item) {
  const late = overdue(item);
  return {
    state: stateText(item),
    policy: t("policy." + item.policy),
    waited: duration((serverNow() - Date.parse(waitingSince(item))) / 1000),
    late,
    status: late ? t("queue.overdue") : DESK_STATES.includes(item.state) ? t("queue.on_time") : t("queue.recipient"),
  };
}

function queueRow(item) {
  const row = h("tr", { "data-case": item.case_id },
    h("th", { scope: "row" }, h("a", { href: "#/cases/" + item.case_id, text: item.item_number })),
    h("td", { text: item.reference }),
    h("td", { "data-cell": "policy" }),
    h("td", { "data-cell": "state" }),
    h("td", { "data-cell": "waited" }),
    h("td", { "data-cell": "status" }, h("span", { class: "icon", "aria-hidden": "true" }), h("span", { class: "status-text" })),
  );
  fillRow(row, item);
  return row;
}

// Only the cells whose text changed are written: a row being read or focused stays put.
function fillRow(row, item) {
  const cells = queueCells(item);
  for (const name of ["policy", "state", "waited"]) {
    const cell = row.querySelector(`[data-cell=${name}]`);
    if (cell.textContent !== cells[name]) cell.textContent = cells[name];
  }
  const status = row.querySelector("[data-cell=status]");
  const text = status.querySelector(".status-text");
  if (text.textContent !== cells.status) text.textContent = cells.status;
  status.querySelector(".icon").textContent = cells.late ? "⚠" : "";
  row.classList.toggle("overdue", cells.late);
}

async function showQueue() {
  const notice = pendingNotice;
  pendingNotice = "";
  queue.etag = null;
  queue.rows = new Map();
  const body = h("tbody", { id: "queue-rows" });
  const table = h("table", { class: "queue" },
    h("caption", { id: "queue-caption" }),
    h("thead", {}, h("tr", {},
      ...["queue.item", "queue.reference", "queue.policy", "queue.state", "queue.waited", "queue.status"]
        .map((key) => h("th", { scope: "col", text: t(key) })))),
    body,
  );
  show(
    heading(t("queue.title")),
    h("div", { class: "actions" },
      h("button", { type: "button", id: "claim-next", class: "primary", onclick: claimNext },
        t("queue.claim"), " ", h("kbd", { "aria-hidden": "true", text: "n" })),
      h("p", { id: "queue-target", class: "meta" })),
    h("p", { id: "claim-result", class: "notice", role: "status", text: notice }),
    h("div", { class: "scroll", role: "region", "aria-labelledby": "queue-caption", tabindex: "0" }, table),
  );
  await pollQueue(false); // the agent opened the queue
  pollTimer = window.setInterval(() => pollQueue(true), POLL_MS);
}

async function pollQueue(background) {
  if (document.hidden || !$("queue-rows")) return;
  let data;
  try {
    const headers = { ...(background ? BACKGROUND : {}), ...(queue.etag ? { "if-none-match": queue.etag } : {}) };
    data = await api("GET", "/cases", undefined, headers);
  } catch (error) {
    failed(error, $("claim-result"));
    return;
  }
  const body = $("queue-rows");
  if (!body) return;
  if (!data.notModified) {
    queue.etag = data.response.headers.get("etag");
    queue.cases = data.cases;
    queue.target = data.target_minutes;
    queue.offset = Date.parse(data.now) - Date.now();
  }
  const seen = new Set();
  let previous = null;
  for (const item of queue.cases) {
    seen.add(item.case_id);
    let row = queue.rows.get(item.case_id);
    if (row) fillRow(row, item);
    else {
      row = queueRow(item);
      queue.rows.set(item.case_id, row);
    }
    // In queue order, moving only rows that are out of place.
    const expected = previous ? previous.nextSibling : body.firstChild;
    if (expected !== row) body.insertBefore(row, expected);
    previous = row;
  }
  for (const [caseId, row] of queue.rows) {
    if (!seen.has(caseId)) {
      row.remove();
      queue.rows.delete(caseId);
    }
  }
  const empty = $("queue-empty");
  if (!queue.cases.length && !empty) body.append(h("tr", { id: "queue-empty" }, h("td", { colspan: "6", text: t("queue.empty") })));
  if (queue.cases.length && empty) empty.remove();
  const caption = t("queue.caption", { count: queue.cases.length, late: queue.cases.filter(overdue).length });
  if ($("queue-caption").textContent !== caption) $("queue-caption").textContent = caption;
  $("queue-target").textContent = t("queue.target", { minutes: queue.target, seconds: POLL_MS / 1000 });
}

async function claimNext() {
  const result = $("claim-result");
  try {
    const { case: claimed } = await api("POST", "/cases/claim");
    if (claimed) {
      announce(t("queue.claimed", { reference: claimed.reference }));
      go("#/cases/" + claimed.case_id);
      return;
    }
    const text = t("queue.nothing");
    if (result) result.textContent = text;
    else {
      pendingNotice = text; // shown by the queue, which opens now
      go("#/queue");
    }
    announce(text);
  } catch (error) {
    failed(error, $("claim-result"));
  }
}

// ------------------------------------------------------------------ a case

function holds(item) {
  return item.state === "in_review" && session && (item.claimed_by === session.subject || isSupervisor());
}

async function showCase(caseId) {
  const item = await api("GET", "/cases/" + caseId);
  const mine = holds(item);
  const facts = h("dl", { class: "facts", id: "case-facts" },
    fact(t("case.item"), item.item_number),
    fact(t("case.policy"), t("policy." + item.policy)),
    fact(t("case.state"), stateText(item)),
    fact(t("case.opened"), when(item.opened_at)),
    fact(t("case.waiting"), duration(item.age_seconds)),
    fact(t("case.documents_by"), t("channel." + item.document_channel)),
    fact(t("case.code_by"), t("channel." + item.code_channel)),
    // Only when the sender declared one, to compare with the identity documents (CPCE R.53-1).
    item.recipient && item.recipient.recipient_birth_date
      ? fact(t("case.birth_date"), birthDayText(item.recipient.recipient_birth_date)) : null,
    item.decision ? fact(t("case.decision"), t("decision." + item.decision) + (item.reason ? " — " + item.reason : "")) : null,
    // The letter is past its windows and the retention delay (GDPR art. 5(1)(e)).
    item.recipient && item.recipient.recipient_forgotten_at
      ? fact(t("case.recipient"), t("case.recipient_forgotten", { when: when(item.recipient.recipient_forgotten_at) })) : null,
  );
  show(
    h("p", {}, h("a", { href: "#/queue", text: t("case.back") })),
    heading(t("case.title", { reference: item.reference })),
    facts,
    mine ? null : h("p", { class: "notice", id: "read-only", text: t(item.state === "in_review" ? "case.held" : "case.read_only") }),
    h("p", { id: "case-result", class: "notice", role: "status" }),
    h("div", { class: "case-grid" },
      documentsSection(item),
      checklistSection(item, mine)),
    callbackSection(item, mine),
    decisionSection(item, mine),
    h("section", { "aria-labelledby": "audit-title" },
      h("h2", { id: "audit-title", text: t("audit.title") }),
      h("ol", { id: "audit", class: "timeline" })),
  );
  await Promise.all([loadDocuments(caseId), loadAudit(caseId)]);
  runCheck(item);
}

function fact(term, value) {
  return h("div", {}, h("dt", { text: term }), h("dd", { text: value }));
}

// ---------------------------------------------------------- documents

function documentsSection(item) {
  return h("section", { "aria-labelledby": "documents-title", class: "documents" },
    h("h2", { id: "documents-title", text: t("documents.title") }),
    h("p", {}, h("button", { type: "button", id: "documents-reload", onclick: () => loadDocuments(item.case_id) }, t("documents.reload"))),
    h("div", { id: "documents" }));
}

async function loadDocuments(caseId) {
  const list = $("documents");
  try {
    const { documents } = await api("GET", `/cases/${caseId}/documents`);
    list.replaceChildren(...(documents.length ? documents.map(documentFigure) : [h("p", { text: t("documents.none") })]));
  } catch (error) {
    failed(error, list);
  }
}

function documentFigure(doc) {
  const caption = h("figcaption", {},
    h("strong", { text: doc.filename }), " — ",
    t("documents.received", { channel: t("channel." + doc.channel), when: when(doc.received_at), size: Math.ceil(doc.size / 1024) }));
  if (!doc.url) return h("figure", { class: "document deleted" }, h("p", { text: t("documents.deleted", { when: when(doc.deleted_at) }) }), caption);
  const label = t("documents.shown", { name: doc.filename });
  // The link lives a couple of minutes; what is shown stays shown, "reload" signs new links.
  const view = doc.content_type === "application/pdf"
    ? h("iframe", { src: doc.url, title: label, class: "pdf" })
    : h("img", { src: doc.url, alt: label });
  return h("figure", { class: "document" }, view, caption,
    h("p", {}, h("a", { href: doc.url, target: "_blank", rel: "noopener", text: t("documents.open", { name: doc.filename }) })));
}

// ---------------------------------------------------------- checklist

function checklistSection(item, mine) {
  const lines = h("div", { id: "checklist-lines" });
  const form = h("form", { id: "checklist", novalidate: true, oninput: () => scheduleCheck(item), onchange: () => scheduleCheck(item) },
    h("p", { class: "hint", text: t("checklist.intro." + item.policy) }),
    lines,
    h("datalist", { id: "document-types" }, ...["passport", "id_card", "residence_permit", "kbis", "bar_certificate"]
      .map((value) => h("option", { value }))),
    mine ? h("p", { class: "actions" },
      h("button", { type: "button", id: "checklist-add", onclick: () => { addLine(item, {}, mine, true); scheduleCheck(item); } }, t("checklist.add")),
      h("button", { type: "submit", id: "checklist-save" }, t("checklist.save"))) : null,
    h("div", { id: "unmet", class: "unmet", role: "status" }),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    saveChecklist(item).catch((error) => failed(error, $("case-result")));
  });
  lineCount = 0;
  const saved = item.checklist.length ? item.checklist : (POLICY_KINDS[item.policy] || ["identity"]).map((kind) => ({ kind }));
  for (const line of saved) addLine(item, line, mine, false, lines);
  if (!mine) for (const control of form.querySelectorAll("input, select")) control.disabled = true;
  return h("section", { "aria-labelledby": "checklist-title", class: "checklist" },
    h("h2", { id: "checklist-title", text: t("checklist.title") }), form);
}

function addLine(item, value, mine, focus, container = $("checklist-lines")) {
  lineCount += 1;
  const n = lineCount;
  const id = (name) => `line-${n}-${name}`;
  const kind = h("select", { id: id("kind"), name: "kind" },
    ...KINDS.map((k) => h("option", { value: k, selected: (value.kind || "identity") === k, text: t("kind." + k) })));
  const type = h("input", { id: id("type"), name: "document_type", list: "document-types", maxlength: "60", value: value.document_type || "", autocomplete: "off" });
  const number = h("input", { id: id("number"), name: "number", maxlength: "60", value: value.number || "", autocomplete: "off" });
  const expiry = h("input", { id: id("expiry"), name: "expiry_date", type: "date", value: value.expiry_date || "" });
  const issued = h("input", { id: id("issued"), name: "issued_on", type: "date", value: value.issued_on || "" });
  const legend = h("legend", { text: t("checklist.line", { n }) });
  const numberLabel = h("label", { for: number.id });
  const expiryField = field(t("checklist.expiry"), expiry);
  const issuedField = field(t("checklist.issued"), issued);
  const fieldset = h("fieldset", { class: "line", "data-line": n }, legend,
    field(t("checklist.kind"), kind),
    field(t("checklist.type"), type, t("checklist.type.hint")),
    h("div", { class: "field" }, numberLabel, number),
    expiryField, issuedField,
    mine ? h("button", {
      type: "button",
      class: "link",
      text: t("checklist.remove", { n }),
      onclick: () => {
        const next = fieldset.nextElementSibling || fieldset.previousElementSibling;
        fieldset.remove();
        scheduleCheck(item);
        (next ? next.querySelector("select") : $("checklist-add")).focus();
      },
    }) : null);
  // The fields follow the kind: an identity document's expiry, an extract's or a
  // certificate's issue date, a SIREN/SIRET for an extract.
  const follow = () => {
    const k = kind.value;
    numberLabel.textContent = t(k === "company_extract" ? "checklist.siret" : "checklist.number");
    number.inputMode = k === "company_extract" ? "numeric" : "text";
    expiryField.hidden = k !== "identity";
    issuedField.hidden = k === "identity";
  };
  kind.addEventListener("change", follow);
  follow();
  container.append(fieldset);
  if (focus) kind.focus();
}

function readChecklist() {
  const complete = [];
  const incomplete = [];
  for (const line of document.querySelectorAll("#checklist-lines fieldset")) {
    const value = (name) => line.querySelector(`[name=${name}]`).value.trim();
    const kind = value("kind");
    const entry = { kind, document_type: value("document_type"), number: value("number") };
    const date = kind === "identity" ? "expiry_date" : "issued_on";
    if (value(date)) entry[date] = value(date);
    if (entry.document_type && entry.number) complete.push(entry);
    else if (entry.document_type || entry.number || entry[date]) incomplete.push(line.dataset.line);
  }
  return { complete, incomplete };
}

function scheduleCheck(item) {
  window.clearTimeout(checkTimer);
  checkTimer = window.setTimeout(() => runCheck(item), CHECK_DELAY_MS);
}

// The policy's rules are the server's: the console asks it what the checklist as typed lacks.
async function runCheck(item) {
  const box = $("unmet");
  if (!box || item.state === "approved" || item.state === "rejected") return;
  const { complete, incomplete } = readChecklist();
  let rules;
  try {
    ({ unmet_rules: rules } = await api("POST", `/cases/${item.case_id}/checklist/check`, { items: complete }));
  } catch (error) {
    failed(error, box);
    return;
  }
  const lines = [
    ...incomplete.map((n) => t("checklist.incomplete", { n })),
    ...rules.map(unmetText),
  ];
  const summary = lines.length ? t("checklist.unmet") : t("checklist.met");
  const current = [...box.querySelectorAll("li")].map((li) => li.textContent).join("\n") + box.dataset.summary;
  if (current === lines.join("\n") + summary) return;
  box.dataset.summary = summary;
  box.classList.toggle("met", !lines.length);
  box.replaceChildren(h("p", { class: "summary" }, h("span", { "aria-hidden": "true", text: lines.length ? "✗ " : "✓ " }), summary));
  if (lines.length) box.append(h("ul", {}, ...lines.map((line) => h("li", { text: line }))));
}

// The server names each rule a checklist fails by its code and parameters
// (domain/policy.py `unmet_rules`); the console words it in the agent's language from its
// catalogue, and shows the server's English sentence for a code the catalogue lacks.
function unmetText(rule) {
  const key = "unmet." + rule.code;
  if (!Object.hasOwn(messages, key)) return rule.text;
  const params = { ...rule.params };
  if (params.date) params.date = dayText(params.date);
  return t(key, params);
}

function dayText(isoDay) {
  return /^\d{4}-/.test(isoDay) && isoDay.length === 10
    ? new Intl.DateTimeFormat(locale(), { dateStyle: "long", timeZone: "UTC" }).format(new Date(isoDay + "T00:00:00Z"))
    : isoDay;
}

// A birth date as identity documents print it: 17/05/1980 in French, 17 May 1980 in English.
function birthDayText(isoDay) {
  const options = language === "fr" ? { day: "2-digit", month: "2-digit", year: "numeric" } : { dateStyle: "long" };
  return new Intl.DateTimeFormat(locale(), { ...options, timeZone: "UTC" }).format(new Date(isoDay + "T00:00:00Z"));
}

async function saveChecklist(item) {
  const { complete, incomplete } = readChecklist();
  if (incomplete.length) {
    const text = t("checklist.incomplete", { n: incomplete[0] });
    $("case-result").textContent = text;
    announce(text);
    const first = document.querySelector(`#checklist-lines [data-line="${incomplete[0]}"] input[name=document_type]`);
    if (first) first.focus();
    return null;
  }
  const { unmet } = await api("PUT", `/cases/${item.case_id}/checklist`, { items: complete });
  const text = unmet.length ? t("checklist.saved.unmet", { count: unmet.length }) : t("checklist.saved");
  $("case-result").textContent = text;
  announce(text);
  await loadAudit(item.case_id);
  return unmet;
}

// ---------------------------------------------------------- callback

function callbackSection(item, mine) {
  const recipient = item.recipient || {};
  const landline = recipient.recipient_landline;
  const erased = recipient.recipient_forgotten_at ? t("callback.forgotten") : "—";
  const section = h("section", { "aria-labelledby": "callback-title", class: "callback" },
    h("h2", { id: "callback-title", text: t("callback.title") }),
    h("dl", { class: "facts" },
      fact(t("callback.recipient"), recipient.recipient_name || erased),
      fact(t("callback.company"), recipient.recipient_company || erased),
      h("div", {}, h("dt", { text: t("callback.landline") }),
        h("dd", {}, landline ? h("a", { href: "tel:" + landline, text: landline })
          : recipient.recipient_forgotten_at ? erased : t("callback.no_landline")))),
    h("ul", { id: "callbacks", class: "plain" }, ...item.callbacks.map((call) =>
      h("li", { text: t("callback.logged", { when: when(call.called_at), number: call.number, agent: agentName(call.agent), outcome: call.outcome }) }))),
  );
  if (!mine) return section;
  const number = h("input", { id: "callback-number", name: "number", type: "tel", value: landline || "", required: true, autocomplete: "off" });
  const at = h("input", { id: "callback-at", name: "called_at", type: "datetime-local", required: true, value: localNow() });
  const outcome = h("textarea", { id: "callback-outcome", name: "outcome", rows: "3", maxlength: "500", required: true });
  const form = h("form", { id: "callback-form", novalidate: true },
    h("h3", { text: t("callback.log") }),
    field(t("callback.number"), number, t("callback.number.hint")),
    field(t("callback.at"), at),
    field(t("callback.outcome"), outcome),
    h("p", {}, h("button", { type: "submit", id: "callback-save", text: t("callback.save") })));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setError(number, /^\+[1-9][0-9]{6,14}$/.test(number.value.trim()) ? "" : t("callback.number.invalid"));
    setError(outcome, outcome.value.trim() ? "" : t("callback.outcome.required"));
    const invalid = form.querySelector("[aria-invalid=true]");
    if (invalid) { invalid.focus(); return; }
    try {
      await api("POST", `/cases/${item.case_id}/callbacks`, {
        number: number.value.trim(),
        called_at: new Date(at.value).toISOString(),
        outcome: outcome.value.trim(),
      });
    } catch (error) {
      failed(error, $("case-result"));
      return;
    }
    const fresh = await api("GET", "/cases/" + item.case_id);
    $("callbacks").replaceChildren(...fresh.callbacks.map((call) =>
      h("li", { text: t("callback.logged", { when: when(call.called_at), number: call.number, agent: agentName(call.agent), outcome: call.outcome }) })));
    outcome.value = "";
    const text = t("callback.saved");
    $("case-result").textContent = text;
    announce(text);
    await loadAudit(item.case_id);
  });
  section.append(form);
  return section;
}

function localNow() {
  const now = new Date();
  now.setMinutes(now.getMinutes() - now.getTimezoneOffset());
  return now.toISOString().slice(0, 16);
}

// ---------------------------------------------------------- decision

function decisionSection(item, mine) {
  const section = h("section", { "aria-labelledby": "decision-title", class: "decision" },
    h("h2", { id: "decision-title", text: t("decision.title") }));
  if (!mine) {
    section.append(h("p", { text: item.decision ? t("decision." + item.decision) : t("decision.none") }));
    return section;
  }
  const choices = ["approved", "rejected", "more_documents"].map((outcome, index) => h("div", { class: "choice" },
    h("input", { type: "radio", name: "outcome", id: "outcome-" + outcome, value: outcome, checked: index === 0 }),
    h("label", { for: "outcome-" + outcome, text: t("decision.choice." + outcome) })));
  const reason = h("textarea", { id: "reason", name: "reason", rows: "3", maxlength: "1000" });
  const form = h("form", { id: "decision-form", novalidate: true },
    h("fieldset", {}, h("legend", { text: t("decision.outcome") }), ...choices),
    field(t("decision.reason"), reason, t("decision.reason.hint")),
    h("p", {}, h("button", { type: "submit", id: "decide", class: "primary", text: t("decision.submit") })));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const outcome = form.querySelector("[name=outcome]:checked").value;
    const why = reason.value.trim();
    setError(reason, outcome !== "approved" && !why ? t("decision.reason.required") : "");
    if (reason.getAttribute("aria-invalid")) { reason.focus(); return; }
    try {
      if (outcome === "approved") {
        // Approval stands on the saved checklist: save what is on screen first.
        const unmet = await saveChecklist(item);
        if (unmet === null) return;
        if (unmet.length) {
          const text = t("decision.unmet");
          $("case-result").textContent = text;
          announce(text);
          $("unmet").scrollIntoView({ block: "nearest" });
          const first = document.querySelector("#checklist-lines select");
          if (first) first.focus();
          return;
        }
      }
      await api("POST", `/cases/${item.case_id}/decision`, { outcome, reason: why || null });
    } catch (error) {
      failed(error, $("case-result"));
      return;
    }
    await route();
    const text = t("decision.done." + outcome);
    $("case-result").textContent = text;
    announce(text);
  });
  section.append(form);
  return section;
}

// ---------------------------------------------------------- audit trail

async function loadAudit(caseId) {
  const list = $("audit");
  if (!list) return;
  let events;
  try {
    ({ events } = await api("GET", `/cases/${caseId}/audit`));
  } catch (error) {
    if (error instanceof Refusal && error.status === 403) {
      list.replaceChildren(h("li", { text: t("audit.forbidden") }));
      return;
    }
    failed(error, list);
    return;
  }
  list.replaceChildren(...events.map((event) => h("li", {},
    h("time", { datetime: event.at, text: when(event.at) }), " ",
    h("span", { class: "actor", text: actorName(event.actor) }), " ",
    h("span", { text: describe(event) }))));
}

function actorName(actor) {
  if (actor === "recipient") return t("actor.recipient");
  if (actor === "retention") return t("actor.retention");
  const inbound = actor.match(/^(email|mms|fax):(.*)$/);
  if (inbound) return t("actor.inbound", { channel: t("channel." + inbound[1]), sender: inbound[2] });
  return agentName(actor);
}

function describe(event) {
  const d = event.detail || {};
  const key = "audit." + event.action;
  const values = {
    ...d,
    policy: d.policy ? t("policy." + d.policy) : "",
    channel: d.channel ? t("channel." + d.channel) : "",
    document_channel: d.document_channel ? t("channel." + d.document_channel) : "",
    count: Array.isArray(d.items) ? d.items.length : Array.isArray(d.accepted) ? d.accepted.length : Array.isArray(d.documents) ? d.documents.length : "",
    called_at: d.called_at ? when(d.called_at) : "",
    reason: d.reason || "",
  };
  if (key in messages) return t(key, values);
  return t("audit.other", { action: event.action });
}

// ------------------------------------------------------------------ triage

async function showTriage() {
  if (!isSupervisor()) {
    show(heading(t("triage.title")), h("p", { text: t("triage.supervisors") }));
    return;
  }
  const [{ entries }, { cases }] = await Promise.all([api("GET", "/triage"), api("GET", "/cases")]);
  const open = cases.filter((item) => item.state !== "approved" && item.state !== "rejected");
  const rows = entries.map((entry) => {
    let filing;
    if (entry.assigned_to) {
      const target = cases.find((item) => item.case_id === entry.assigned_to);
      filing = t("triage.assigned", { reference: target ? target.reference : entry.assigned_to, agent: agentName(entry.assigned_by || "") });
    } else {
      const select = h("select", { id: "file-" + entry.triage_id, name: "case_id" },
        h("option", { value: "", text: t("triage.choose") }),
        ...open.map((item) => h("option", { value: item.case_id, text: `${item.reference} — ${item.item_number} (${t("state." + item.state)})` })));
      const form = h("form", { class: "file", novalidate: true },
        h("label", { for: select.id, text: t("triage.file.label", { subject: entry.subject || entry.sender }) }), select,
        h("button", { type: "submit", text: t("triage.file") }));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        setError(select, select.value ? "" : t("triage.choose.required"));
        if (!select.value) { select.focus(); return; }
        try {
          const done = await api("POST", `/triage/${entry.triage_id}/assign`, { case_id: select.value });
          await route();
          const text = t("triage.done", { count: done.documents.length });
          $("triage-result").textContent = text;
          announce(text);
        } catch (error) {
          failed(error, $("triage-result"));
        }
      });
      filing = form;
    }
    return h("tr", {},
      h("td", {}, h("time", { datetime: entry.received_at, text: when(entry.received_at) })),
      h("td", { text: t("channel." + entry.channel) }),
      h("th", { scope: "row", text: entry.sender }),
      h("td", {}, h("strong", { text: entry.subject || "—" }), h("br"), h("span", { class: "excerpt", text: entry.excerpt })),
      h("td", { text: entry.problem }),
      h("td", { text: String(entry.documents) }),
      h("td", {}, filing));
  });
  show(
    heading(t("triage.title")),
    h("p", { text: t("triage.intro") }),
    h("p", { id: "triage-result", class: "notice", role: "status" }),
    h("div", { class: "scroll", role: "region", "aria-labelledby": "triage-caption", tabindex: "0" },
      h("table", { class: "triage" },
        h("caption", { id: "triage-caption", text: t("triage.caption", { count: entries.filter((e) => !e.assigned_to).length }) }),
        h("thead", {}, h("tr", {}, ...["triage.received", "triage.channel", "triage.sender", "triage.subject", "triage.problem", "triage.documents", "triage.filing"]
          .map((key) => h("th", { scope: "col", text: t(key) })))),
        h("tbody", {}, ...(rows.length ? rows : [h("tr", {}, h("td", { colspan: "7", text: t("triage.empty") }))])))),
  );
}

start().catch((error) => {
  const main = $("main");
  main.replaceChildren(h("p", { class: "error", role: "alert", text: String(error.message || error) }));
});
