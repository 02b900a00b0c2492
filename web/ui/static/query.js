// The audit page's state and how it maps to the page URL and to the API's parameters.
//
// The page URL holds the filters as the user typed them (user=..., from=<UTC ISO>), so a
// reload or a shared link shows the same result; the API gets Harbor's `q` syntax.

export const OPERATIONS = ["create", "update", "delete", "pull", "login", "logout"];
export const RESOURCE_TYPES = [
  "artifact", "tag", "repository", "project", "project_member", "user", "robot",
  "configuration", "webhook_policy", "audit_log",
];
export const PAGE_SIZES = [5, 15, 25, 50, 100];
export const DEFAULT_PAGE_SIZE = 15;
export const DEFAULT_SORT = "-op_time";
export const SORT_KEYS = ["op_time", "username", "operation", "resource_type", "resource"];

// Filters that are plain strings, in the page URL under these names.
export const TEXT_FIELDS = ["text", "user", "operation", "resource_type", "project", "result"];

// Python's str.split()/strip() whitespace as well as JavaScript's: the server splits
// `{a b}` on the former, so a value is tested against both.
const SPACE = /[\s\x1c-\x1f\x85]/u;
const EDGE_SPACE = /^[\s\x1c-\x1f\x85]+|[\s\x1c-\x1f\x85]+$/gu;
const OPENERS = { "[": "]", "{": "}", "(": ")" };

/** A value with surrounding whitespace removed, as the server would strip a term. */
export function tidy(value) {
  return String(value ?? "").replace(EDGE_SPACE, "");
}

/** The state in a page URL's query string; anything malformed falls back to its default. */
export function stateFromSearch(search) {
  const params = new URLSearchParams(search);
  const state = { sort: DEFAULT_SORT, page: 1, pageSize: DEFAULT_PAGE_SIZE, from: "", to: "" };
  for (const field of TEXT_FIELDS) state[field] = tidy(params.get(field));
  if (!OPERATIONS.includes(state.operation)) state.operation = "";
  if (!RESOURCE_TYPES.includes(state.resource_type)) state.resource_type = "";
  if (!["true", "false"].includes(state.result)) state.result = "";
  for (const end of ["from", "to"]) state[end] = isoOrEmpty(params.get(end));
  const sort = params.get("sort") || DEFAULT_SORT;
  if (SORT_KEYS.includes(sort.replace(/^-/, ""))) state.sort = sort;
  const page = Number.parseInt(params.get("page") || "1", 10);
  if (Number.isSafeInteger(page) && page >= 1) state.page = page;
  const size = Number.parseInt(params.get("page_size") || "", 10);
  if (PAGE_SIZES.includes(size)) state.pageSize = size;
  return state;
}

/** The page URL's query string for a state; defaults are left out to keep links short. */
export function searchFromState(state) {
  const params = new URLSearchParams();
  for (const field of TEXT_FIELDS) if (state[field]) params.set(field, state[field]);
  if (state.from) params.set("from", state.from);
  if (state.to) params.set("to", state.to);
  if (state.sort !== DEFAULT_SORT) params.set("sort", state.sort);
  if (state.page > 1) params.set("page", String(state.page));
  if (state.pageSize !== DEFAULT_PAGE_SIZE) params.set("page_size", String(state.pageSize));
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** The API's parameters for a state: q, text, sort and, unless for export, the page. */
export function apiParams(state, { paged = true } = {}) {
  const params = new URLSearchParams();
  const q = buildQ(state);
  if (q) params.set("q", q);
  if (state.text) params.set("text", state.text);
  params.set("sort", state.sort);
  if (paged) {
    params.set("page", String(state.page));
    params.set("page_size", String(state.pageSize));
  }
  return params;
}

/** Harbor's `q` for the state's filters; throws QueryError for a value q cannot express. */
export function buildQ(state) {
  const terms = [];
  if (state.user) terms.push(exactTerm("username", state.user));
  if (state.operation) terms.push(exactTerm("operation", state.operation));
  if (state.resource_type) terms.push(exactTerm("resource_type", state.resource_type));
  if (state.project) terms.push(exactTerm("project", state.project));
  if (state.result) terms.push(`operation_result=${state.result}`);
  if (state.from || state.to) terms.push(`op_time=[${state.from}~${state.to}]`);
  return terms.join(",");
}

export class QueryError extends Error {}

/**
 * `key=value` matching exactly, written so the server's parser (web/api/query.py) reads back
 * exactly this value: plain when that is unambiguous, else as a one-value `{...}` list.
 * Some values cannot be written at all, since the syntax has no escape character: one with
 * whitespace that also needs the braces (a comma, a leading `~`, an unmatched bracket), or
 * with a `}` followed by a comma.
 */
export function exactTerm(key, value) {
  for (const term of [`${key}=${value}`, `${key}={${value}}`]) {
    if (readsBackAs(term, key, value)) return term;
  }
  throw new QueryError(
    `“${value}” cannot be searched exactly: Harbor's query syntax has no way to write it ` +
      "(a space together with a comma, a leading ~ or an unmatched bracket). " +
      "Use the free-text search instead.",
  );
}

// Mirrors web/api/query.py: the term must stay one term (no top-level comma, brackets
// closed) and parse as an exact match, or as a one-value any-of, of this very value.
function readsBackAs(term, key, value) {
  if (!staysOneTerm(term)) return false;
  const raw = tidy(term);
  const sep = raw.indexOf("=");
  if (sep < 0 || tidy(raw.slice(0, sep)) !== key) return false;
  const rest = raw.slice(sep + 1);
  if (rest.startsWith("{") && rest.endsWith("}")) {
    const inner = rest.slice(1, -1);
    return inner === value && inner.length > 0 && !SPACE.test(inner);
  }
  if (rest.startsWith("~") || rest.startsWith("[") || rest.startsWith("{")) return false;
  if (rest.startsWith("(") && rest.endsWith(")")) return false;
  return rest === value && rest.length > 0;
}

function staysOneTerm(term) {
  let closing = "";
  for (const char of term) {
    if (closing) closing = char === closing ? "" : closing;
    else if (char in OPENERS) closing = OPENERS[char];
    else if (char === ",") return false;
  }
  return closing === "";
}

function isoOrEmpty(value) {
  if (!value) return "";
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? "" : time.toISOString();
}

/** A datetime-local input's value (local time) as UTC ISO; `end` takes in its last unit. */
export function localToIso(local, { end = false } = {}) {
  if (!local) return "";
  const time = new Date(local);
  if (Number.isNaN(time.getTime())) return "";
  if (end) {
    // "to 10:05" means up to the end of that minute (or second, when seconds were given).
    const unit = local.length > 16 ? 1000 : 60_000;
    time.setTime(time.getTime() + unit - 1);
  }
  return time.toISOString();
}

/** A UTC ISO time as a datetime-local input's value (local time, to the second). */
export function isoToLocal(iso) {
  if (!iso) return "";
  const time = new Date(iso);
  if (Number.isNaN(time.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  const date = `${time.getFullYear()}-${pad(time.getMonth() + 1)}-${pad(time.getDate())}`;
  return `${date}T${pad(time.getHours())}:${pad(time.getMinutes())}:${pad(time.getSeconds())}`;
}
