// Calls to Berth's REST API with the session cookie, and the sign-in/out round trips.

export const API = "/api/v2.0";
export const LOGIN_PAGE = "/ui/login";
export const HOME_PAGE = "/ui/audit";
const CSRF_HEADER = "X-Harbor-CSRF-Token";
// Every API answer to a session caller carries the session's CSRF token; a change (any
// method but GET) must send it back.
let csrfToken = "";

function remember(response) {
  const token = response.headers.get(CSRF_HEADER);
  if (token) csrfToken = token;
}

/** An API answer that was not 2xx: its status and Harbor's error message. */
export class ApiError extends Error {
  constructor(status, message, response) {
    super(message);
    this.status = status;
    this.response = response;
  }
}

/** GET an API path; resolves to the Response, rejects with ApiError on a non-2xx answer. */
export async function apiGet(path, params, { signal } = {}) {
  const query = params && params.toString() ? `?${params}` : "";
  const response = await fetch(`${API}${path}${query}`, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
    signal,
  });
  remember(response);
  if (!response.ok) throw new ApiError(response.status, await errorMessage(response), response);
  return response;
}

/** Send a JSON body (or none) with a method and the session's CSRF token; resolves to the
 * Response, rejects with ApiError on a non-2xx answer. */
export async function apiSend(method, path, body) {
  if (!csrfToken) await apiGet("/users/current").catch(() => undefined);
  const headers = { Accept: "application/json", [CSRF_HEADER]: csrfToken };
  const init = { method, credentials: "same-origin", headers };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`${API}${path}`, init);
  remember(response);
  if (!response.ok) throw new ApiError(response.status, await errorMessage(response), response);
  return response;
}

/** Harbor's `{"errors": [{"message": ...}]}`, or the status text when the body has none. */
export async function errorMessage(response) {
  try {
    const body = await response.json();
    const message = body?.errors?.[0]?.message;
    if (typeof message === "string" && message) return message;
  } catch {
    // not JSON: fall through to the status line
  }
  return `${response.status} ${response.statusText}`.trim();
}

/** POST the sign-in form; resolves to the Response (the caller reads its status). */
export function signIn(principal, password) {
  return fetch("/c/login", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ principal, password }),
  });
}

/** End the session, then show the sign-in page. */
export async function signOut() {
  try {
    await fetch("/c/log_out", { credentials: "same-origin" });
  } finally {
    window.location.assign(LOGIN_PAGE);
  }
}

/** The sign-in page, asked to come back to where the visitor is now. */
export function loginUrl() {
  const here = window.location.pathname + window.location.search;
  return `${LOGIN_PAGE}?${new URLSearchParams({ next: here })}`;
}

/** Where to go after signing in: `next` if it is a dashboard page of this site, else home. */
export function safeNext(next) {
  if (!next) return HOME_PAGE;
  try {
    const url = new URL(next, window.location.origin);
    const ours = url.origin === window.location.origin && url.pathname.startsWith("/ui/");
    return ours && url.pathname !== LOGIN_PAGE ? url.pathname + url.search : HOME_PAGE;
  } catch {
    return HOME_PAGE;
  }
}
