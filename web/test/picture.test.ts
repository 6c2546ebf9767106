import { describe, expect, it } from "vitest";
import { parseEvent, Picture, trackClass, TRAIL_POINTS } from "../src/picture";
import type { Alert, Track } from "../src/types";

function track(id: string, s: number, lon = 38.87): Track {
  return {
    id,
    time: new Date(s * 1000).toISOString(),
    status: "confirmed",
    lon,
    lat: 36.38,
    class: { person: 0.8, vehicle: 0.1, animal: 0.1 },
  };
}

describe("the picture", () => {
  it("keeps a short trail, one point per step, newest last", () => {
    const p = new Picture();
    for (let i = 0; i < 30; i++) p.apply({ kind: "track", body: track("t1", 1000 + i * 5, 38.8 + i * 0.001) });
    const t = p.tracks.get("t1")!;
    expect(t.trail.length).toBe(TRAIL_POINTS);
    expect(t.trail[t.trail.length - 1][0]).toBeCloseTo(38.8 + 29 * 0.001, 9);
    // Updates within a step move the last point instead of adding one.
    p.apply({ kind: "track", body: track("t1", 1000 + 29 * 5 + 1, 38.9) });
    expect(p.tracks.get("t1")!.trail.length).toBe(TRAIL_POINTS);
  });

  it("removes deleted and stale tracks", () => {
    const p = new Picture();
    p.apply({ kind: "track", body: track("t1", 1000) });
    p.apply({ kind: "track", body: track("t2", 1100) });
    p.apply({ kind: "track", body: { ...track("t2", 1101), status: "deleted" } });
    expect(p.tracks.has("t2")).toBe(false);
    p.pruneTracks(1000 + 119);
    expect(p.tracks.has("t1")).toBe(true);
    p.pruneTracks(1000 + 120);
    expect(p.tracks.has("t1")).toBe(false);
  });

  it("reports an alert the first time only and never goes back a revision", () => {
    const p = new Picture();
    const a: Alert = {
      id: "a4", rev: 2, kind: "mass_breakout", severity: "critical", state: "open",
      time: "2019-10-12T21:00:00Z", raised: "2019-10-12T20:55:00Z", count: 12, status: "new",
    };
    expect(p.apply({ kind: "alert", body: a })).not.toBeNull();
    expect(p.apply({ kind: "alert", body: { ...a, rev: 3, count: 40 } })).toBeNull();
    p.apply({ kind: "alert", body: { ...a, rev: 1, count: 5 } });
    expect(p.alerts.get("a4")!.count).toBe(40);
    expect(p.alerts.get("a4")!.counts.map((c) => c.n)).toEqual([12, 40]);
  });

  it("names a class only when it is likely", () => {
    expect(trackClass(track("t1", 0))).toBe("person");
    expect(trackClass({ ...track("t1", 0), class: { person: 0.4, vehicle: 0.35, animal: 0.25 } })).toBe("unknown");
    expect(trackClass({ ...track("t1", 0), class: "vehicle" })).toBe("vehicle");
    expect(trackClass({ ...track("t1", 0), class: undefined })).toBe("unknown");
  });

  it("parses stream events and ignores anything else", () => {
    expect(parseEvent("track", JSON.stringify(track("t3", 0)))?.kind).toBe("track");
    expect(parseEvent("lagged", "{\"missed\": 3}")).toBeNull();
    expect(parseEvent("alert", "not json")).toBeNull();
    expect(parseEvent("alert", "12")).toBeNull();
  });
});
