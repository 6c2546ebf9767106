// Calls to `limes serve`: same origin only, the session cookie sent by the browser, and the
// CSRF token in a header on every request that changes something.

import type {
  Alert,
  ClockInfo,
  Facility,
  HistoryRange,
  HistoryWindow,
  NuisanceRecent,
  Resolution,
  SessionInfo,
  SiteGeometry,
} from "./types";

/** A refusal from the server, with its message (shown to the operator as text). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}

let csrf = "";

/** Remembers the CSRF token of the current session (from sign-in or `GET /api/v1/session`). */
export function setCsrf(token: string): void {
  csrf = token;
}

/** The headers of a request: JSON, and the CSRF token on anything but GET. */
export function headersFor(method: string, token: string = csrf): Record<string, string> {
  const h: Record<string, string> = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") {
    h["Content-Type"] = "application/json";
    if (token) h["X-CSRF-Token"] = token;
  }
  return h;
}

/** Only paths of this origin's API may be requested. */
export function checkPath(path: string): string {
  if (!path.startsWith("/api/v1/") || path.includes("//") || path.includes("..")) {
    throw new Error(`refusing to request ${path}`);
  }
  return path;
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const r = await fetch(checkPath(path), {
    method,
    headers: headersFor(method),
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
    redirect: "error",
  });
  const text = await r.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!r.ok) {
    const msg =
      json && typeof json === "object" && "error" in json && typeof (json as { error: unknown }).error === "string"
        ? (json as { error: string }).error
        : `${r.status} ${r.statusText}`;
    const ra = Number(r.headers.get("Retry-After"));
    throw new ApiError(r.status, msg, Number.isFinite(ra) && ra > 0 ? ra : undefined);
  }
  return json as T;
}

export const api = {
  session: () => call<SessionInfo>("GET", "/api/v1/session"),
  signIn: (user: string, password: string) => call<SessionInfo>("POST", "/api/v1/session", { user, password }),
  signOut: () => call<unknown>("DELETE", "/api/v1/session"),
  site: () => call<SiteGeometry>("GET", "/api/v1/site"),
  clock: () => call<ClockInfo>("GET", "/api/v1/clock"),
  alerts: () => call<{ alerts: Alert[] }>("GET", "/api/v1/alerts?limit=500"),
  facilities: () => call<{ facilities: Facility[] }>("GET", "/api/v1/facilities"),
  ack: (id: string, note?: string) => call<Alert>("POST", `/api/v1/alerts/${encodeURIComponent(id)}/ack`, note ? { note } : {}),
  assign: (id: string, unit: string, note?: string) =>
    call<Alert>("POST", `/api/v1/alerts/${encodeURIComponent(id)}/assign`, note ? { unit, note } : { unit }),
  resolve: (id: string, reason: Resolution, note?: string) =>
    call<Alert>("POST", `/api/v1/alerts/${encodeURIComponent(id)}/resolve`, note ? { reason, note } : { reason }),
  updateFacility: (
    id: string,
    u: { status?: string; head_count?: number; guards?: number; note?: string },
  ) => call<Facility>("POST", `/api/v1/facilities/${encodeURIComponent(id)}`, u),
  historyRange: () => call<HistoryRange>("GET", "/api/v1/history"),
  history: (at: number, span: number) =>
    call<HistoryWindow>("GET", `/api/v1/history?at=${at.toFixed(3)}&span=${span.toFixed(0)}`),
  nuisance: (hours: number) => call<NuisanceRecent>("GET", `/api/v1/nuisance/recent?hours=${hours}`),
};
