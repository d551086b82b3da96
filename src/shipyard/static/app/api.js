// The one way the UI talks to Shipyard: /api/v1, as an agent would. The cookie session carries the
// identity; every mutation sends the session's CSRF token and a fresh Idempotency-Key.
let csrfToken = "";

export function useCsrfToken(token) { csrfToken = token || ""; }

// A refusal from the API (RFC 9457 problem+json), kept whole so the page can explain it.
export class Problem extends Error {
  constructor(status, body, requestId) {
    super(body.detail || body.title || `HTTP ${status}`);
    this.status = status;
    this.code = body.code || "";
    this.title = body.title || "";
    this.requestId = body.request_id || requestId || "";
    this.errors = body.errors || [];
  }
  // A stale edit: someone changed the record since this page read it.
  get isStale() { return this.status === 412 || (this.status === 409 && /version|changed|stale/.test(this.code)); }
}

function url(path, query) {
  const target = new URL(`/api/v1${path}`, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") { target.searchParams.set(name, value); }
  }
  return target;
}

async function send(method, path, options) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["X-CSRF-Token"] = csrfToken;
    headers["Idempotency-Key"] = crypto.randomUUID();
  }
  if (options.body !== undefined) { headers["Content-Type"] = "application/json"; }
  if (options.ifMatch) { headers["If-Match"] = options.ifMatch; }
  return fetch(url(path, options.query), {
    method,
    headers,
    credentials: "same-origin",
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
}

// The access cookie lives minutes; the refresh cookie renews it once, then the person signs in again.
async function refreshSession() {
  const response = await fetch("/api/auth/refresh", {
    method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken },
  });
  return response.ok;
}

export async function api(method, path, options = {}) {
  let response = await send(method, path, options);
  if (response.status === 401 && await refreshSession()) { response = await send(method, path, options); }
  if (response.status === 401) {
    window.location.assign(`/login?return_to=${encodeURIComponent(window.location.pathname + window.location.search)}`);
  }
  if (!response.ok) {
    let body = {};
    try { body = await response.json(); } catch { body = { title: response.statusText }; }
    throw new Problem(response.status, body, response.headers.get("X-Request-ID"));
  }
  const data = response.status === 204 ? null : await response.json();
  return { data, etag: response.headers.get("ETag") };
}

export const get = async (path, query) => (await api("GET", path, { query })).data;
