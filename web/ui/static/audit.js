// The audit page: the filters and the page live in the URL; each change loads that page of
// events from /api/v2.0/auditlog-exts and redraws the table, the pager and the export link.

import { apiGet, ApiError, loginUrl, signOut } from "./api.js";
import {
  apiParams, isoToLocal, localToIso, OPERATIONS, PAGE_SIZES, QueryError,
  RESOURCE_TYPES, searchFromState, stateFromSearch, TEXT_FIELDS,
} from "./query.js";
import { renderEvents } from "./table.js";

const $ = (id) => document.getElementById(id);
const main = $("audit");
const form = $("filters");
const tbody = $("events").tBodies[0];
let state = stateFromSearch(window.location.search);
let inFlight = null; // the AbortController of the newest load; older answers are dropped

function addOptions(select, values, label = (v) => v) {
  for (const value of values) select.add(new Option(label(value), String(value)));
}

/** Show the state in the form, the sort headers and the page-size select. */
function showState() {
  for (const field of TEXT_FIELDS) form.elements[field].value = state[field];
  form.elements.from.value = isoToLocal(state.from);
  form.elements.to.value = isoToLocal(state.to);
  $("page-size").value = String(state.pageSize);
  for (const th of document.querySelectorAll("th[data-sort]")) {
    const key = th.dataset.sort;
    const sort = state.sort === key ? "ascending" : state.sort === `-${key}` ? "descending" : "none";
    th.setAttribute("aria-sort", sort);
  }
}

/** The state the form describes, from page 1. */
function stateFromForm() {
  const next = { ...state, page: 1 };
  for (const field of TEXT_FIELDS) next[field] = form.elements[field].value.trim();
  next.from = localToIso(form.elements.from.value);
  next.to = localToIso(form.elements.to.value, { end: true });
  return next;
}

/** Move to a new state: into the URL (a history entry), then load it. */
function go(next) {
  state = next;
  const url = window.location.pathname + searchFromState(state);
  if (url !== window.location.pathname + window.location.search) {
    window.history.pushState(null, "", url);
  }
  showState();
  load();
}

function showMessage(text) {
  $("message").textContent = text;
  $("message").hidden = !text;
}

// The API pages no deeper than this many events: past it, narrow the filters instead.
const WINDOW = 10000;

function showPager(total, exact) {
  const reachable = Math.floor(WINDOW / state.pageSize);
  const pages = Math.max(1, Math.min(Math.ceil(total / state.pageSize), reachable));
  $("page-info").textContent = `Page ${state.page} of ${pages}`;
  $("prev").disabled = state.page <= 1;
  $("next").disabled = state.page >= pages;
  const noun = total === 1 ? "event" : "events";
  const more = exact ? "" : "+";
  $("summary").textContent = `${total.toLocaleString("en")}${more} ${noun}`;
}

function showExport() {
  const params = apiParams(state, { paged: false });
  $("export").href = `/api/v2.0/auditlog-exts/export?${params}`;
}

/** Load the current state's page of events; answers to superseded loads are ignored. */
async function load() {
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  main.dataset.state = "loading";
  $("events").setAttribute("aria-busy", "true");
  try {
    const params = apiParams(state);
    showExport();
    const response = await apiGet("/auditlog-exts", params, { signal: controller.signal });
    const events = await response.json();
    if (inFlight !== controller) return;
    const total = Number.parseInt(response.headers.get("X-Total-Count") || "", 10);
    showMessage("");
    renderEvents(tbody, events, "No events match these filters.");
    const exact = response.headers.get("X-Total-Count-Exact") !== "false";
    showPager(Number.isFinite(total) ? total : events.length, exact);
    main.dataset.state = "ready";
  } catch (error) {
    if (inFlight === controller) failed(error);
  } finally {
    if (inFlight === controller) $("events").removeAttribute("aria-busy");
  }
}

function failed(error) {
  if (error instanceof ApiError && error.status === 401) {
    window.location.assign(loginUrl());
    return;
  }
  if (error instanceof ApiError && error.status === 403) {
    $("browser").hidden = true;
    $("denied").textContent =
      "You are signed in, but you may not read the audit log: it is open to system " +
      "administrators, and to project administrators for their own projects.";
    $("denied").hidden = false;
    main.dataset.state = "denied";
    return;
  }
  if (error?.name === "AbortError") return;
  renderEvents(tbody, [], "");
  showPager(0);
  showMessage(error instanceof QueryError || error instanceof ApiError
    ? error.message
    : "Berth did not answer. Check your connection and try again.");
  main.dataset.state = "error";
}

/** The signed-in user's name in the top bar (a courtesy: the audit call decides access). */
async function showUser() {
  try {
    const user = await (await apiGet("/users/current")).json();
    $("whoami").textContent = user.username ?? "";
  } catch {
    // anonymous or a robot: the audit call sends the former to sign in
  }
}

function sortBy(key) {
  // A new column starts newest/highest first; a second click turns it around.
  const sort = state.sort === `-${key}` ? key : `-${key}`;
  go({ ...state, sort, page: 1 });
}

function wire() {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go(stateFromForm());
  });
  for (const name of ["operation", "resource_type", "result"]) {
    form.elements[name].addEventListener("change", () => go(stateFromForm()));
  }
  $("clear").addEventListener("click", () => {
    go({ ...stateFromSearch(""), sort: state.sort, pageSize: state.pageSize });
  });
  $("prev").addEventListener("click", () => go({ ...state, page: Math.max(1, state.page - 1) }));
  $("next").addEventListener("click", () => go({ ...state, page: state.page + 1 }));
  $("page-size").addEventListener("change", (event) => {
    go({ ...state, pageSize: Number(event.target.value), page: 1 });
  });
  for (const th of document.querySelectorAll("th[data-sort]")) {
    th.querySelector("button").addEventListener("click", () => sortBy(th.dataset.sort));
  }
  $("sign-out").addEventListener("click", (event) => {
    event.preventDefault();
    signOut();
  });
  window.addEventListener("popstate", () => {
    state = stateFromSearch(window.location.search);
    showState();
    load();
  });
}

addOptions(form.elements.operation, OPERATIONS);
addOptions(form.elements.resource_type, RESOURCE_TYPES, (v) => v.replaceAll("_", " "));
addOptions($("page-size"), PAGE_SIZES);
wire();
showState();
showUser();
load();
