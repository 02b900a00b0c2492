// The replication page's pieces that only draw: the rows of registries, rules, executions
// and tasks, a rule's filters and trigger in words, the progress of an execution, and the
// page state in the URL. Every server value goes in as text (textContent), never as markup.

import { humanBytes } from "./gcview.js";
import { timeElement } from "./table.js";

export const TABS = ["registries", "rules", "executions"];
export const IN_PROGRESS = "InProgress";
export const PAGE_SIZE = 10;
export const EXECUTION_STATUSES = ["InProgress", "Succeed", "Failed", "Stopped"];
export const TASK_STATUSES = ["Pending", ...EXECUTION_STATUSES];
/** The executions tab's page, filters and drill-down, all back to none. */
export const NO_DRILL_DOWN = { page: 1, policy: null, status: "", execution: null, task: null, taskStatus: "" };
const BADGES = {
  healthy: "ok", unhealthy: "failed", Succeed: "ok", Failed: "failed", InProgress: "busy", Pending: "busy",
};
const TRIGGERS = { manual: "Manual", scheduled: "Scheduled", event_based: "Event based", webhook: "CI webhook" };
const TYPES = { harbor: "Harbor / Berth", "docker-registry": "Docker Registry" };

/** "1 task", "3 tasks". */
export function plural(count, one, many) {
  return `${count} ${count === 1 ? one : many}`;
}

function positive(params, name) {
  const value = Number.parseInt(params.get(name) || "", 10);
  return Number.isSafeInteger(value) && value >= 1 ? value : null;
}

/** The page's state from its URL: the tab, the executions' page, rule and status filters,
 * the execution whose tasks are open (with their status filter) and the task whose log is
 * open. */
export function stateFromSearch(search) {
  const params = new URLSearchParams(search);
  const execution = positive(params, "execution");
  const tab = TABS.includes(params.get("tab")) ? params.get("tab") : execution ? "executions" : TABS[0];
  return {
    tab,
    page: positive(params, "page") ?? 1,
    policy: positive(params, "policy"),
    status: EXECUTION_STATUSES.includes(params.get("status")) ? params.get("status") : "",
    execution,
    task: execution ? positive(params, "task") : null,
    taskStatus: execution && TASK_STATUSES.includes(params.get("task_status")) ? params.get("task_status") : "",
  };
}

/** The URL's query string for a state; defaults are left out. */
export function searchFromState(state) {
  const params = new URLSearchParams();
  if (state.tab !== TABS[0]) params.set("tab", state.tab);
  if (state.page > 1) params.set("page", String(state.page));
  const keys = { policy: "policy", status: "status", execution: "execution", task: "task", taskStatus: "task_status" };
  for (const [key, name] of Object.entries(keys)) if (state[key]) params.set(name, String(state[key]));
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** Which way a rule copies and the remote side: {mode: "push" | "pull", remote}. */
export function sides(policy) {
  const pull = Boolean(policy.src_registry?.id);
  return { mode: pull ? "pull" : "push", remote: (pull ? policy.src_registry : policy.dest_registry) ?? {} };
}

/** A rule's filters in words: "name library/**, tag v* (excludes), images only". */
export function filtersText(filters) {
  const words = [];
  for (const filter of filters ?? []) {
    const value = Array.isArray(filter.value) ? filter.value.join(", ") : String(filter.value ?? "");
    if (filter.type === "resource") words.push(value === "image" ? "images only" : "other artifacts only");
    else if (value) words.push(`${filter.type} ${value}${filter.decoration === "excludes" ? " (excludes)" : ""}`);
  }
  return words.length ? words.join(", ") : "everything";
}

/** A trigger in words: "Manual", "Scheduled 0 0 2 * * *", "Event based". */
export function triggerText(trigger) {
  const type = trigger?.type || "manual";
  const cron = type === "scheduled" ? trigger?.trigger_settings?.cron : "";
  return [TRIGGERS[type] ?? type, cron].filter(Boolean).join(" ");
}

/** Where a rule puts what it copies: "same path", or the namespace and the flattening. */
export function destinationText(policy) {
  if (!policy.dest_namespace) return "same path";
  const count = policy.dest_namespace_replace_count;
  if (count === -1) return `${policy.dest_namespace} (last part only)`;
  if (count === 0) return `${policy.dest_namespace} (whole path)`;
  return `${policy.dest_namespace} (drop ${plural(count, "part", "parts")})`;
}

export function textCell(row, className, text) {
  const td = row.insertCell();
  td.className = className;
  td.textContent = text;
  return td;
}

function described(row, className, text, description) {
  const td = textCell(row, className, "");
  const name = document.createElement("div");
  name.textContent = text;
  td.append(name);
  if (description) {
    const under = document.createElement("div");
    under.className = "description";
    under.textContent = description;
    td.append(under);
  }
  return td;
}

export function badge(text, kind = BADGES[text]) {
  const span = document.createElement("span");
  span.className = kind ? `badge ${kind}` : "badge";
  span.textContent = text ?? "";
  return span;
}

export function button(text, action, label, primary = false) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = primary ? "small" : "secondary small";
  b.textContent = text;
  b.dataset.action = action;
  b.setAttribute("aria-label", label);
  return b;
}

function actions(row, ...buttons) {
  textCell(row, "actions", "").append(...buttons);
}

/** Replace a table body's rows with rows, or a one-line note when there are none. */
export function fillTable(tbody, rows, emptyText) {
  tbody.replaceChildren(...rows);
  if (rows.length) return;
  const td = tbody.insertRow().insertCell();
  td.colSpan = tbody.closest("table").tHead.rows[0].cells.length;
  td.className = "empty";
  td.textContent = emptyText;
}

