// What the replication page's tabs share: the state in the URL, the registries and rules
// last loaded (the other tabs show their names), and how a message or a refusal is shown.

import { ApiError, loginUrl } from "./api.js";
import { searchFromState, stateFromSearch } from "./replview.js";

export const $ = (id) => document.getElementById(id);

/** state: the URL's; registries, policies: the lists last loaded; show: redraws the state
 * (set by replication.js); onRegistries, onPolicies: what else to redraw when they change. */
export const shared = {
  state: stateFromSearch(window.location.search),
  registries: [],
  policies: [],
  show: () => undefined,
  onRegistries: [],
  onPolicies: [],
};

export function say(id, text) {
  $(id).textContent = text;
  $(id).hidden = !text;
}

/** Move to a new state (changes over the current one): into the URL, then show it. */
export function go(changes) {
  shared.state = { ...shared.state, ...changes };
  const url = window.location.pathname + searchFromState(shared.state);
  if (url !== window.location.pathname + window.location.search) window.history.pushState(null, "", url);
  shared.show();
}

/** The words for a failed call: the API's message; a lapsed session goes to sign in. */
export function refusal(error) {
  if (error instanceof ApiError && error.status === 401) {
    window.location.assign(loginUrl());
    return "";
  }
  if (error?.name === "AbortError") return "";
  return error instanceof ApiError ? error.message : "Berth did not answer. Check your connection and try again.";
}

/** Signed in but no administrator: say why and show no controls (the API refuses anyway). */
export function denied(error) {
  $("console").hidden = true;
  say("denied", `You are signed in, but may not manage replication: ${error.message}`);
  $("replication").dataset.state = "denied";
}

/** Show a failed call's reason at the top of the page. */
export function complain(error) {
  if (error instanceof ApiError && error.status === 403) {
    denied(error);
    return;
  }
  const text = refusal(error);
  if (!text) return;
  say("notice", "");
  say("message", text);
}

/** Say that something was done (and clear an earlier complaint). */
export function tell(text) {
  say("message", "");
  say("notice", text);
}

/** Run work; a failure is shown with complain. Whether it succeeded. */
export async function attempt(work) {
  try {
    await work();
    return true;
  } catch (error) {
    complain(error);
    return false;
  }
}

/** The id at the end of a 201's Location ("/api/v2.0/replication/executions/7" → 7). */
export function createdId(response) {
  const id = Number.parseInt((response.headers.get("Location") || "").split("/").pop() || "", 10);
  return Number.isSafeInteger(id) ? id : null;
}

/** The X-Total-Count of a list answer, or the rows' count without one. */
export function totalOf(response, rows) {
  const counted = Number.parseInt(response.headers.get("X-Total-Count") || "", 10);
  return Number.isFinite(counted) ? counted : rows.length;
}

/** "3 registries", or "100 of 240 registries" when one page does not hold them all. */
export function counted(shown, total, one, many) {
  const noun = total === 1 ? one : many;
  return shown < total ? `${shown} of ${total.toLocaleString("en")} ${noun}` : `${total} ${noun}`;
}
