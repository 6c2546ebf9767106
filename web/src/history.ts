// The time slider's playback: a window of history from the server (the picture at its start and
// the changes after it) replayed into a picture of its own, at 1–60× or by seeking.

import { Picture } from "./picture";
import type { HistoryWindow, Item } from "./types";

/** History keeps track states about every 10 s; a track missing for longer than this is gone. */
export const HISTORY_TRACK_GAP_S = 35;

/** Playback speeds offered. */
export const SPEEDS = [1, 5, 10, 30, 60];

/** A history window replayed into a picture. */
export class Playback {
  readonly picture = new Picture();
  private win: HistoryWindow | null = null;
  private next = 0;
  /** The time shown, seconds since the epoch. */
  t = 0;

  /** Whether `t` lies in the loaded window. */
  covers(t: number): boolean {
    return !!this.win && t >= this.win.at && t <= this.win.to;
  }

  /** The loaded window's end, if any. */
  get end(): number | null {
    return this.win ? this.win.to : null;
  }

  /** Whether the loaded window stopped early (the server's row limit). */
  get truncated(): boolean {
    return !!this.win?.truncated;
  }

  /** Loads a window and shows its start. */
  load(w: HistoryWindow): void {
    this.win = w;
    this.reset();
  }

  private reset(): void {
    const w = this.win;
    this.picture.clear();
    this.next = 0;
    if (!w) return;
    this.t = w.at;
    for (const body of w.start.facilities) this.picture.apply({ kind: "facility", body }, 0);
    for (const body of w.start.alerts) this.picture.apply({ kind: "alert", body }, 0);
    for (const body of w.start.tracks) this.picture.apply({ kind: "track", body }, 0);
  }

  /** Shows the picture at `t` (within the window): forward by applying changes, back by replaying. */
  seek(t: number): void {
    const w = this.win;
    if (!w) return;
    t = Math.min(Math.max(t, w.at), w.to);
    if (t < this.t) this.reset();
    while (this.next < w.changes.length && w.changes[this.next].t <= t) {
      const c = w.changes[this.next++];
      this.picture.apply({ kind: c.kind, body: c.body } as Item, 0);
    }
    this.t = t;
    this.picture.pruneTracks(t, HISTORY_TRACK_GAP_S);
  }
}
