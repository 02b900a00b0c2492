// The garbage-collection schedule panel: what is set (type, cron, next run, parameters) and
// the form that changes it with PUT /system/gc/schedule; the API's 400 reason beside it.

import { apiGet, apiSend, ApiError, loginUrl } from "./api.js";
import { parametersText } from "./gcview.js";
import { timeElement } from "./table.js";

const $ = (id) => document.getElementById(id);
const form = $("schedule-form");
const SCHEDULE = "/system/gc/schedule";

function say(id, text) {
  $(id).textContent = text;
  $(id).hidden = !text;
}

/** Workers from a number field, or null when it is not a whole number from 1 to 10. */
export function workersOf(input) {
  const text = input.value.trim();
  const workers = Number(text);
  return /^\d+$/u.test(text) && workers >= 1 && workers <= 10 ? workers : null;
}

function showCron() {
  const custom = form.elements.type.value === "Custom";
  $("s-cron-field").hidden = !custom;
  form.elements.cron.required = custom;
}

/** Show a Harbor Schedule answer, and put it in the form. */
function show(body) {
  const schedule = body?.schedule ?? {};
  const parameters = body?.parameters ?? {};
  const type = schedule.type || "None";
  $("schedule-type").textContent = type === "None" ? "None (runs only when started)" : type;
  $("schedule-cron").textContent = schedule.cron || "—";
  const next = schedule.next_scheduled_time;
  $("schedule-next").replaceChildren(next ? timeElement(next) : document.createTextNode("—"));
  $("schedule-parameters").textContent = type === "None" ? "—" : parametersText(parameters);
  form.elements.type.value = type;
  form.elements.cron.value = type === "Custom" ? schedule.cron ?? "" : "";
  form.elements.delete_untagged.checked = Boolean(parameters.delete_untagged);
  form.elements.dry_run.checked = Boolean(parameters.dry_run);
  form.elements.workers.value = String(parameters.workers ?? 1);
  showCron();
}

function refused(error) {
  if (error instanceof ApiError && error.status === 401) {
    window.location.assign(loginUrl());
    return "";
  }
  return error instanceof ApiError ? error.message : "Berth did not answer. Check your connection and try again.";
}

/** Load and show the schedule; errors go beside the form. */
export async function loadSchedule() {
  try {
    show(await (await apiGet(SCHEDULE)).json());
    form.dataset.state = "ready";
  } catch (error) {
    say("schedule-error", refused(error));
  }
}

function requestBody() {
  const type = form.elements.type.value;
  const schedule = type === "Custom" ? { type, cron: form.elements.cron.value.trim() } : { type };
  const parameters = {
    delete_untagged: form.elements.delete_untagged.checked,
    dry_run: form.elements.dry_run.checked,
    workers: workersOf(form.elements.workers),
  };
  return { schedule, parameters };
}

async function save(event) {
  event.preventDefault();
  say("schedule-saved", "");
  const body = requestBody();
  if (body.parameters.workers === null) {
    say("schedule-error", "Workers must be a whole number from 1 to 10.");
    return;
  }
  $("save-schedule").disabled = true;
  try {
    await apiSend("PUT", SCHEDULE, body);
    say("schedule-error", "");
    await loadSchedule();
    say("schedule-saved", "Schedule saved.");
  } catch (error) {
    say("schedule-error", refused(error));
  } finally {
    $("save-schedule").disabled = false;
  }
}

/** Wire the form's events once. */
export function wireSchedule() {
  form.elements.type.addEventListener("change", showCron);
  form.addEventListener("submit", save);
  showCron();
}
