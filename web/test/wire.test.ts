import { describe, expect, it } from "vitest";
import { Picture } from "../src/picture";
import type { Track } from "../src/types";
import { packTrack, TRACK_FIELDS, unpackTrack } from "../src/wire";

describe("packed track updates", () => {
  it("carry what the page draws, full and coarse", () => {
    const full: Track = {
      id: "t42", time: "2019-10-12T21:00:05.250Z", status: "coasting", lon: 38.8712345, lat: 36.3812345,
      vel: [1, 2], cov: [400, 50, 300], class: { person: 0.1, vehicle: 0.8, animal: 0.1 }, hits: 3,
    };
    const coarse: Track = { id: "t7", time: "2019-10-12T21:00:06Z", status: "confirmed", lon: 38.9, lat: 36.4, class: "animal", speed: 1.5 };
    const a = new Float64Array(2 * TRACK_FIELDS);
    packTrack(full, a, 0);
    packTrack(coarse, a, TRACK_FIELDS);
    const f = unpackTrack(a, 0, "t42");
    expect([f.id, f.lon, f.lat, f.status, f.class, f.cov, f.t]).toEqual(["t42", 38.8712345, 36.3812345, "coasting", "vehicle", [400, 50, 300], Date.parse(full.time) / 1000]);
    const c = unpackTrack(a, TRACK_FIELDS, "t7");
    expect([c.class, c.cov, c.speed]).toEqual(["animal", undefined, 1.5]);
    const p = new Picture();
    p.applyPacked(a, ["t42", "t7"], 2);
    expect(p.tracks.size).toBe(2);
    expect(p.tracks.get("t42")!.trail.length).toBe(1);
    packTrack({ ...coarse, status: "deleted" }, a, 0);
    p.applyPacked(a, ["t7"], 1);
    expect(p.tracks.has("t7")).toBe(false);
  });

  it("update a known track in place and extend its trail", () => {
    const t: Track = { id: "t1", time: "2019-10-12T21:00:00Z", status: "confirmed", lon: 38.8, lat: 36.3, cov: [100, 0, 100] };
    const a = new Float64Array(TRACK_FIELDS);
    const p = new Picture();
    packTrack(t, a, 0);
    p.applyPacked(a, ["t1"], 1);
    const held = p.tracks.get("t1")!;
    const cov = held.cov;
    packTrack({ ...t, time: "2019-10-12T21:01:00Z", lon: 38.81, cov: [200, 0, 200], class: "person" }, a, 0);
    p.applyPacked(a, ["t1"], 1);
    const now = p.tracks.get("t1")!;
    expect(now).toBe(held);
    expect(now.cov).toBe(cov);
    expect([now.lon, now.cov, now.class, now.t]).toEqual([38.81, [200, 0, 200], "person", Date.parse("2019-10-12T21:01:00Z") / 1000]);
    expect(now.trail).toEqual([[38.8, 36.3], [38.81, 36.3]]);
    packTrack({ ...t, time: "2019-10-12T21:01:01Z", lon: 38.82, cov: undefined }, a, 0);
    p.applyPacked(a, ["t1"], 1);
    expect(now.cov).toBeUndefined();
    expect(now.trail).toEqual([[38.8, 36.3], [38.82, 36.3]]);
  });
});
