// The garbage-collection page: "Run now", the history of runs (paged, newest first; the
// active ones polled until they end), a run's log, and the schedule (gcschedule.js). The page
// and the open log live in the URL. Open to system administrators: the API decides.

import { apiGet, apiSend, ApiError, loginUrl, signOut } from "./api.js";
import { loadSchedule, wireSchedule, workersOf } from "./gcschedule.js";
import {
  ACTIVE, PAGE_SIZES, renderRuns, runRow, searchFromState, stateFromSearch,
} from "./gcview.js";

const $ = (id) => document.getElementById(id);
const main = $("gc");
const tbody = $("runs").tBodies[0];
const POLL_MS = 1500;
let state = stateFromSearch(window.location.search);
let inFlight = null; // the AbortController of the newest history load
let poller = null; // the timer of the next poll of the active runs
const stopping = new Set(); // runs asked to stop that were still active when last seen

function say(id, text) {
  $(id).textContent = text;
  $(id).hidden = !text;
}

/** Move to a new state: into the URL (a history entry), then show it. */
function go(next) {
  state = next;
  const url = window.location.pathname + searchFromState(state);
  if (url !== window.location.pathname + window.location.search) {
    window.history.pushState(null, "", url);
  }
  $("page-size").value = String(state.pageSize);
  load();
  showLog();
}

function showPager(total) {
  const pages = Math.max(1, Math.ceil(total / state.pageSize));
  $("page-info").textContent = `Page ${state.page} of ${pages}`;
  $("prev").disabled = state.page <= 1;
  $("next").disabled = state.page >= pages;
  $("summary").textContent = `${total.toLocaleString("en")} ${total === 1 ? "run" : "runs"}`;
}

/** Load the current page of the history; answers to superseded loads are ignored. */
async function load() {
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  main.dataset.state = "loading";
  $("runs").setAttribute("aria-busy", "true");
  const params = new URLSearchParams({ page: String(state.page), page_size: String(state.pageSize) });
  try {
    const response = await apiGet("/system/gc", params, { signal: controller.signal });
    const runs = await response.json();
    if (inFlight !== controller) return;
    const counted = Number.parseInt(response.headers.get("X-Total-Count") || "", 10);
    const total = Number.isFinite(counted) ? counted : runs.length;
    say("message", "");
    const empty = total ? "No runs on this page." : "No garbage collection has run yet.";
    renderRuns(tbody, runs, empty, stopping);
    showPager(total);
    main.dataset.state = "ready";
    pollLater();
  } catch (error) {
    if (inFlight === controller) failed(error);
  } finally {
    if (inFlight === controller) $("runs").removeAttribute("aria-busy");
  }
}

function failed(error) {
  if (error instanceof ApiError && error.status === 401) {
    window.location.assign(loginUrl());
    return;
  }
  if (error instanceof ApiError && error.status === 403) {
    $("console").hidden = true;
    say("denied", `You are signed in, but may not use garbage collection: ${error.message}`);
    main.dataset.state = "denied";
    return;
  }
  if (error?.name === "AbortError") return;
  renderRuns(tbody, [], "");
  showPager(0);
  say("message", error instanceof ApiError ? error.message : "Berth did not answer. Check your connection and try again.");
  main.dataset.state = "error";
}

function activeIds() {
  return [...tbody.rows].filter((r) => ACTIVE.includes(r.dataset.status)).map((r) => Number(r.dataset.id));
}

/** Poll again soon while a shown run is Pending or Running; not at all otherwise. */
function pollLater() {
  clearTimeout(poller);
  poller = activeIds().length ? setTimeout(poll, POLL_MS) : null;
}

async function poll() {
  await Promise.all(activeIds().map((id) => refreshRun(id)));
  pollLater();
}

/** Fetch one run and redraw its row (and its log when that is open). */
async function refreshRun(id) {
  try {
    const run = await (await apiGet(`/system/gc/${id}`)).json();
    if (!ACTIVE.includes(run.job_status)) stopping.delete(id);
    const row = tbody.querySelector(`tr[data-id="${id}"]`);
    if (row) row.replaceWith(runRow(run, { stopping: stopping.has(id) }));
    if (state.log === id) await loadLog(id);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) window.location.assign(loginUrl());
  }
}

async function loadLog(id) {
  try {
    const text = await (await apiGet(`/system/gc/${id}/log`)).text();
    if (state.log !== id) return;
    $("log-text").textContent = text || "(the log is empty)";
    say("log-error", "");
  } catch (error) {
    if (state.log === id) say("log-error", error instanceof ApiError ? error.message : "Berth did not answer.");
  }
}

/** Show the panel of the run whose log the state names, or hide it. */
function showLog() {
  $("log-panel").hidden = !state.log;
  if (!state.log) return;
  $("log-title").textContent = `Log of run ${state.log}`;
  $("log-text").textContent = "Loading…";
  loadLog(state.log);
}

async function stop(id, control) {
  control.disabled = true;
  try {
    await apiSend("PUT", `/system/gc/${id}`);
    stopping.add(id);
    say("message", "");
  } catch (error) {
    say("message", error instanceof ApiError ? error.message : "Berth did not answer.");
  }
  await refreshRun(id);
  pollLater();
}

function runParameters() {
  const form = $("run-form");
  return {
    delete_untagged: form.elements.delete_untagged.checked,
    dry_run: form.elements.dry_run.checked,
    workers: workersOf(form.elements.workers),
  };
}

async function runNow(event) {
  event.preventDefault();
  const parameters = runParameters();
  if (parameters.workers === null) {
    say("run-error", "Workers must be a whole number from 1 to 10.");
    return;
  }
  $("run-now").disabled = true;
  try {
    await apiSend("POST", "/system/gc/schedule", { schedule: { type: "Manual" }, parameters });
    say("run-error", "");
    go({ ...state, page: 1 });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) window.location.assign(loginUrl());
    say("run-error", error instanceof ApiError ? error.message : "Berth did not answer.");
  } finally {
    $("run-now").disabled = false;
  }
}

function onRowAction(event) {
  const control = event.target.closest("button[data-action]");
  if (!control) return;
  const id = Number(control.closest("tr").dataset.id);
  if (control.dataset.action === "stop") stop(id, control);
  else go({ ...state, log: id });
}

async function showUser() {
  try {
    const user = await (await apiGet("/users/current")).json();
    $("whoami").textContent = user.username ?? "";
  } catch {
    // anonymous: the history call sends them to sign in
  }
}

function wire() {
  $("run-form").addEventListener("submit", runNow);
  tbody.addEventListener("click", onRowAction);
  $("refresh").addEventListener("click", () => load());
  $("close-log").addEventListener("click", () => go({ ...state, log: null }));
  $("prev").addEventListener("click", () => go({ ...state, page: Math.max(1, state.page - 1) }));
  $("next").addEventListener("click", () => go({ ...state, page: state.page + 1 }));
  $("page-size").addEventListener("change", (event) => {
    go({ ...state, pageSize: Number(event.target.value), page: 1 });
  });
  $("sign-out").addEventListener("click", (event) => {
    event.preventDefault();
    signOut();
  });
  window.addEventListener("popstate", () => {
    state = stateFromSearch(window.location.search);
    $("page-size").value = String(state.pageSize);
    load();
    showLog();
  });
}

for (const size of PAGE_SIZES) $("page-size").add(new Option(String(size), String(size)));
$("page-size").value = String(state.pageSize);
wire();
wireSchedule();
showUser();
load();
showLog();
loadSchedule();
