import { describe, expect, it } from "vitest";
import { bounds, destination, distanceM, ellipse, wedge } from "../src/geo";
import type { LonLat } from "../src/types";

const C: LonLat = [38.87, 36.38];

describe("geometry", () => {
  it("goes where a bearing and a distance say", () => {
    const n = destination(C, 0, 1000);
    const e = destination(C, 90, 1000);
    expect(distanceM(C, n)).toBeCloseTo(1000, 0);
    expect(distanceM(C, e)).toBeCloseTo(1000, 0);
    expect(n[0]).toBeCloseTo(C[0], 9);
    expect(e[1]).toBeCloseTo(C[1], 9);
  });

  it("draws a covariance ellipse with its axes along the eigenvectors", () => {
    // 100 m sigma east, 10 m north: a flat ellipse, 245 m half-width at k = 2.45.
    const r = ellipse(C, [100 * 100, 0, 10 * 10]);
    expect(r[0]).toEqual(r[r.length - 1]);
    const widths = r.map((p) => distanceM(C, p));
    expect(Math.max(...widths)).toBeCloseTo(245, 0);
    expect(Math.min(...widths)).toBeCloseTo(24.5, 0);
    // Rotated 45°: the long axis lies north-east.
    const d = ellipse(C, [5050, 4950, 5050]);
    const far = d.reduce((a, b) => (distanceM(C, b) > distanceM(C, a) ? b : a));
    expect(Math.sign(far[0] - C[0])).toBe(Math.sign(far[1] - C[1]));
  });

  it("draws a camera's wedge between its edges, or a circle for 360°", () => {
    const w = wedge(C, 90, 60, 3000, 12);
    expect(w[0]).toEqual(C);
    expect(w[w.length - 1]).toEqual(C);
    for (const p of w.slice(1, -1)) expect(distanceM(C, p)).toBeCloseTo(3000, -1);
    // Every rim point lies east of the camera (azimuth 90 ± 30).
    for (const p of w.slice(1, -1)) expect(p[0]).toBeGreaterThan(C[0]);
    const c = wedge(C, 0, 360, 1000, 16);
    expect(c.length).toBe(17);
    expect(c[0]).toEqual(c[16]);
  });

  it("pads bounds", () => {
    const b = bounds([C, [38.9, 36.4]], 1000);
    expect(b).not.toBeNull();
    expect(b![0][0]).toBeLessThan(C[0]);
    expect(b![1][1]).toBeGreaterThan(36.4);
    expect(bounds([])).toBeNull();
  });
});