/** One row of the registries table (Harbor's Registry). */
export function registryRow(registry) {
  const row = document.createElement("tr");
  row.dataset.id = String(registry.id ?? "");
  const name = registry.name ?? "";
  described(row, "name", name, registry.description);
  textCell(row, "type", TYPES[registry.type] ?? registry.type ?? "");
  textCell(row, "url", registry.url ?? "");
  textCell(row, "status", "").append(badge(registry.status || "unknown"));
  actions(
    row,
    button("Test connection", "ping", `Test connection to ${name}`),
    button("Edit", "edit", `Edit registry ${name}`),
    button("Delete", "delete", `Delete registry ${name}`),
  );
  return row;
}

/** One row of the rules table (Harbor's ReplicationPolicy). */
export function policyRow(policy) {
  const row = document.createElement("tr");
  row.dataset.id = String(policy.id ?? "");
  const name = policy.name ?? "";
  const { mode, remote } = sides(policy);
  described(row, "name", name, policy.description);
  const push = mode === "push";
  described(row, "mode", push ? "Push" : "Pull", `${push ? "to" : "from"} ${remote.name ?? ""}`);
  textCell(row, "destination", destinationText(policy));
  textCell(row, "rule-filters", filtersText(policy.filters));
  textCell(row, "trigger", triggerText(policy.trigger));
  textCell(row, "enabled", "").append(policy.enabled ? badge("Enabled", "ok") : badge("Disabled"));
  actions(
    row,
    button("Replicate now", "run", `Replicate ${name} now`, true),
    button("Executions", "executions", `Executions of ${name}`),
    button("Edit", "edit", `Edit rule ${name}`),
    button("CI trigger", "secret", `New CI trigger secret for ${name}`),
    button("Delete", "delete", `Delete rule ${name}`),
  );
  return row;
}

/** The progress of an execution: a bar of its finished tasks (indeterminate while it plans). */
export function progressElement(execution) {
  const done = (execution.succeed ?? 0) + (execution.failed ?? 0) + (execution.stopped ?? 0);
  const total = execution.total ?? 0;
  const bar = document.createElement("progress");
  if (total > 0) {
    bar.max = total;
    bar.value = done;
  } else if (execution.status !== IN_PROGRESS) {
    bar.max = 1;
    bar.value = 1;
  }
  let words = execution.status === IN_PROGRESS ? "planning" : "no tasks";
  if (total > 0) words = `${done} of ${plural(total, "task", "tasks")}`;
  bar.setAttribute("aria-label", `Progress of execution ${execution.id}: ${words}`);
  const text = document.createElement("span");
  text.className = "progress-text";
  text.textContent = words;
  return [bar, text];
}

function timeCell(row, className, iso) {
  const td = textCell(row, `time ${className}`, "");
  if (iso) td.append(timeElement(iso));
  return td;
}

function bytesCell(row, bytes) {
  const td = textCell(row, "number bytes", humanBytes(bytes));
  td.title = `${Number(bytes ?? 0).toLocaleString("en")} bytes`;
}

/** One row of the executions table; ruleName: the rule's name as the page knows it;
 * stopping: a stop was asked for and the execution has not ended yet. */
export function executionRow(execution, ruleName, stopping = false) {
  const row = document.createElement("tr");
  row.dataset.id = String(execution.id ?? "");
  row.dataset.status = execution.status ?? "";
  textCell(row, "id", String(execution.id ?? ""));
  textCell(row, "rule", ruleName);
  const status = textCell(row, "status", "");
  status.append(badge(execution.status));
  if (execution.status_text) {
    const text = document.createElement("div");
    text.className = "description";
    text.textContent = execution.status_text;
    status.append(text);
  }
  described(row, "trigger", TRIGGERS[execution.trigger] ?? execution.trigger ?? "", execution.operator);
  timeCell(row, "started", execution.start_time);
  timeCell(row, "ended", execution.end_time);
  textCell(row, "progress", "").append(...progressElement(execution));
  textCell(row, "number succeeded", String(execution.succeed ?? 0));
  textCell(row, "number failed", String(execution.failed ?? 0));
  textCell(row, "number total", String(execution.total ?? 0));
  bytesCell(row, execution.bytes);
  const buttons = [button("Tasks", "tasks", `Tasks of execution ${execution.id}`)];
  if (execution.status === IN_PROGRESS) {
    const stop = button(stopping ? "Stopping…" : "Stop", "stop", `Stop execution ${execution.id}`);
    stop.disabled = stopping;
    buttons.push(stop);
  }
  actions(row, ...buttons);
  return row;
}

/** One row of an execution's tasks (Harbor's ReplicationTask plus bytes). */
export function taskRow(task) {
  const row = document.createElement("tr");
  row.dataset.id = String(task.id ?? "");
  row.dataset.status = task.status ?? "";
  textCell(row, "id", String(task.id ?? ""));
  textCell(row, "resource-type", task.resource_type ?? "");
  const same = task.src_resource === task.dst_resource;
  described(row, "resource", task.src_resource ?? "", same ? "" : `→ ${task.dst_resource ?? ""}`);
  textCell(row, "operation", task.operation ?? "");
  textCell(row, "status", "").append(badge(task.status));
  timeCell(row, "started", task.start_time);
  timeCell(row, "ended", task.end_time);
  bytesCell(row, task.bytes);
  actions(row, button("Log", "log", `Log of task ${task.id}`));
  return row;
}
