// The Executions tab: the executions (paged, newest first, optionally of one rule), their
// live progress (the InProgress ones polled every 2 s, and no polling when none is), Stop
// (PUT), and the drill-down to an execution's tasks and a task's log (as text).

import { apiGet, apiSend } from "./api.js";
import { $, attempt, complain, counted, go, refusal, say, shared, totalOf } from "./replstate.js";
import { IN_PROGRESS, NO_DRILL_DOWN, PAGE_SIZE, executionRow, fillTable, taskRow } from "./replview.js";

const main = $("replication");
const tbody = $("executions").tBodies[0];
const tasksBody = $("tasks").tBodies[0];
const EXECUTIONS = "/replication/executions";
const POLL_MS = 2000;
const TASKS_SHOWN = "100";
const LIVE_TASK = ["Pending", IN_PROGRESS];
let inFlight = null; // the AbortController of the newest list load
let poller = null; // the timer of the next poll
let openStatus = ""; // the status of the execution whose tasks are open
let logStatus = ""; // the status of the task whose log is open
const stopping = new Set(); // executions asked to stop that were in progress when last seen

function ruleName(id) {
  return shared.policies.find((p) => p.id === id)?.name ?? `rule ${id}`;
}

function row(execution) {
  return executionRow(execution, ruleName(execution.policy_id), stopping.has(execution.id));
}

function showPager(total) {
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  $("page-info").textContent = `Page ${shared.state.page} of ${pages}`;
  $("prev").disabled = shared.state.page <= 1;
  $("next").disabled = shared.state.page >= pages;
  $("executions-summary").textContent = `${total.toLocaleString("en")} ${total === 1 ? "execution" : "executions"}`;
}

/** Load the current page of executions; answers to superseded loads are ignored. */
export async function loadExecutions() {
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  const { page, policy, status } = shared.state;
  const params = new URLSearchParams({ page: String(page), page_size: String(PAGE_SIZE) });
  if (policy) params.set("policy_id", String(policy));
  if (status) params.set("status", status);
  $("exec-policy").value = policy ? String(policy) : "";
  $("exec-status").value = status;
  $("executions").setAttribute("aria-busy", "true");
  try {
    const response = await apiGet(EXECUTIONS, params, { signal: controller.signal });
    const rows = await response.json();
    if (inFlight !== controller) return;
    const total = totalOf(response, rows);
    let empty = "No execution yet: start one with Replicate now on the Rules tab.";
    if (total) empty = "No executions on this page.";
    else if (policy || status) empty = "No execution matches.";
    fillTable(tbody, rows.map(row), empty);
    showPager(total);
    pollLater();
  } catch (error) {
    if (inFlight === controller) complain(error);
  } finally {
    if (inFlight === controller) $("executions").removeAttribute("aria-busy");
  }
}

function activeIds() {
  return [...tbody.rows].filter((r) => r.dataset.status === IN_PROGRESS).map((r) => Number(r.dataset.id));
}

function live() {
  return activeIds().length > 0 || openStatus === IN_PROGRESS || LIVE_TASK.includes(logStatus);
}

/** Poll again in 2 s while anything shown is in progress; not at all otherwise. */
function pollLater() {
  clearTimeout(poller);
  const polling = shared.state.tab === "executions" && live();
  poller = polling ? setTimeout(poll, POLL_MS) : null;
  main.dataset.polling = polling ? "on" : "off";
}

/** Stop polling (the tab is left). */
export function stopPolling() {
  clearTimeout(poller);
  poller = null;
  main.dataset.polling = "off";
}

async function poll() {
  const { execution, task } = shared.state;
  const refreshTasks = openStatus === IN_PROGRESS;
  const refreshLog = LIVE_TASK.includes(logStatus);
  await Promise.all(activeIds().map((id) => refreshExecution(id)));
  if (execution && refreshTasks) await loadTasks(execution);
  if (task && refreshLog) await loadLog(execution, task);
  pollLater();
}

/** Fetch one execution and redraw its row. */
async function refreshExecution(id) {
  try {
    const execution = await (await apiGet(`${EXECUTIONS}/${id}`)).json();
    if (execution.status !== IN_PROGRESS) stopping.delete(id);
    tbody.querySelector(`tr[data-id="${id}"]`)?.replaceWith(row(execution));
  } catch (error) {
    refusal(error);
  }
}

async function stop(id, control) {
  control.disabled = true;
  const done = await attempt(() => apiSend("PUT", `${EXECUTIONS}/${id}`));
  if (done) stopping.add(id);
  await refreshExecution(id);
  pollLater();
}

