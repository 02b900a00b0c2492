// The rule editor: a replication rule (Harbor's ReplicationPolicy) into the form and back.
// The form edits the first name, tag and resource filter; any other filter a rule has (a
// label filter, a second name filter set through the API) is kept as it is.

import { apiSend } from "./api.js";
import { $, refusal, say, shared } from "./replstate.js";
import { sides } from "./replview.js";

const form = $("rule-form");
const EDITED = ["name", "tag", "resource"];
let editing = null; // the rule the form changes; null: the form makes a new one
let saved = () => undefined; // what to do after a save (set by wireRuleForm)

/** The remote registries as the form's choices, keeping the one chosen. */
function fillRegistries(chosen) {
  const select = form.elements.registry;
  const keep = chosen ?? select.value;
  select.replaceChildren(...shared.registries.map((r) => new Option(`${r.name} (${r.url})`, String(r.id))));
  if (!shared.registries.length) select.add(new Option("No registry yet: add one on the Registries tab", ""));
  if (keep && [...select.options].some((o) => o.value === String(keep))) select.value = String(keep);
}

/** The filters the form shows (the first of each kind) and those it keeps untouched. */
function splitFilters(filters) {
  const first = {};
  const rest = [];
  for (const filter of filters ?? []) {
    if (EDITED.includes(filter.type) && !first[filter.type]) first[filter.type] = filter;
    else rest.push(filter);
  }
  return { first, rest };
}

/** Event-based triggers follow this Berth's own pushes and deletes: a push rule's only.
 * switching: the user chose the mode (a rule as stored is shown as it is). */
function fitTrigger(switching = false) {
  const pull = form.elements.mode.value === "pull";
  const trigger = form.elements.trigger;
  trigger.querySelector('option[value="event_based"]').disabled = pull;
  if (switching && pull && trigger.value === "event_based") trigger.value = "manual";
  showCron();
}

function showCron() {
  const scheduled = form.elements.trigger.value === "scheduled";
  $("p-cron-field").hidden = !scheduled;
  form.elements.cron.required = scheduled;
}

function chooseReplaceCount(count) {
  const select = form.elements.dest_namespace_replace_count;
  if (![...select.options].some((o) => o.value === String(count))) {
    select.add(new Option(`Drop ${count} parts`, String(count)));
  }
  select.value = String(count);
}

/** Open the editor on a rule, or empty (with Harbor's defaults) for a new one. */
export function openRule(policy) {
  editing = policy ?? null;
  const e = form.elements;
  const { mode, remote } = policy ? sides(policy) : { mode: "push", remote: {} };
  const { first } = splitFilters(policy?.filters);
  $("rule-form-title").textContent = policy ? `Edit rule ${policy.name}` : "New rule";
  e.name.value = policy?.name ?? "";
  e.description.value = policy?.description ?? "";
  e.mode.value = mode;
  fillRegistries(remote.id ?? "");
  e.name_filter.value = first.name?.value ?? "";
  e.tag_filter.value = first.tag?.value ?? "";
  e.tag_decoration.value = first.tag?.decoration === "excludes" ? "excludes" : "matches";
  e.resource.value = first.resource?.value ?? "";
  e.dest_namespace.value = policy?.dest_namespace ?? "";
  chooseReplaceCount(policy?.dest_namespace_replace_count ?? -1);
  e.trigger.value = policy?.trigger?.type ?? "manual";
  e.cron.value = policy?.trigger?.trigger_settings?.cron ?? "";
  e.speed.value = String(Math.max(policy?.speed ?? 0, 0));
  e.override.checked = policy?.override ?? true;
  e.replicate_deletion.checked = Boolean(policy?.replicate_deletion);
  e.copy_by_chunk.checked = Boolean(policy?.copy_by_chunk);
  e.single_active_replication.checked = Boolean(policy?.single_active_replication);
  e.enabled.checked = policy?.enabled ?? true;
  fitTrigger();
  say("rule-error", "");
  form.hidden = false;
  e.name.focus();
}

export function closeRule() {
  form.hidden = true;
  editing = null;
}

/** The id of the rule being edited (null: none or a new one). */
export function editedRule() {
  return editing?.id ?? null;
}

function formFilters(e) {
  const filters = [];
  const name = e.name_filter.value.trim();
  const tag = e.tag_filter.value.trim();
  if (name) filters.push({ type: "name", value: name });
  if (tag) filters.push({ type: "tag", value: tag, decoration: e.tag_decoration.value });
  if (e.resource.value) filters.push({ type: "resource", value: e.resource.value });
  return [...filters, ...splitFilters(editing?.filters).rest];
}

/** Harbor's ReplicationPolicy body from the form, or a string saying what is missing. */
function requestBody() {
  const e = form.elements;
  const registry = Number(e.registry.value);
  const speed = e.speed.value.trim() === "" ? 0 : Number(e.speed.value);
  if (!e.name.value.trim()) return "Enter the rule's name.";
  if (!registry) return "Choose the remote registry (add one on the Registries tab first).";
  if (!Number.isSafeInteger(speed) || speed < 0) return "The speed limit must be a whole number of KB/s (0: none).";
  const remote = { id: registry };
  const push = e.mode.value === "push";
  const type = e.trigger.value;
  return {
    name: e.name.value.trim(),
    description: e.description.value.trim(),
    src_registry: push ? null : remote,
    dest_registry: push ? remote : null,
    filters: formFilters(e),
    dest_namespace: e.dest_namespace.value.trim(),
    dest_namespace_replace_count: Number(e.dest_namespace_replace_count.value),
    trigger: { type, trigger_settings: { cron: type === "scheduled" ? e.cron.value.trim() : "" } },
    speed,
    override: e.override.checked,
    replicate_deletion: e.replicate_deletion.checked,
    copy_by_chunk: e.copy_by_chunk.checked,
    single_active_replication: e.single_active_replication.checked,
    enabled: e.enabled.checked,
  };
}

async function save(event) {
  event.preventDefault();
  const body = requestBody();
  if (typeof body === "string") {
    say("rule-error", body);
    return;
  }
  $("save-rule").disabled = true;
  try {
    if (editing) await apiSend("PUT", `/replication/policies/${editing.id}`, body);
    else await apiSend("POST", "/replication/policies", body);
    closeRule();
    await saved(body.name);
  } catch (error) {
    say("rule-error", refusal(error));
  } finally {
    $("save-rule").disabled = false;
  }
}

/** Wire the editor once; onSaved(name) runs after a rule was saved. */
export function wireRuleForm(onSaved) {
  saved = onSaved;
  form.addEventListener("submit", save);
  form.elements.trigger.addEventListener("change", showCron);
  form.elements.mode.addEventListener("change", () => fitTrigger(true));
  $("cancel-rule").addEventListener("click", closeRule);
  shared.onRegistries.push(() => fillRegistries(null));
  showCron();
}
