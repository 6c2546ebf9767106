// A Vite plugin that builds the offline basemap at build time, from npm `world-atlas`
// (Natural Earth 1:10m admin-0 countries, public domain) and the project's own data/geo places.
// The page imports `virtual:basemap`; nothing is fetched at run time.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { feature } from "topojson-client";
import type { Plugin } from "vite";
import type { Feature, FeatureCollection, MultiPolygon, Polygon, Position } from "geojson";

const ID = "virtual:basemap";
const RESOLVED = "\0" + ID;

/** Countries drawn from the 1:10m data (the watched ones); the others come from 1:50m. */
export const DETAILED = new Set(["368", "760"]);

/** The region drawn: lon/lat box around the Iraq–Syria frontier and its neighbours. */
export const BBOX: [number, number, number, number] = [30.0, 27.0, 52.0, 41.5];

type Ring = Position[];

function round(p: Position): Position {
  return [Math.round(p[0] * 1e4) / 1e4, Math.round(p[1] * 1e4) / 1e4];
}

function ringBox(r: Ring): [number, number, number, number] {
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of r) {
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
  }
  return [x0, y0, x1, y1];
}

function overlaps(b: [number, number, number, number]): boolean {
  return b[0] <= BBOX[2] && b[2] >= BBOX[0] && b[1] <= BBOX[3] && b[3] >= BBOX[1];
}

/** Signed area and centroid of a ring (planar, degrees: good enough to place a label). */
export function ringCentroid(r: Ring): { area: number; c: Position } {
  let a = 0;
  let cx = 0;
  let cy = 0;
  for (let i = 0; i + 1 < r.length; i++) {
    const [x0, y0] = r[i];
    const [x1, y1] = r[i + 1];
    const k = x0 * y1 - x1 * y0;
    a += k;
    cx += (x0 + x1) * k;
    cy += (y0 + y1) * k;
  }
  a /= 2;
  return a === 0 ? { area: 0, c: r[0] } : { area: Math.abs(a), c: [cx / (6 * a), cy / (6 * a)] };
}

/** Countries in the box, their label points, and the project's places. */
export function buildBasemap(root: string): string {
  const require = createRequire(import.meta.url);
  const load = (res: string) => {
    const topo = JSON.parse(readFileSync(require.resolve(`world-atlas/countries-${res}.json`), "utf8"));
    return (feature(topo, topo.objects.countries) as unknown as FeatureCollection<Polygon | MultiPolygon, { name: string }>).features;
  };
  const all = [
    ...load("10m").filter((f) => DETAILED.has(String(f.id))),
    ...load("50m").filter((f) => !DETAILED.has(String(f.id))),
  ];
  const countries: Feature<MultiPolygon, { id: string; name: string }>[] = [];
  const labels: Feature<{ type: "Point"; coordinates: Position }, { id: string; name: string }>[] = [];
  for (const f of all) {
    const polys: Ring[][] = f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates;
    const kept = polys.filter((p) => overlaps(ringBox(p[0]))).map((p) => p.map((r) => r.map(round)));
    if (kept.length === 0) continue;
    const id = String(f.id);
    countries.push({ type: "Feature", properties: { id, name: f.properties.name }, geometry: { type: "MultiPolygon", coordinates: kept } });
    const biggest = kept.map((p) => ringCentroid(p[0])).sort((a, b) => b.area - a.area)[0];
    const c = biggest.c;
    const inside = c[0] >= BBOX[0] && c[0] <= BBOX[2] && c[1] >= BBOX[1] && c[1] <= BBOX[3];
    if (inside && biggest.area > 0.5) {
      labels.push({ type: "Feature", properties: { id, name: f.properties.name }, geometry: { type: "Point", coordinates: round(c) } });
    }
  }
  const placesFile = JSON.parse(readFileSync(`${root}/data/geo/places.geojson`, "utf8")) as FeatureCollection;
  const places = placesFile.features
    .filter((f) => f.properties?.kind === "detention_or_displacement_camp")
    .map((f) => ({ id: String(f.properties?.id ?? ""), name: String(f.properties?.name ?? ""), at: (f.geometry as { coordinates: Position }).coordinates }));
  return [
    `export const bbox = ${JSON.stringify(BBOX)};`,
    `export const countries = ${JSON.stringify({ type: "FeatureCollection", features: countries })};`,
    `export const countryLabels = ${JSON.stringify({ type: "FeatureCollection", features: labels })};`,
    `export const places = ${JSON.stringify(places)};`,
  ].join("\n");
}

/** The plugin: resolves `virtual:basemap` to the module built above. */
export function basemap(): Plugin {
  const root = fileURLToPath(new URL("..", import.meta.url));
  return {
    name: "limes-basemap",
    resolveId(id) {
      return id === ID ? RESOLVED : null;
    },
    load(id) {
      return id === RESOLVED ? buildBasemap(root) : null;
    },
  };
}