function taskParams() {
  const params = new URLSearchParams({ page_size: TASKS_SHOWN });
  if (shared.state.taskStatus) params.set("status", shared.state.taskStatus);
  return params;
}

/** Load the open execution's tasks (the first 100, of a status if one is chosen) and the
 * execution's own status. */
async function loadTasks(id) {
  try {
    const [execution, response] = await Promise.all([
      apiGet(`${EXECUTIONS}/${id}`).then((r) => r.json()),
      apiGet(`${EXECUTIONS}/${id}/tasks`, taskParams()),
    ]);
    const tasks = await response.json();
    if (shared.state.execution !== id) return;
    openStatus = execution.status;
    $("tasks-title").textContent = `Tasks of execution ${id} (${ruleName(execution.policy_id)})`;
    const empty = shared.state.taskStatus
      ? "No task has this status."
      : execution.status === IN_PROGRESS ? "No task planned yet." : "This execution had nothing to copy.";
    fillTable(tasksBody, tasks.map(taskRow), empty);
    $("tasks-summary").textContent = counted(tasks.length, totalOf(response, tasks), "task", "tasks");
    say("tasks-error", "");
    const shown = tasks.find((t) => t.id === shared.state.task);
    if (shown) logStatus = shown.status;
  } catch (error) {
    if (shared.state.execution === id) say("tasks-error", refusal(error));
  }
}

async function loadLog(execution, task) {
  try {
    const text = await (await apiGet(`${EXECUTIONS}/${execution}/tasks/${task}/log`)).text();
    if (shared.state.task !== task) return;
    $("log-text").textContent = text || "(the log is empty)";
    say("log-error", "");
  } catch (error) {
    if (shared.state.task === task) say("log-error", refusal(error));
  }
}

/** Show the tab as the state says: the executions, the open tasks and the open log. */
export async function showExecutions() {
  const { execution, task } = shared.state;
  $("tasks-panel").hidden = !execution;
  $("log-panel").hidden = !task;
  openStatus = "";
  logStatus = "";
  const loads = [loadExecutions()];
  $("task-status").value = shared.state.taskStatus;
  if (execution) {
    $("tasks-title").textContent = `Tasks of execution ${execution}`;
    loads.push(loadTasks(execution));
  }
  if (task) {
    $("log-title").textContent = `Log of task ${task}`;
    $("log-text").textContent = "Loading…";
    loads.push(loadLog(execution, task));
  }
  await Promise.all(loads);
  pollLater();
}

function fillRules() {
  const select = $("exec-policy");
  const options = shared.policies.map((p) => new Option(p.name, String(p.id)));
  select.replaceChildren(new Option("All rules", ""), ...options);
  select.value = shared.state.policy ? String(shared.state.policy) : "";
}

function onRowAction(event) {
  const control = event.target.closest("button[data-action]");
  if (!control) return;
  const id = Number(control.closest("tr").dataset.id);
  if (control.dataset.action === "stop") stop(id, control);
  else reveal("tasks-panel", { execution: id, task: null, taskStatus: "" });
}

/** Open a panel the user asked for, and bring it into view. */
function reveal(panel, changes) {
  go(changes);
  $(panel).scrollIntoView({ block: "nearest" });
}

function onTaskAction(event) {
  const control = event.target.closest("button[data-action]");
  if (control) reveal("log-panel", { task: Number(control.closest("tr").dataset.id) });
}

/** Wire the tab's controls once. */
export function wireExecutions() {
  tbody.addEventListener("click", onRowAction);
  tasksBody.addEventListener("click", onTaskAction);
  $("refresh-executions").addEventListener("click", () => showExecutions());
  $("close-tasks").addEventListener("click", () => go({ execution: null, task: null, taskStatus: "" }));
  $("task-status").addEventListener("change", (event) => go({ taskStatus: event.target.value, task: null }));
  $("close-log").addEventListener("click", () => go({ task: null }));
  $("prev").addEventListener("click", () => go({ page: Math.max(1, shared.state.page - 1) }));
  $("next").addEventListener("click", () => go({ page: shared.state.page + 1 }));
  $("exec-policy").addEventListener("change", (event) => {
    go({ ...NO_DRILL_DOWN, policy: Number(event.target.value) || null, status: shared.state.status });
  });
  $("exec-status").addEventListener("change", (event) => {
    go({ ...NO_DRILL_DOWN, policy: shared.state.policy, status: event.target.value });
  });
  shared.onPolicies.push(fillRules);
}
