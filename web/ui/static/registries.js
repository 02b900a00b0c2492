// The Registries tab: the remote registries (GET /registries), the form that creates or
// changes one, "Test connection" (POST /registries/ping) from the form or a row, and delete.
// A stored secret is never shown: the API answers *****, and sending that back keeps it.

import { apiGet, apiSend } from "./api.js";
import { $, attempt, complain, counted, refusal, say, shared, tell, totalOf } from "./replstate.js";
import { fillTable, registryRow } from "./replview.js";

const form = $("registry-form");
const tbody = $("registries").tBodies[0];
const MASK = "*****";
const BASIC = "basic";
let editing = null; // the registry the form changes; null: the form makes a new one

/** Load and show the registries (Harbor's page size at most: 100). */
export async function loadRegistries() {
  const response = await apiGet("/registries", new URLSearchParams({ page_size: "100" }));
  const rows = await response.json();
  shared.registries = rows;
  fillTable(tbody, rows.map(registryRow), "No registry yet: add one with New registry.");
  $("registries-summary").textContent = counted(rows.length, totalOf(response, rows), "registry", "registries");
  for (const redraw of shared.onRegistries) redraw();
}

function byId(id) {
  return shared.registries.find((r) => r.id === id);
}

function openForm(registry) {
  editing = registry ?? null;
  const e = form.elements;
  const credential = registry?.credential ?? {};
  $("registry-form-title").textContent = registry ? `Edit registry ${registry.name}` : "New registry";
  e.name.value = registry?.name ?? "";
  e.type.value = registry?.type ?? "harbor";
  e.url.value = registry?.url ?? "";
  e.description.value = registry?.description ?? "";
  e.access_key.value = credential.access_key ?? "";
  e.access_secret.value = credential.access_secret === MASK ? MASK : "";
  e.insecure.checked = Boolean(registry?.insecure);
  e.requests_per_second.value = String(registry?.requests_per_second ?? 0);
  $("r-secret-hint").hidden = !registry;
  say("registry-error", "");
  say("ping-result", "");
  form.hidden = false;
  e.name.focus();
}

function closeForm() {
  form.hidden = true;
  form.reset();
  editing = null;
}

function fields() {
  const e = form.elements;
  return {
    name: e.name.value.trim(),
    type: e.type.value,
    url: e.url.value.trim(),
    description: e.description.value.trim(),
    insecure: e.insecure.checked,
    requests_per_second: e.requests_per_second.value.trim() === "" ? 0 : Number(e.requests_per_second.value),
    access_key: e.access_key.value.trim(),
    access_secret: e.access_secret.value,
  };
}

/** Harbor's Registry (POST) or RegistryUpdate (PUT) body from the form. */
function requestBody(f) {
  const { access_key, access_secret, ...rest } = f;
  if (!editing) return { ...rest, credential: { type: BASIC, access_key, access_secret } };
  return { ...rest, credential_type: BASIC, access_key, access_secret };
}

/** What "Test connection" sends: the stored registry by id while its address is as stored
 * (its secret is used unless another is typed), else the whole address. */
function pingBody(f) {
  const stored = editing && f.url === editing.url && f.type === editing.type;
  if (stored) return { id: editing.id, access_key: f.access_key, access_secret: f.access_secret };
  const secret = f.access_secret === MASK ? "" : f.access_secret;
  return { type: f.type, url: f.url, insecure: f.insecure, access_key: f.access_key, access_secret: secret };
}

async function save(event) {
  event.preventDefault();
  const f = fields();
  if (!f.name || !f.url) {
    say("registry-error", "Enter the registry's name and URL.");
    return;
  }
  if (!Number.isFinite(f.requests_per_second) || f.requests_per_second < 0) {
    say("registry-error", "Requests per second must be a number, 0 for no limit.");
    return;
  }
  $("save-registry").disabled = true;
  try {
    if (editing) await apiSend("PUT", `/registries/${editing.id}`, requestBody(f));
    else await apiSend("POST", "/registries", requestBody(f));
    closeForm();
    tell(`Registry ${f.name} saved.`);
    await attempt(loadRegistries);
  } catch (error) {
    say("registry-error", refusal(error));
  } finally {
    $("save-registry").disabled = false;
  }
}

async function pingForm() {
  const f = fields();
  say("ping-result", "");
  if (!f.url) {
    say("registry-error", "Enter the registry's URL.");
    return;
  }
  $("ping-registry").disabled = true;
  say("registry-error", "");
  try {
    await apiSend("POST", "/registries/ping", pingBody(f));
    say("ping-result", `Connection OK: ${f.url} answered.`);
  } catch (error) {
    say("registry-error", refusal(error));
  } finally {
    $("ping-registry").disabled = false;
    if (editing) await attempt(loadRegistries);
  }
}

async function pingRow(registry, control) {
  control.disabled = true;
  try {
    await apiSend("POST", "/registries/ping", { id: registry.id });
    tell(`Registry ${registry.name} answered: healthy.`);
  } catch (error) {
    complain(error);
  }
  await attempt(loadRegistries); // a ping by id records the status
}

async function remove(registry) {
  if (!window.confirm(`Delete registry ${registry.name}?`)) return;
  const done = await attempt(() => apiSend("DELETE", `/registries/${registry.id}`));
  if (done) tell(`Registry ${registry.name} deleted.`);
  if (editing?.id === registry.id) closeForm();
  await attempt(loadRegistries);
}

function onRowAction(event) {
  const control = event.target.closest("button[data-action]");
  if (!control) return;
  const registry = byId(Number(control.closest("tr").dataset.id));
  if (!registry) return;
  if (control.dataset.action === "ping") pingRow(registry, control);
  else if (control.dataset.action === "edit") openForm(registry);
  else remove(registry);
}

/** Wire the tab's controls once. */
export function wireRegistries() {
  form.addEventListener("submit", save);
  $("ping-registry").addEventListener("click", pingForm);
  $("cancel-registry").addEventListener("click", closeForm);
  $("new-registry").addEventListener("click", () => openForm(null));
  $("refresh-registries").addEventListener("click", () => attempt(loadRegistries));
  tbody.addEventListener("click", onRowAction);
}
