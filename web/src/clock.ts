// The server's clock as the page sees it: the server may run a drill clock (e.g. 60× for an
// exercise), so ages and the time slider follow its time, extrapolated between readings.

import type { ClockInfo } from "./types";

/** A reading of the server clock, extrapolated. */
export class ServerClock {
  private unix = Date.now() / 1000;
  private speed = 1;
  private at = performance.now();

  /** Takes a fresh reading. */
  set(c: ClockInfo, atMs: number = performance.now()): void {
    this.unix = c.unix;
    this.speed = c.speed;
    this.at = atMs;
  }

  /** The server's time now, seconds since the epoch. */
  now(atMs: number = performance.now()): number {
    return this.unix + ((atMs - this.at) / 1000) * this.speed;
  }

  /** Server seconds per wall second. */
  get rate(): number {
    return this.speed;
  }
}

export const serverClock = new ServerClock();
