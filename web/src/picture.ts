// The picture the page draws: the latest state of every track, alert and facility released to
// the signed-in organisation, kept from the event stream (live) or from history (the slider).
// Pure data, no DOM: unit-tested on its own.

import type { Alert, Facility, Item, LonLat, Track } from "./types";
import { secs } from "./types";
import { STATUS, TRACK_FIELDS, unpackTrack, updatePacked } from "./wire";

/** Positions kept per track for its trail. */
export const TRAIL_POINTS = 8;
/** Minimum seconds between two trail points. */
export const TRAIL_STEP_S = 5;
/** Tracks not updated for this long leave the picture (as on the server). */
export const TRACK_STALE_S = 120;

/** A track with its time in seconds and its short trail (oldest first, the current position last). */
export interface TrackState extends Track {
  t: number;
  trail: LonLat[];
  trailTimes: number[];
}

/** An alert with the local time it was first seen (for the "new" pulse and the alarm). */
export interface AlertState extends Alert {
  firstSeenMs: number;
  /** Counts of the revisions seen, oldest first (the breakout's climbing count). */
  counts: { t: number; n: number }[];
}

/** What changed since the last look, by kind. */
export interface Versions {
  tracks: number;
  alerts: number;
  facilities: number;
}

/** The picture: latest states, bounded (tracks leave when stale or deleted). */
export class Picture {
  readonly tracks = new Map<string, TrackState>();
  readonly alerts = new Map<string, AlertState>();
  readonly facilities = new Map<string, Facility>();
  readonly versions: Versions = { tracks: 0, alerts: 0, facilities: 0 };
  /** Newest item time seen, seconds since the epoch. */
  latest = 0;

  /** Applies one released item; returns the alert when it is one not seen before. */
  apply(item: Item, nowMs: number = Date.now()): AlertState | null {
    switch (item.kind) {
      case "track":
        this.applyTrack(item.body);
        return null;
      case "alert":
        return this.applyAlert(item.body, nowMs);
      case "facility":
        this.facilities.set(item.body.id, item.body);
        this.versions.facilities++;
        return null;
    }
  }

  private applyTrack(t: Track): void {
    this.applyTrackAt(t, secs(t.time));
  }

  /** Applies packed track updates from the stream worker (wire.ts); an update of a known
   * track is written into it in place, without allocating. */
  applyPacked(a: Float64Array, ids: string[], n: number): void {
    for (let i = 0; i < n; i++) {
      const o = i * TRACK_FIELDS;
      const old = this.tracks.get(ids[i]);
      if (!old || STATUS[a[o + 4]] === "deleted") {
        this.applyTrackAt(unpackTrack(a, o, ids[i]), a[o]);
        continue;
      }
      updatePacked(old, a, o);
      this.moved(old, old.t);
    }
  }

  /** The trail of a track that moved to its current position at `time`. */
  private moved(old: TrackState, time: number): void {
    if (Number.isFinite(time) && time > this.latest) this.latest = time;
    const { trail, trailTimes } = old;
    const last = trailTimes.length - 1;
    if (time - trailTimes[last] >= TRAIL_STEP_S) {
      trail.push([old.lon, old.lat]);
      trailTimes.push(time);
      if (trail.length > TRAIL_POINTS) {
        trail.shift();
        trailTimes.shift();
      }
    } else {
      trail[last] = [old.lon, old.lat];
      trailTimes[last] = time;
    }
    this.versions.tracks++;
  }

  private applyTrackAt(t: Track, time: number): void {
    if (Number.isFinite(time) && time > this.latest) this.latest = time;
    if (t.status === "deleted") {
      if (this.tracks.delete(t.id)) this.versions.tracks++;
      return;
    }
    const old = this.tracks.get(t.id);
    if (!old) {
      this.tracks.set(t.id, { ...t, t: time, trail: [[t.lon, t.lat]], trailTimes: [time] });
      this.versions.tracks++;
      return;
    }
    Object.assign(old, t);
    old.t = time;
    this.moved(old, time);
  }

  private applyAlert(a: Alert, nowMs: number): AlertState | null {
    const old = this.alerts.get(a.id);
    const t = secs(a.time);
    if (Number.isFinite(t)) this.latest = Math.max(this.latest, t);
    // A late copy of an older revision never replaces a newer one.
    if (old && old.rev > a.rev) return null;
    let counts = old ? old.counts : [];
    if (!counts.length || counts[counts.length - 1].n !== a.count) {
      counts = counts.concat([{ t, n: a.count }]).slice(-64);
    }
    const s: AlertState = { ...a, firstSeenMs: old ? old.firstSeenMs : nowMs, counts };
    this.alerts.set(a.id, s);
    this.versions.alerts++;
    return old ? null : s;
  }

  /** Drops tracks not updated for `staleS` (default [`TRACK_STALE_S`]) before `now` (seconds). */
  pruneTracks(now: number, staleS: number = TRACK_STALE_S): void {
    let n = 0;
    for (const [id, t] of this.tracks) {
      if (now - t.t >= staleS) {
        this.tracks.delete(id);
        n++;
      }
    }
    if (n) this.versions.tracks++;
  }

  /** Empties the picture (sign-out, or a new history window). */
  clear(): void {
    this.tracks.clear();
    this.alerts.clear();
    this.facilities.clear();
    this.versions.tracks++;
    this.versions.alerts++;
    this.versions.facilities++;
    this.latest = 0;
  }
}

/** The best class of a track, whatever its detail. */
export function trackClass(t: Track): "person" | "vehicle" | "animal" | "unknown" {
  const c = t.class;
  if (!c) return "unknown";
  if (typeof c === "string") return c;
  const best = Math.max(c.person, c.vehicle, c.animal);
  // A class under 50 % is not worth a symbol that claims it.
  if (best < 0.5) return "unknown";
  return best === c.person ? "person" : best === c.vehicle ? "vehicle" : "animal";
}

/** Parses one event of the stream into an item (null for anything else, e.g. `lagged`). */
export function parseEvent(name: string, data: string): Item | null {
  if (name !== "track" && name !== "alert" && name !== "facility") return null;
  let body: unknown;
  try {
    body = JSON.parse(data);
  } catch {
    return null;
  }
  if (!body || typeof body !== "object") return null;
  return { kind: name, body } as Item;
}
