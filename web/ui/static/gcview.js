// The garbage-collection page's pieces that only draw: the history rows, sizes in human
// units, a run's parameters in words, the page state in the URL. Every server value goes in
// as text (textContent), never as markup.

import { timeElement } from "./table.js";

export const ACTIVE = ["Pending", "Running"];
export const PAGE_SIZES = [5, 10, 25, 50];
export const DEFAULT_PAGE_SIZE = 10;
const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
const TRIGGERS = { MANUAL: "Manual", SCHEDULE: "Schedule", START: "At start", CLI: "Command line" };
const COLUMNS = 11;

/** The page's state from its URL: page, page size and the run whose log is open. */
export function stateFromSearch(search) {
  const params = new URLSearchParams(search);
  const state = { page: 1, pageSize: DEFAULT_PAGE_SIZE, log: null };
  const page = Number.parseInt(params.get("page") || "1", 10);
  if (Number.isSafeInteger(page) && page >= 1) state.page = page;
  const size = Number.parseInt(params.get("page_size") || "", 10);
  if (PAGE_SIZES.includes(size)) state.pageSize = size;
  const log = Number.parseInt(params.get("log") || "", 10);
  if (Number.isSafeInteger(log) && log >= 1) state.log = log;
  return state;
}

/** The URL's query string for a state; defaults are left out. */
export function searchFromState(state) {
  const params = new URLSearchParams();
  if (state.page > 1) params.set("page", String(state.page));
  if (state.pageSize !== DEFAULT_PAGE_SIZE) params.set("page_size", String(state.pageSize));
  if (state.log) params.set("log", String(state.log));
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** 1536 → "1.5 KiB"; whole bytes below one KiB. */
export function humanBytes(bytes) {
  let value = Number(bytes) || 0;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** A parameters object in words: "dry run, delete untagged, 2 workers". */
export function parametersText(parameters) {
  const p = parameters ?? {};
  const words = [p.dry_run ? "dry run" : "real run", ...(p.delete_untagged ? ["delete untagged"] : [])];
  const workers = Number(p.workers) || 1;
  words.push(workers === 1 ? "1 worker" : `${workers} workers`);
  return words.join(", ");
}

/** A history row's job_parameters (a JSON string in Harbor's shape) as an object. */
export function rowParameters(run) {
  try {
    const parsed = JSON.parse(run.job_parameters ?? "{}");
    return parsed && typeof parsed === "object" ? parsed : {};
  } catch {
    return {};
  }
}

function textCell(row, className, text) {
  const td = row.insertCell();
  td.className = className;
  td.textContent = text;
  return td;
}

function statusCell(row, status) {
  const badge = document.createElement("span");
  const kind = { Success: "ok", Error: "failed", Pending: "busy", Running: "busy" }[status];
  badge.className = kind ? `badge ${kind}` : "badge";
  badge.textContent = status ?? "";
  const td = row.insertCell();
  td.className = "status";
  td.append(badge);
}

function triggerCell(row, run) {
  const td = textCell(row, "trigger", TRIGGERS[run.trigger] ?? run.trigger ?? run.job_kind ?? "");
  if (run.schedule?.type) {
    const fired = document.createElement("div");
    fired.className = "description";
    fired.textContent = [run.schedule.type, run.schedule.cron].filter(Boolean).join(" ");
    td.append(fired);
  }
}

function button(text, action, label) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "secondary small";
  b.textContent = text;
  b.dataset.action = action;
  b.setAttribute("aria-label", label);
  return b;
}

function actionsCell(row, run, stopping) {
  const td = row.insertCell();
  td.className = "actions";
  td.append(button("Log", "log", `Log of run ${run.id}`));
  if (!ACTIVE.includes(run.job_status)) return;
  const stop = button(stopping ? "Stopping…" : "Stop", "stop", `Stop run ${run.id}`);
  stop.disabled = stopping;
  td.append(stop);
}

/** One table row for a run of the history API (Harbor's GCHistory plus Berth's results);
 * stopping: a stop was asked for and the run has not ended yet. */
export function runRow(run, { stopping = false } = {}) {
  const row = document.createElement("tr");
  row.dataset.id = String(run.id ?? "");
  row.dataset.status = run.job_status ?? "";
  textCell(row, "id", String(run.id ?? ""));
  triggerCell(row, run);
  statusCell(row, run.job_status);
  textCell(row, "parameters", parametersText(rowParameters(run)));
  textCell(row, "time started", "").append(timeElement(run.creation_time));
  textCell(row, "time updated", "").append(timeElement(run.update_time));
  textCell(row, "number blobs", String(run.blobs ?? 0));
  const freed = textCell(row, "number freed", humanBytes(run.freed_bytes));
  freed.title = `${Number(run.freed_bytes ?? 0).toLocaleString("en")} bytes`;
  textCell(row, "number manifests", String(run.manifests ?? 0));
  textCell(row, "number uploads", String(run.uploads ?? 0));
  actionsCell(row, run, stopping);
  return row;
}

/** Replace the table body's rows with these runs, or a one-line note when there are none. */
export function renderRuns(tbody, runs, emptyText, stopping = new Set()) {
  tbody.replaceChildren();
  if (runs.length === 0) {
    const td = tbody.insertRow().insertCell();
    td.colSpan = COLUMNS;
    td.className = "empty";
    td.textContent = emptyText;
    return;
  }
  for (const run of runs) tbody.append(runRow(run, { stopping: stopping.has(run.id) }));
}
