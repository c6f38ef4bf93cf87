// DOM building and the platform API client. Data is only ever set as text (textContent or
// attribute values), never parsed as HTML: a dataset value "<img onerror=...>" shows as text.

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** h("a", {href: "#/x", class: "c"}, "text", otherNode): an element; strings become text nodes. */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** The same for SVG elements. */
export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

/** A value of a preview row or a metric as text: NULL for null, JSON for objects, a fraction to 12
 * significant digits (a sum of cents reads 3060.37, not 3060.3699999999994; the exact value is the
 * cell's tooltip). */
export function shown(value) {
  if (value === null || value === undefined) return h("span", {class: "null"}, "NULL");
  if (typeof value === "object") return JSON.stringify(value);
  if (typeof value === "number" && Number.isFinite(value) && !Number.isInteger(value)) {
    const short = String(Number(value.toPrecision(12)));
    return short === String(value) ? short : h("span", {title: String(value)}, short);
  }
  return String(value);
}

export function table(columns, rows, cell) {
  return h("table", {class: "grid"},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) => h("td", {}, cell(row, c)))))));
}

export function when(epochSeconds) {
  if (epochSeconds === null || epochSeconds === undefined) return "";
  return new Date(epochSeconds * 1000).toLocaleString();
}

export function seconds(value) {
  return value === null || value === undefined ? "" : `${value.toFixed(2)} s`;
}

// ------------------------------------------------------------------ the API client

const KEY_ITEM = "tideflow.key";

export class ApiError extends Error {
  constructor(status, body, path) {
    const message = (body && (body.message || (Array.isArray(body.detail) &&
      body.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ")))) || `HTTP ${status}`;
    super(message);
    this.status = status;
    this.body = body;
    this.path = path;
  }
}

export const key = {
  get: () => sessionStorage.getItem(KEY_ITEM),
  set: (value) => sessionStorage.setItem(KEY_ITEM, value),
  clear: () => sessionStorage.removeItem(KEY_ITEM),
};

/** Calls the platform API with the key of this tab; throws ApiError with the server's message. */
export async function api(path, {method = "GET", body, apiKey} = {}) {
  const headers = {"X-API-Key": apiKey ?? key.get() ?? ""};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) throw new ApiError(response.status, payload, path);
  return payload;
}

export const enc = encodeURIComponent;
