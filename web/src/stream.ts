// The event stream (`GET /api/v1/stream`, server-sent events with the session cookie), read by a
// worker (streamWorker.ts) that parses and packs it; this side applies its batches to the live
// picture. On `lagged` the picture is rebuilt from a fresh stream; when the server refuses the
// stream (an ended session) the page asks to sign in.

import { api, ApiError } from "./api";
import { serverClock } from "./clock";
import { t } from "./i18n";
import * as perf from "./perf";
import type { Alert, Facility } from "./types";
import { alertsChanged, conn, live, reloadSite, signedOut } from "./state";
import type { FromWorker, ToWorker } from "./wire";

let worker: Worker | null = null;
let retry: ReturnType<typeof setTimeout> | null = null;
let housekeeping: ReturnType<typeof setInterval> | null = null;

function send(m: ToWorker): void {
  worker?.postMessage(m);
}

function onBatch(m: Extract<FromWorker, { type: "batch" }>): void {
  if (m.n) {
    // Worker times are on its own clock: shift them by the difference of the time origins.
    const shift = performance.timeOrigin;
    for (let i = 0; i < m.n; i++) m.arrivals[i] -= shift;
    perf.arrivedBatch(m.arrivals, m.n);
    live.applyPacked(m.tracks, m.ids, m.n);
  }
  perf.receivedBytes(m.bytes);
  let alerts = false;
  let offline = false;
  for (const it of m.items) {
    if (it.kind === "alert") {
      const a = it.body as Alert;
      live.apply({ kind: "alert", body: a });
      alerts = true;
      offline ||= a.kind === "sensor_offline";
    } else {
      live.apply({ kind: "facility", body: it.body as Facility });
    }
  }
  if (alerts) alertsChanged();
  if (offline) void reloadSite();
}

function onMessage(e: MessageEvent<FromWorker>): void {
  const m = e.data;
  switch (m.type) {
    case "batch":
      onBatch(m);
      break;
    case "open":
      conn.value = "live";
      break;
    case "lagged":
      conn.value = "lagged";
      // Missed changes: start again from a fresh picture.
      live.clear();
      send({ type: "open" });
      break;
    case "error":
      conn.value = "lost";
      // Refused (e.g. 401): find out whether the session ended.
      if (m.closed) void checkSession();
      break;
  }
}

/** Opens (or reopens) the stream. */
export function openStream(): void {
  if (retry) clearTimeout(retry);
  retry = null;
  conn.value = "connecting";
  if (!worker) {
    worker = new Worker(new URL("./streamWorker.ts", import.meta.url), { type: "module", name: "limes-stream" });
    worker.onmessage = onMessage;
  }
  send({ type: "open" });
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
      stopAll();
      signedOut(t("signin.expired"));
    } else {
      retry = setTimeout(() => void checkSession(), 2000);
    }
  }
}

/** Stops the stream, the worker and the housekeeping (sign-out). */
export function stopAll(): void {
  if (retry) clearTimeout(retry);
  retry = null;
  send({ type: "close" });
  worker?.terminate();
  worker = null;
  if (housekeeping) clearInterval(housekeeping);
  housekeeping = null;
}
