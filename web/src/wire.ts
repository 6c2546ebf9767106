// Track updates between the stream worker and the page: the worker parses each event's JSON and
// packs a track into a few numbers, so the page's main thread, which also draws, handles
// thousands of updates a second as typed arrays transferred without copying.

import type { ObjectClass, Track } from "./types";
import { secs } from "./types";

/** Numbers per packed track (the opaque id travels beside them, as a string). */
export const TRACK_FIELDS = 10;

export const STATUS = ["confirmed", "coasting", "deleted", "tentative"] as const;
export const CLASSES = ["person", "vehicle", "animal", "unknown"] as const;

/** The best class, when it is likely (as `trackClass`, for the raw JSON). */
export function classOf(t: Track): (typeof CLASSES)[number] {
  const c = t.class;
  if (!c) return "unknown";
  if (typeof c === "string") return c;
  const best = Math.max(c.person, c.vehicle, c.animal);
  if (best < 0.5) return "unknown";
  return best === c.person ? "person" : best === c.vehicle ? "vehicle" : "animal";
}

/** Writes a track at `out[o..o+TRACK_FIELDS]`: time (s), lon, lat, status, class, cov ×3,
 * speed (coarse releases; NaN otherwise), hostile (1/0). */
export function packTrack(t: Track, out: Float64Array, o: number): void {
  out[o] = secs(t.time);
  out[o + 1] = t.hostile ? 1 : 0;
  out[o + 2] = t.lon;
  out[o + 3] = t.lat;
  out[o + 4] = Math.max(0, STATUS.indexOf(t.status));
  out[o + 5] = CLASSES.indexOf(classOf(t));
  out[o + 6] = t.cov ? t.cov[0] : NaN;
  out[o + 7] = t.cov ? t.cov[1] : NaN;
  out[o + 8] = t.cov ? t.cov[2] : NaN;
  out[o + 9] = t.speed ?? NaN;
}

/** Reads a packed track back (what the page keeps of it). */
export function unpackTrack(a: Float64Array, o: number, id: string): Track & { t: number } {
  const cov: [number, number, number] | undefined = Number.isNaN(a[o + 6]) ? undefined : [a[o + 6], a[o + 7], a[o + 8]];
  const cls = CLASSES[a[o + 5]] ?? "unknown";
  return {
    id,
    t: a[o],
    hostile: a[o + 1] === 1,
    time: "",
    lon: a[o + 2],
    lat: a[o + 3],
    status: STATUS[a[o + 4]] ?? "confirmed",
    class: cls === "unknown" ? undefined : (cls as ObjectClass),
    cov,
    speed: Number.isNaN(a[o + 9]) ? undefined : a[o + 9],
  };
}

/** Writes a packed update into a track the page holds (no allocation but a new `cov`). */
export function updatePacked(t: Track & { t: number }, a: Float64Array, o: number): void {
  t.t = a[o];
  t.hostile = a[o + 1] === 1;
  t.lon = a[o + 2];
  t.lat = a[o + 3];
  t.status = STATUS[a[o + 4]] ?? "confirmed";
  const cls = CLASSES[a[o + 5]] ?? "unknown";
  t.class = cls === "unknown" ? undefined : (cls as ObjectClass);
  if (Number.isNaN(a[o + 6])) t.cov = undefined;
  else if (t.cov) {
    t.cov[0] = a[o + 6];
    t.cov[1] = a[o + 7];
    t.cov[2] = a[o + 8];
  } else t.cov = [a[o + 6], a[o + 7], a[o + 8]];
  t.speed = Number.isNaN(a[o + 9]) ? undefined : a[o + 9];
}

/** What the worker posts to the page. */
export type FromWorker =
  | { type: "open" }
  | { type: "error"; closed: boolean }
  | { type: "lagged"; missed: number }
  | {
      type: "batch";
      /** Packed tracks, TRACK_FIELDS numbers each. */
      tracks: Float64Array;
      /** Their opaque ids. */
      ids: string[];
      n: number;
      /** Arrival times of those tracks, ms on the page's performance clock. */
      arrivals: Float64Array;
      /** Alerts and facilities, parsed, in arrival order. */
      items: { kind: "alert" | "facility"; body: unknown }[];
      /** Bytes of event data received for this batch. */
      bytes: number;
    };

/** What the page asks of the worker. */
export type ToWorker = { type: "open" } | { type: "close" };
