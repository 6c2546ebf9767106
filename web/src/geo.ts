// Small-area geometry for drawing: uncertainty ellipses, camera wedges, positions at a bearing.
// Equirectangular about the point: good to well under a metre at the ranges drawn (< 20 km).

import type { LonLat } from "./types";

const M_PER_DEG_LAT = 110_574;
const M_PER_DEG_LON_EQ = 111_320;

/** Metres east/north from `o` to a point, as lon/lat. */
export function offset(o: LonLat, east: number, north: number): LonLat {
  const lat = o[1] + north / M_PER_DEG_LAT;
  const lon = o[0] + east / (M_PER_DEG_LON_EQ * Math.max(Math.cos((o[1] * Math.PI) / 180), 1e-6));
  return [lon, lat];
}

/** The point `dist_m` from `o` along `bearing_deg` (clockwise from north). */
export function destination(o: LonLat, bearingDeg: number, distM: number): LonLat {
  const b = (bearingDeg * Math.PI) / 180;
  return offset(o, distM * Math.sin(b), distM * Math.cos(b));
}

/** Distance in metres between two nearby points. */
export function distanceM(a: LonLat, b: LonLat): number {
  const k = Math.cos((((a[1] + b[1]) / 2) * Math.PI) / 180);
  const dx = (b[0] - a[0]) * M_PER_DEG_LON_EQ * k;
  const dy = (b[1] - a[1]) * M_PER_DEG_LAT;
  return Math.hypot(dx, dy);
}

/**
 * The `k`-sigma ellipse of a position covariance `[var_e, cov_en, var_n]` (m²) around `c`,
 * as a closed ring of `n` points. k = 2.45 holds 95 % of a 2-D Gaussian.
 */
export function ellipse(c: LonLat, cov: [number, number, number], k = 2.45, n = 32): LonLat[] {
  const [a, b, d] = cov;
  // Eigen-decomposition of [[a, b], [b, d]].
  const tr = a + d;
  const det = a * d - b * b;
  const disc = Math.sqrt(Math.max((tr * tr) / 4 - det, 0));
  const l1 = Math.max(tr / 2 + disc, 0);
  const l2 = Math.max(tr / 2 - disc, 0);
  const theta = Math.abs(b) < 1e-12 ? (a >= d ? 0 : Math.PI / 2) : Math.atan2(l1 - a, b);
  const r1 = k * Math.sqrt(l1);
  const r2 = k * Math.sqrt(l2);
  const ring: LonLat[] = [];
  for (let i = 0; i <= n; i++) {
    const u = (2 * Math.PI * (i % n)) / n;
    const x = r1 * Math.cos(u);
    const y = r2 * Math.sin(u);
    ring.push(offset(c, x * Math.cos(theta) - y * Math.sin(theta), x * Math.sin(theta) + y * Math.cos(theta)));
  }
  return ring;
}

/** A camera's field of view: a wedge (or a circle for 360°) as a closed ring. */
export function wedge(c: LonLat, azimuthDeg: number, fovDeg: number, rangeM: number, n = 32): LonLat[] {
  if (fovDeg >= 360) {
    const ring: LonLat[] = [];
    for (let i = 0; i <= n; i++) ring.push(destination(c, (360 * (i % n)) / n, rangeM));
    return ring;
  }
  const ring: LonLat[] = [c];
  const from = azimuthDeg - fovDeg / 2;
  for (let i = 0; i <= n; i++) ring.push(destination(c, from + (fovDeg * i) / n, rangeM));
  ring.push(c);
  return ring;
}

/** Bounds `[[w, s], [e, n]]` of points, padded by `padM` metres; null for none. */
export function bounds(points: LonLat[], padM = 0): [LonLat, LonLat] | null {
  if (!points.length) return null;
  let [w, s, e, nn] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of points) {
    w = Math.min(w, x);
    s = Math.min(s, y);
    e = Math.max(e, x);
    nn = Math.max(nn, y);
  }
  const sw = offset([w, s], -padM, -padM);
  const ne = offset([e, nn], padM, padM);
  return [sw, ne];
}
