// The replication page: three tabs — the remote registries (registries.js), the rules
// (rules.js, ruleform.js) and their executions with tasks and logs (executions.js). The tab,
// the executions' page and rule, and the open execution and task live in the URL. Open to
// system administrators: the API decides, and the page shows no control before it has.

import { apiGet, signOut } from "./api.js";
import { showExecutions, stopPolling, wireExecutions } from "./executions.js";
import { loadRegistries, wireRegistries } from "./registries.js";
import { $, complain, go, say, shared } from "./replstate.js";
import { NO_DRILL_DOWN, TABS, stateFromSearch } from "./replview.js";
import { hideSecret, loadRules, wireRules } from "./rules.js";

const main = $("replication");

function showTabs() {
  for (const tab of TABS) {
    const selected = shared.state.tab === tab;
    const control = $(`tab-${tab}`);
    control.setAttribute("aria-selected", String(selected));
    control.tabIndex = selected ? 0 : -1;
    $(`panel-${tab}`).hidden = !selected;
  }
}

/** Show the state: the tab, and on the executions tab what it has open. */
async function show() {
  showTabs();
  if (shared.state.tab !== "rules") hideSecret();
  if (shared.state.tab === "executions") await showExecutions();
  else stopPolling();
}

function choose(tab) {
  if (tab === shared.state.tab) return;
  say("message", "");
  say("notice", "");
  // the executions' filter and drill-down stay in the state only while their tab is open
  go(tab === "executions" ? { tab } : { ...NO_DRILL_DOWN, tab });
}

/** Arrow keys, Home and End move between the tabs (the ARIA tabs pattern). */
function onTabKey(event) {
  const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -TABS.length, End: TABS.length };
  if (!(event.key in moves)) return;
  event.preventDefault();
  const at = TABS.indexOf(shared.state.tab);
  const next = TABS[Math.min(TABS.length - 1, Math.max(0, at + moves[event.key]))];
  choose(next);
  $(`tab-${next}`).focus();
}

async function showUser() {
  try {
    const user = await (await apiGet("/users/current")).json();
    $("whoami").textContent = user.username ?? "";
  } catch {
    // anonymous: the first list call sends them to sign in
  }
}

function wire() {
  for (const tab of TABS) $(`tab-${tab}`).addEventListener("click", () => choose(tab));
  $("console").querySelector('[role="tablist"]').addEventListener("keydown", onTabKey);
  $("sign-out").addEventListener("click", (event) => {
    event.preventDefault();
    signOut();
  });
  window.addEventListener("popstate", () => {
    shared.state = stateFromSearch(window.location.search);
    show();
  });
  wireRegistries();
  wireRules();
  wireExecutions();
}

/** The registries and rules first (every tab names them); then the console is shown. */
async function start() {
  shared.show = show;
  wire();
  showUser();
  try {
    await Promise.all([loadRegistries(), loadRules()]);
  } catch (error) {
    complain(error);
    if (main.dataset.state !== "denied") main.dataset.state = "error";
    return;
  }
  $("console").hidden = false;
  await show();
  main.dataset.state = "ready";
}

start();
