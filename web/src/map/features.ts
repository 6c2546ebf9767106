// GeoJSON for each map layer, from the released site geometry and the picture. Pure functions:
// the map controller hands their output to MapLibre; unit tests check them without a map.

import type { Feature, FeatureCollection, Geometry } from "geojson";
import { distanceM, ellipse, wedge } from "../geo";
import type { AlertState, Picture, TrackState } from "../picture";
import { trackClass } from "../picture";
import type { Alert, LonLat, SiteGeometry } from "../types";

type FC = FeatureCollection<Geometry, Record<string, unknown>>;

function fc(features: Feature<Geometry, Record<string, unknown>>[]): FC {
  return { type: "FeatureCollection", features };
}

function point(at: LonLat, props: Record<string, unknown>): Feature<Geometry, Record<string, unknown>> {
  return { type: "Feature", properties: props, geometry: { type: "Point", coordinates: at } };
}

/** Frontier, crossings and the named lines (roads). */
export function frontier(site: SiteGeometry): { line: FC; crossings: FC; roads: FC } {
  return {
    line: fc(
      site.frontier
        ? [{ type: "Feature", properties: { name: site.frontier.name }, geometry: { type: "LineString", coordinates: site.frontier.line } }]
        : [],
    ),
    crossings: fc(site.crossings.map((c) => point([c.lon, c.lat], { id: c.id, name: c.name }))),
    roads: fc(site.lines.map((l) => ({ type: "Feature", properties: { id: l.id }, geometry: { type: "LineString", coordinates: l.line } }))),
  };
}

/** Facility outlines coloured by their live status, and their gates. */
export function facilities(site: SiteGeometry, p: Picture): { areas: FC; gates: FC } {
  return {
    areas: fc(
      site.facilities.map((f) => ({
        type: "Feature",
        properties: { id: f.id, status: p.facilities.get(f.id)?.status ?? "unknown" },
        geometry: { type: "Polygon", coordinates: [f.perimeter] },
      })),
    ),
    gates: fc(site.facilities.flatMap((f) => (f.gates ?? []).map((g) => point(g, { facility: f.id })))),
  };
}

/** Where an alert is drawn: its (released) position, else its facility's centre, else nowhere. */
export function alertPosition(a: Alert, site: SiteGeometry | null): LonLat | null {
  if (a.lon !== undefined && a.lat !== undefined) return [a.lon, a.lat];
  const f = a.facility && site?.facilities.find((x) => x.id === a.facility);
  if (f && f.perimeter.length) {
    const pts = f.perimeter.slice(0, -1);
    return [pts.reduce((s, q) => s + q[0], 0) / pts.length, pts.reduce((s, q) => s + q[1], 0) / pts.length];
  }
  return null;
}

/** Fence zones, in alarm while an open fence-cut alert of their controller lies on them. */
export function fenceZones(site: SiteGeometry, p: Picture): FC {
  const cuts = [...p.alerts.values()].filter((a) => a.kind === "fence_cut" && a.state === "open" && a.lon !== undefined);
  return fc(
    (site.fence_zones ?? []).map((z) => {
      const mid: LonLat = [(z.line[0][0] + z.line[1][0]) / 2, (z.line[0][1] + z.line[1][1]) / 2];
      const half = distanceM(z.line[0], z.line[1]) / 2 + 25;
      const alarm = cuts.some(
        (a) => (!a.sensors || a.sensors.includes(z.sensor)) && distanceM(mid, [a.lon as number, a.lat as number]) <= half,
      );
      return { type: "Feature", properties: { sensor: z.sensor, zone: z.zone, alarm }, geometry: { type: "LineString", coordinates: z.line } };
    }),
  );
}

/** Sensors (coloured by health), camera fields of view, and the gaps silent cameras leave. */
export function sensors(site: SiteGeometry): { points: FC; fov: FC; gaps: FC } {
  const list = site.sensors ?? [];
  return {
    points: fc(list.map((s) => point([s.lon, s.lat], { id: s.id, kind: s.kind, silent: !!s.silent }))),
    fov: fc(
      list
        .filter((s) => s.camera && !s.silent)
        .map((s) => ({
          type: "Feature",
          properties: { id: s.id },
          geometry: { type: "Polygon", coordinates: [wedge([s.lon, s.lat], s.camera!.azimuth_deg, s.camera!.fov_deg, s.camera!.range_m)] },
        })),
    ),
    gaps: fc(
      list
        .filter((s) => s.camera && s.silent)
        .map((s) => ({
          type: "Feature",
          properties: { id: s.id },
          geometry: { type: "Polygon", coordinates: [wedge([s.lon, s.lat], s.camera!.azimuth_deg, s.camera!.fov_deg, s.camera!.range_m)] },
        })),
    ),
  };
}

/** Response units at their posts. */
export function units(site: SiteGeometry): FC {
  return fc((site.units ?? []).map((u) => point([u.lon, u.lat], { id: u.id, name: u.name })));
}

/** Points of the tracks with these ids (the selected alert's), for their highlight rings. */
export function selectedTracks(p: Picture, ids: Set<string>): FC {
  const out: Feature<Geometry, Record<string, unknown>>[] = [];
  for (const id of ids) {
    const t = p.tracks.get(id);
    if (t) out.push(point([t.lon, t.lat], { id, cls: trackClass(t) }));
  }
  return fc(out);
}

/** Uncertainty ellipses (95 %) of tracks inside `view`, at most `max` (drawn when zoomed in). */
export function ellipses(p: Picture, view: [LonLat, LonLat], max = 400): FC {
  const out: Feature<Geometry, Record<string, unknown>>[] = [];
  const [[w, s], [e, n]] = view;
  for (const t of p.tracks.values() as Iterable<TrackState>) {
    if (out.length >= max) break;
    if (!t.cov || t.lon < w || t.lon > e || t.lat < s || t.lat > n) continue;
    out.push({ type: "Feature", properties: { id: t.id }, geometry: { type: "Polygon", coordinates: [ellipse([t.lon, t.lat], t.cov)] } });
  }
  return fc(out);
}

/** Alerts that are not resolved, as points. */
export function alerts(p: Picture, site: SiteGeometry | null): FC {
  const out: Feature<Geometry, Record<string, unknown>>[] = [];
  for (const a of p.alerts.values() as Iterable<AlertState>) {
    if (a.status === "resolved") continue;
    const at = alertPosition(a, site);
    if (!at) continue;
    out.push(point(at, { id: a.id, severity: a.severity, status: a.status, open: a.state === "open" }));
  }
  return fc(out);
}
