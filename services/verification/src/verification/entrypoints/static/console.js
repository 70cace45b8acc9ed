"use strict";
// The desk console: every datum comes from the JSON API, with the agent's bearer token
// (kept for this tab only). Text is always inserted as text, never as HTML.
const $ = (id) => document.getElementById(id);
let current = null;

async function api(method, path, body) {
  const response = await fetch("/desk/api" + path, {
    method,
    headers: { authorization: "Bearer " + sessionStorage.getItem("token"), "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json();
  // Refusals are problem details (RFC 9457): `detail`, and what is missing or wrong.
  if (!response.ok) {
    const more = data.problems || Object.entries(data.errors || {}).map(([field, why]) => field + ": " + why.join(", "));
    throw new Error(data.detail + (more.length ? ": " + more.join("; ") : ""));
  }
  return data;
}

function say(text) { $("status").textContent = text; }

function row(values, onClick) {
  const tr = document.createElement("tr");
  for (const value of values) { const td = document.createElement("td"); td.textContent = value; tr.append(td); }
  tr.addEventListener("click", onClick);
  return tr;
}

async function showQueue() {
  const { cases } = await api("GET", "/cases");
  const body = $("cases").tBodies[0];
  body.replaceChildren(...cases.map((c) =>
    row([c.reference, c.item_number, c.policy, c.state, Math.round(c.age_seconds / 60)], () => showCase(c.case_id))));
  say(cases.length + " dossier(s)");
}

async function showCase(caseId) {
  const c = await api("GET", "/cases/" + caseId);
  current = caseId;
  $("case").hidden = false;
  $("case-title").textContent = c.reference + " — " + c.policy + " — " + c.state;
  $("case-unmet").textContent = c.unmet.length ? "Manque / Missing: " + c.unmet.join("; ") : "Politique satisfaite";
  $("checklist").value = JSON.stringify(c.checklist, null, 2);
  const { documents } = await api("GET", "/cases/" + caseId + "/documents");
  $("case-documents").replaceChildren(...documents.map((d) => {
    const li = document.createElement("li");
    if (d.url) { const a = document.createElement("a"); a.href = d.url; a.target = "_blank"; a.rel = "noopener";
      a.textContent = d.filename; li.append(a); } else { li.textContent = d.filename + " (supprimé / deleted)"; }
    return li;
  }));
  try { $("audit").textContent = JSON.stringify((await api("GET", "/cases/" + caseId + "/audit")).events, null, 2); }
  catch (error) { $("audit").textContent = error.message; }
}

function guard(action) {
  return () => action().catch((error) => say(error.message));
}

$("save").addEventListener("click", () => { sessionStorage.setItem("token", $("token").value.trim()); say("OK"); });
$("queue").addEventListener("click", guard(showQueue));
$("claim").addEventListener("click", guard(async () => {
  const { case: claimed } = await api("POST", "/cases/claim");
  if (claimed) await showCase(claimed.case_id); else say("Aucun dossier en attente / Nothing waiting");
}));
$("triage").addEventListener("click", guard(async () => {
  $("triage-list").textContent = JSON.stringify((await api("GET", "/triage")).entries, null, 2);
}));
$("save-checklist").addEventListener("click", guard(async () => {
  const result = await api("PUT", "/cases/" + current + "/checklist", { items: JSON.parse($("checklist").value) });
  say(result.unmet.length ? "Manque: " + result.unmet.join("; ") : "Politique satisfaite");
}));
$("decide").addEventListener("click", guard(async () => {
  const reason = $("reason").value.trim() || null;
  const result = await api("POST", "/cases/" + current + "/decision", { outcome: $("outcome").value, reason });
  say("Décision: " + result.decision);
  await showCase(current);
}));
