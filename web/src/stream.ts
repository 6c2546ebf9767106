// The event stream (`GET /api/v1/stream`, server-sent events with the session cookie): opens with
// the picture released to the organisation, then every change. On `lagged` it reopens to get a
// fresh picture; when the server refuses it (an ended session) the page asks to sign in.

import { api, ApiError } from "./api";
import { serverClock } from "./clock";
import { t } from "./i18n";
import * as perf from "./perf";
import { parseEvent } from "./picture";
import { alertsChanged, conn, live, reloadSite, signedOut } from "./state";

let es: EventSource | null = null;
let retry: ReturnType<typeof setTimeout> | null = null;
let housekeeping: ReturnType<typeof setInterval> | null = null;

function onMessage(name: string, e: MessageEvent<string>): void {
  const item = parseEvent(name, e.data);
  if (!item) return;
  if (item.kind === "track") perf.arrived(e.data.length);
  else perf.received(e.data.length);
  live.apply(item);
  if (item.kind === "alert") {
    alertsChanged();
    if (item.body.kind === "sensor_offline") void reloadSite();
  }
}

/** Opens (or reopens) the stream. */
export function openStream(): void {
  closeStream();
  conn.value = "connecting";
  const s = new EventSource("/api/v1/stream", { withCredentials: false });
  es = s;
  for (const name of ["track", "alert", "facility"]) {
    s.addEventListener(name, (e) => onMessage(name, e as MessageEvent<string>));
  }
  s.addEventListener("lagged", (e) => {
    perf.received((e as MessageEvent<string>).data.length);
    conn.value = "lagged";
    // Missed changes: start again from a fresh picture.
    live.clear();
    openStream();
  });
  s.onopen = () => {
    conn.value = "live";
  };
  s.onerror = () => {
    if (s !== es) return;
    conn.value = "lost";
    if (s.readyState === EventSource.CLOSED) {
      // Refused (e.g. 401): find out whether the session ended.
      void checkSession();
    }
  };
  housekeeping ??= setInterval(() => {
    live.pruneTracks(serverClock.now());
    void api.clock().then((c) => serverClock.set(c), () => undefined);
  }, 5000);
}

async function checkSession(): Promise<void> {
  try {
    await api.session();
    retry = setTimeout(openStream, 2000);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      closeStream();
      signedOut(t("signin.expired"));
    } else {
      retry = setTimeout(() => void checkSession(), 2000);
    }
  }
}

/** Closes the stream and stops retrying. */
export function closeStream(): void {
  if (retry) clearTimeout(retry);
  retry = null;
  es?.close();
  es = null;
}

/** Stops everything (sign-out). */
export function stopAll(): void {
  closeStream();
  if (housekeeping) clearInterval(housekeeping);
  housekeeping = null;
}
