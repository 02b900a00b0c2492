// The Rules tab: the replication rules (GET /replication/policies), the editor
// (ruleform.js), delete, "Replicate now" (POST /replication/executions), and the CI
// trigger: a new secret (POST /replication/policies/{id}/trigger_secret) shown this once
// with the webhook's URL, then forgotten by the page.

import { apiGet, apiSend } from "./api.js";
import { $, attempt, complain, counted, createdId, go, shared, tell, totalOf } from "./replstate.js";
import { NO_DRILL_DOWN, fillTable, policyRow } from "./replview.js";
import { closeRule, editedRule, openRule, wireRuleForm } from "./ruleform.js";

const tbody = $("rules").tBodies[0];

/** Load and show the rules (Harbor's page size at most: 100). */
export async function loadRules() {
  const response = await apiGet("/replication/policies", new URLSearchParams({ page_size: "100" }));
  const rows = await response.json();
  shared.policies = rows;
  fillTable(tbody, rows.map(policyRow), "No rule yet: add one with New rule.");
  $("rules-summary").textContent = counted(rows.length, totalOf(response, rows), "rule", "rules");
  for (const redraw of shared.onPolicies) redraw();
}

function byId(id) {
  return shared.policies.find((p) => p.id === id);
}

async function runNow(policy, control) {
  control.disabled = true;
  try {
    const response = await apiSend("POST", "/replication/executions", { policy_id: policy.id });
    const id = createdId(response);
    tell(id ? `Execution ${id} of ${policy.name} started.` : `${policy.name} started.`);
    go({ ...NO_DRILL_DOWN, tab: "executions", policy: policy.id });
  } catch (error) {
    complain(error);
  } finally {
    control.disabled = false;
  }
}

async function remove(policy) {
  if (!window.confirm(`Delete rule ${policy.name}?`)) return;
  const done = await attempt(() => apiSend("DELETE", `/replication/policies/${policy.id}`));
  if (done) tell(`Rule ${policy.name} deleted.`);
  if (editedRule() === policy.id) closeRule();
  await attempt(loadRules);
}

/** Forget the secret shown (it is not shown again). */
export function hideSecret() {
  $("secret-panel").hidden = true;
  $("hook-secret").value = "";
  $("hook-url").value = "";
  $("copy-status").textContent = "";
}

async function newSecret(policy) {
  const question = `Make a new CI trigger secret for ${policy.name}? A secret made before stops working.`;
  if (!window.confirm(question)) return;
  hideSecret();
  try {
    const answer = await (await apiSend("POST", `/replication/policies/${policy.id}/trigger_secret`)).json();
    $("secret-title").textContent = `CI trigger of ${policy.name}`;
    $("hook-url").value = new URL(answer.url, window.location.origin).href;
    $("hook-secret").value = answer.secret;
    $("secret-panel").hidden = false;
    $("hook-secret").select();
    tell(`A new trigger secret for ${policy.name}: copy it now.`);
  } catch (error) {
    complain(error);
  }
}

/** Copy a read-only field's text; where the clipboard is closed, select it for the user. */
async function copy(event) {
  const control = event.target.closest("button[data-copy]");
  if (!control) return;
  const input = $(control.dataset.copy);
  const what = control.dataset.copy === "hook-url" ? "URL" : "Secret";
  try {
    await navigator.clipboard.writeText(input.value);
    $("copy-status").textContent = `${what} copied.`;
  } catch {
    input.select();
    $("copy-status").textContent = `${what} selected: copy it with Ctrl+C.`;
  }
}

function onRowAction(event) {
  const control = event.target.closest("button[data-action]");
  if (!control) return;
  const policy = byId(Number(control.closest("tr").dataset.id));
  if (!policy) return;
  const action = control.dataset.action;
  if (action === "run") runNow(policy, control);
  else if (action === "executions") go({ ...NO_DRILL_DOWN, tab: "executions", policy: policy.id });
  else if (action === "edit") openRule(policy);
  else if (action === "secret") newSecret(policy);
  else remove(policy);
}

/** Wire the tab's controls once. */
export function wireRules() {
  wireRuleForm(async (name) => {
    tell(`Rule ${name} saved.`);
    await attempt(loadRules);
  });
  $("new-rule").addEventListener("click", () => openRule(null));
  $("refresh-rules").addEventListener("click", () => attempt(loadRules));
  $("secret-panel").addEventListener("click", copy);
  $("close-secret").addEventListener("click", hideSecret);
  tbody.addEventListener("click", onRowAction);
}
