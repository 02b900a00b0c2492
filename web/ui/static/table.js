// The events table. Every value goes in as text; search highlights are rebuilt as <mark>
// elements from the API's escaped markup rather than parsed as HTML, so nothing an event
// holds (a user agent, a resource name) can become markup in the page.

const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
const ENTITY = /&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/giu;
const MARK = /<mark>([\s\S]*?)<\/mark>/gu;

/** Text of an HTML-escaped string (the entities an escaper emits; others left as they are). */
export function unescapeHtml(text) {
  return text.replace(ENTITY, (whole, name) => {
    if (name[0] !== "#") return ENTITIES[name.toLowerCase()] ?? whole;
    const code = name[1].toLowerCase() === "x" ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1));
    return Number.isInteger(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

/** Nodes for a highlight value: escaped text with only <mark>…</mark> around the matches. */
export function highlightNodes(markup) {
  const nodes = [];
  let last = 0;
  for (const match of markup.matchAll(MARK)) {
    if (match.index > last) nodes.push(document.createTextNode(unescapeHtml(markup.slice(last, match.index))));
    const mark = document.createElement("mark");
    mark.textContent = unescapeHtml(match[1]);
    nodes.push(mark);
    last = match.index + match[0].length;
  }
  if (last < markup.length) nodes.push(document.createTextNode(unescapeHtml(markup.slice(last))));
  return nodes;
}

/** Put an event field into an element: its highlight when the search matched it, else text. */
function fill(element, event, field) {
  const markup = event.highlights?.[field];
  if (typeof markup === "string" && markup) element.replaceChildren(...highlightNodes(markup));
  else element.textContent = event[field] ?? "";
}

function cell(row, event, field, className) {
  const td = row.insertCell();
  if (className) td.className = className;
  if (field) fill(td, event, field);
  return td;
}

/** The viewer's offset from UTC at a moment, as "UTC+01:00" (or "UTC"): named on every time,
 * so a reader comparing with a log, or with a colleague elsewhere, knows which clock it is. */
export function zoneName(when) {
  const minutes = -when.getTimezoneOffset();
  if (minutes === 0) return "UTC";
  const pad = (n) => String(n).padStart(2, "0");
  const sign = minutes > 0 ? "+" : "-";
  const abs = Math.abs(minutes);
  return `UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** A <time> for an API time: "2026-11-26 23:05:03 UTC+01:00", the viewer's local time and
 * its zone, with the exact UTC time in a tooltip; the text as it came when it is no time. */
export function timeElement(iso) {
  const time = document.createElement("time");
  const when = new Date(iso);
  time.dateTime = iso ?? "";
  time.title = iso ?? "";
  if (!iso || Number.isNaN(when.getTime())) time.textContent = iso ?? "";
  else {
    const pad = (n) => String(n).padStart(2, "0");
    const day = `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}`;
    const clock = `${pad(when.getHours())}:${pad(when.getMinutes())}:${pad(when.getSeconds())}`;
    time.textContent = `${day} ${clock} ${zoneName(when)}`;
  }
  return time;
}

function timeCell(row, event) {
  cell(row, event, null, "time").append(timeElement(event.op_time));
}

/** The resource, with the operation's description under it when there is one. */
function resourceCell(row, event) {
  const td = cell(row, event, null, "resource");
  const name = document.createElement("div");
  fill(name, event, "resource");
  td.append(name);
  if (event.operation_description || event.highlights?.operation_description) {
    const description = document.createElement("div");
    description.className = "description";
    fill(description, event, "operation_description");
    td.append(description);
  }
}

function resultCell(row, event) {
  const td = cell(row, event, null, "result");
  const badge = document.createElement("span");
  badge.className = event.operation_result ? "badge ok" : "badge failed";
  badge.textContent = event.operation_result ? "Succeeded" : "Failed";
  td.append(badge);
}

function clientCell(row, event) {
  const td = cell(row, event, "client_ip", "client");
  td.title = event.user_agent ?? "";
  if (event.highlights?.user_agent) {
    const agent = document.createElement("div");
    agent.className = "description";
    fill(agent, event, "user_agent");
    td.append(agent);
  }
}

/** One table row for an event of the audit API. */
export function eventRow(tbody, event) {
  const row = tbody.insertRow();
  row.dataset.id = String(event.id ?? "");
  timeCell(row, event);
  cell(row, event, "username", "user");
  cell(row, event, "operation", "operation");
  cell(row, event, "resource_type", "resource-type");
  resourceCell(row, event);
  cell(row, event, "project", "project");
  resultCell(row, event);
  clientCell(row, event);
  return row;
}

/** Replace the table body's rows with these events, or a one-line note when there are none. */
export function renderEvents(tbody, events, emptyText) {
  tbody.replaceChildren();
  if (events.length === 0) {
    const td = tbody.insertRow().insertCell();
    td.colSpan = 8;
    td.className = "empty";
    td.textContent = emptyText;
    return;
  }
  for (const event of events) eventRow(tbody, event);
}
