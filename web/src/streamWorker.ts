// A dedicated worker that reads the event stream (the session cookie goes with it: same origin),
// parses every event and hands the page batches: tracks packed in a typed array (transferred,
// not copied), alerts and facilities as objects. The page's main thread stays free to draw.
// Alerts and facilities come on a stream of their own (`?kinds=alert,facility`), so that an
// acknowledgement never waits behind thousands of track updates in the same pipe.

/// <reference lib="webworker" />

import type { Track } from "./types";
import { packTrack, TRACK_FIELDS, type FromWorker, type ToWorker } from "./wire";

declare const self: DedicatedWorkerGlobalScope;

/** Batches go to the page at most this often (ms). */
const FLUSH_MS = 16;

let streams: EventSource[] = [];
let tracks = new Float64Array(1024 * TRACK_FIELDS);
let arrivals = new Float64Array(1024);
let ids: string[] = [];
let n = 0;
let items: { kind: "alert" | "facility"; body: unknown }[] = [];
let bytes = 0;
let timer: ReturnType<typeof setTimeout> | null = null;
/** The page's clock and this worker's differ by their time origins. */
const toPage = performance.timeOrigin;

function post(m: FromWorker, transfer: Transferable[] = []): void {
  self.postMessage(m, transfer);
}

function flush(): void {
  timer = null;
  if (n === 0 && items.length === 0) return;
  const t = tracks.slice(0, n * TRACK_FIELDS);
  const a = arrivals.slice(0, n);
  post({ type: "batch", tracks: t, ids, n, arrivals: a, items, bytes }, [t.buffer, a.buffer]);
  ids = [];
  n = 0;
  items = [];
  bytes = 0;
}

function later(now = false): void {
  if (now) {
    // Alerts and facilities go at once: people wait for them.
    if (timer) clearTimeout(timer);
    timer = null;
    flush();
    return;
  }
  timer ??= setTimeout(flush, FLUSH_MS);
}

function onTrack(data: string): void {
  let t: Track;
  try {
    t = JSON.parse(data);
  } catch {
    return;
  }
  if (typeof t?.id !== "string" || typeof t.lon !== "number" || typeof t.lat !== "number") return;
  if ((n + 1) * TRACK_FIELDS > tracks.length) {
    const bigger = new Float64Array(tracks.length * 2);
    bigger.set(tracks);
    tracks = bigger;
    const a = new Float64Array(arrivals.length * 2);
    a.set(arrivals);
    arrivals = a;
  }
  packTrack(t, tracks, n * TRACK_FIELDS);
  ids.push(t.id);
  // On the page's performance clock: this worker's now, shifted by the two origins' difference
  // (the page adds its own origin back).
  arrivals[n] = performance.now() + toPage;
  n++;
  bytes += data.length;
  later();
}

function onItem(kind: "alert" | "facility", data: string): void {
  try {
    items.push({ kind, body: JSON.parse(data) });
  } catch {
    return;
  }
  bytes += data.length;
  later(true);
}

function watch(s: EventSource): void {
  s.addEventListener("lagged", (e) => {
    flush();
    let missed = 0;
    try {
      missed = Number(JSON.parse((e as MessageEvent<string>).data).missed) || 0;
    } catch {
      // Still lagged.
    }
    post({ type: "lagged", missed });
  });
  s.onopen = () => post({ type: "open" });
  s.onerror = () => {
    if (!streams.includes(s)) return;
    flush();
    post({ type: "error", closed: s.readyState === EventSource.CLOSED });
  };
}

function open(): void {
  close();
  const events = new EventSource("/api/v1/stream?kinds=alert,facility");
  events.addEventListener("alert", (e) => onItem("alert", (e as MessageEvent<string>).data));
  events.addEventListener("facility", (e) => onItem("facility", (e as MessageEvent<string>).data));
  const tracks = new EventSource("/api/v1/stream?kinds=track");
  tracks.addEventListener("track", (e) => onTrack((e as MessageEvent<string>).data));
  streams = [events, tracks];
  watch(events);
  watch(tracks);
}

function close(): void {
  for (const s of streams) s.close();
  streams = [];
  if (timer) clearTimeout(timer);
  timer = null;
  n = 0;
  ids = [];
  items = [];
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  if (e.data.type === "open") open();
  else close();
};
