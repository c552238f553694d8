// JSON calls to the API with the session cookie and Django's CSRF token.

export class NetworkError extends Error {}

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const cookie = document.cookie.split(";").map((c) => c.trim()).find((c) => c.startsWith("csrftoken="));
  if (cookie) return decodeURIComponent(cookie.slice("csrftoken=".length));
  return meta ? meta.content : "";
}

// Resolves to {status, data} for every HTTP answer (2xx or not) and throws
// NetworkError only when no answer arrived, so callers can retry safely.
export async function apiCall(method, url, body, { keepalive = false } = {}) {
  const init = {
    method,
    credentials: "same-origin",
    keepalive,
    headers: { Accept: "application/json", "X-CSRFToken": csrfToken(), "X-Requested-With": "XMLHttpRequest" },
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new NetworkError(err && err.message ? err.message : "network error");
  }
  let data = null;
  const text = await response.text().catch(() => "");
  if (text) {
    try { data = JSON.parse(text); } catch { data = { message: text.slice(0, 300) }; }
  }
  return { status: response.status, data };
}

// A refusal's words: the API's {"message"} or a generic sentence per status.
export function errorMessage(result) {
  if (result && result.data && typeof result.data.message === "string" && result.data.message) {
    return result.data.message;
  }
  if (result && result.status === 403) return "You are not allowed to do this (are you still signed in?).";
  if (result && result.status === 404) return "This task no longer exists.";
  return `The server answered ${result ? result.status : "nothing"}.`;
}

// RFC 4122 v4 id. crypto.randomUUID needs a secure context; plain-http
// deployments still have getRandomValues.
export function newUuid() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
