import { describe, expect, it } from "vitest";
import { Playback } from "../src/history";
import type { Facility, HistoryWindow } from "../src/types";

const camp = (status: string): Facility => ({ id: "camp", name: "Camp", status, population: 949, exits: 0, estimate: 949 });

const win: HistoryWindow = {
  at: 1000,
  to: 1600,
  truncated: false,
  start: { tracks: [], alerts: [], facilities: [camp("secure")] },
  changes: [
    { t: 1100, kind: "track", body: { id: "t1", time: new Date(1100_000).toISOString(), status: "confirmed", lon: 38.87, lat: 36.38 } },
    { t: 1200, kind: "facility", body: camp("breached") },
    { t: 1300, kind: "track", body: { id: "t1", time: new Date(1300_000).toISOString(), status: "deleted", lon: 38.87, lat: 36.38 } },
  ],
};

describe("playback", () => {
  it("shows the picture as it was at any time of the window, forwards and back", () => {
    const p = new Playback();
    p.load(win);
    expect(p.picture.facilities.get("camp")!.status).toBe("secure");
    p.seek(1120);
    expect(p.picture.tracks.has("t1")).toBe(true);
    p.seek(1250);
    expect(p.picture.facilities.get("camp")!.status).toBe("breached");
    p.seek(1350);
    expect(p.picture.tracks.has("t1")).toBe(false);
    p.seek(1050);
    expect(p.picture.facilities.get("camp")!.status).toBe("secure");
    expect(p.picture.tracks.has("t1")).toBe(false);
    expect(p.covers(1599)).toBe(true);
    expect(p.covers(1601)).toBe(false);
  });

  it("lets a track missing from history for long go", () => {
    const p = new Playback();
    p.load(win);
    p.seek(1120);
    expect(p.picture.tracks.has("t1")).toBe(true);
    p.seek(1199);
    expect(p.picture.tracks.has("t1")).toBe(false);
  });
});
