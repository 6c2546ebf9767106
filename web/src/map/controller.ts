// The map: MapLibre GL JS with an offline style (no tiles, glyphs or sprites: the basemap is built
// into the bundle, symbols are drawn on a canvas, labels are HTML set with textContent). Once per
// frame it hands changed layers to MapLibre; track updates are timed from arrival to the frame
// that draws them (perf.ts).

import * as maplibregl from "maplibre-gl";
import type { GeoJSONSource, Map as MlMap, StyleSpecification } from "maplibre-gl";
import workerUrl from "maplibre-gl/dist/maplibre-gl-worker.mjs?url";
import { countries, countryLabels, places } from "virtual:basemap";
import { bounds, distanceM } from "../geo";
import { t, tKey, type MessageKey } from "../i18n";
import { BASE, CLASS_COLOUR, FACILITY_COLOUR, OKABE_ITO, SEVERITY_COLOUR } from "../palette";
import * as perf from "../perf";
import type { Picture } from "../picture";
import type { LayerId } from "../state";
import type { Alert, LonLat, SiteGeometry } from "../types";
import * as F from "./features";
import { hatch, trackIcons } from "./icons";
import { mercator, pack, packTrails, TrackLayer } from "./trackLayer";

maplibregl.setWorkerUrl(workerUrl);

/** Zoom from which uncertainty ellipses are drawn. */
export const ELLIPSE_ZOOM = 12;
/** Trails (and ellipses) are redrawn at most this often (ms); they are not what an operator
 * waits for. */
export const TRAIL_EVERY_MS = 1000;
/** Track positions go to the GPU at most this often (ms): a bound on redraws, which cost a
 * software renderer tens of milliseconds each. */
export const TRACKS_EVERY_MS = 100;

const LAYER_GROUPS: Record<LayerId, string[]> = {
  frontier: ["frontier-line", "roads-line", "crossings-circle"],
  fence: ["fence-line", "fence-alarm"],
  facilities: ["facilities-fill", "facilities-line", "gates-circle"],
  sensors: ["sensors-circle", "sensors-hl"],
  fov: ["fov-fill", "fov-line"],
  gaps: ["gaps-fill", "gaps-line"],
  units: ["units-circle"],
  tracks: ["ellipses-fill", "ellipses-line", "tracks-gl", "tracks-hl"],
  alerts: ["alerts-circle", "alerts-hl"],
};

const EMPTY = { type: "FeatureCollection", features: [] } as const;

function colourMatch(prop: string, table: Record<string, string>, fallback: string): unknown {
  return ["match", ["get", prop], ...Object.entries(table).flat(), fallback];
}

function style(): StyleSpecification {
  const src = (data: unknown = EMPTY) => ({ type: "geojson", data }) as never;
  return {
    version: 8,
    sources: {
      countries: src(countries),
      frontier: src(),
      roads: src(),
      crossings: src(),
      facilities: src(),
      gates: src(),
      fence: src(),
      fov: src(),
      gaps: src(),
      sensors: src(),
      units: src(),
      ellipses: src(),
      selected: src(),
      alerts: src(),
    },
    layers: [
      { id: "bg", type: "background", paint: { "background-color": BASE.background } },
      { id: "countries-fill", type: "fill", source: "countries", paint: { "fill-color": BASE.land } },
      { id: "countries-line", type: "line", source: "countries", paint: { "line-color": BASE.border, "line-width": 1 } },
      { id: "roads-line", type: "line", source: "roads", paint: { "line-color": BASE.road, "line-width": 2, "line-dasharray": [3, 2] } },
      { id: "frontier-line", type: "line", source: "frontier", paint: { "line-color": BASE.frontier, "line-width": 2.5 } },
      {
        id: "crossings-circle",
        type: "circle",
        source: "crossings",
        paint: { "circle-radius": 6, "circle-color": BASE.background, "circle-stroke-color": BASE.frontier, "circle-stroke-width": 2 },
      },
      // A solid tint, not a pattern: a software renderer pays per pixel for patterned fills,
      // and when every camera is silent the gaps cover the whole frontier.
      { id: "gaps-fill", type: "fill", source: "gaps", paint: { "fill-color": OKABE_ITO.vermillion, "fill-opacity": 0.06 } },
      { id: "gaps-line", type: "line", source: "gaps", paint: { "line-color": OKABE_ITO.vermillion, "line-width": 1.5, "line-dasharray": [2, 2] } },
      { id: "fov-fill", type: "fill", source: "fov", paint: { "fill-color": OKABE_ITO.sky, "fill-opacity": 0.06 } },
      { id: "fov-line", type: "line", source: "fov", paint: { "line-color": OKABE_ITO.sky, "line-opacity": 0.35, "line-width": 1 } },
      {
        id: "facilities-fill",
        type: "fill",
        source: "facilities",
        paint: { "fill-color": colourMatch("status", FACILITY_COLOUR, OKABE_ITO.grey) as never, "fill-opacity": 0.25 },
      },
      {
        id: "facilities-line",
        type: "line",
        source: "facilities",
        paint: { "line-color": colourMatch("status", FACILITY_COLOUR, OKABE_ITO.grey) as never, "line-width": 2.5 },
      },
      { id: "gates-circle", type: "circle", source: "gates", paint: { "circle-radius": 4, "circle-color": "#ffffff" } },
      // Every zone from zoom 9 (below it the fence runs on the frontier line, and thousands of
      // zones cost a software renderer a third of a second a frame); zones in alarm always.
      { id: "fence-line", type: "line", source: "fence", minzoom: 9, paint: { "line-color": "#8fa3b5", "line-width": 2 } },
      {
        id: "fence-alarm",
        type: "line",
        source: "fence",
        filter: ["==", ["get", "alarm"], true],
        paint: { "line-color": OKABE_ITO.vermillion, "line-width": 6 },
      },
      {
        id: "sensors-circle",
        type: "circle",
        source: "sensors",
        paint: {
          "circle-radius": 5,
          "circle-color": ["case", ["get", "silent"], BASE.sensorSilent, BASE.sensorOk] as never,
          "circle-stroke-color": "#000000",
          "circle-stroke-width": ["case", ["get", "silent"], 3, 1] as never,
        },
      },
      {
        id: "sensors-hl",
        type: "circle",
        source: "sensors",
        filter: ["in", ["get", "id"], ["literal", []]],
        paint: { "circle-radius": 11, "circle-color": "rgba(0,0,0,0)", "circle-stroke-color": BASE.highlight, "circle-stroke-width": 2 },
      },
      {
        id: "units-circle",
        type: "circle",
        source: "units",
        paint: { "circle-radius": 7, "circle-color": BASE.unit, "circle-stroke-color": "#000000", "circle-stroke-width": 2 },
      },
      { id: "ellipses-fill", type: "fill", source: "ellipses", minzoom: ELLIPSE_ZOOM, paint: { "fill-color": "#ffffff", "fill-opacity": 0.06 } },
      { id: "ellipses-line", type: "line", source: "ellipses", minzoom: ELLIPSE_ZOOM, paint: { "line-color": "#ffffff", "line-opacity": 0.5, "line-width": 1 } },
      {
        id: "tracks-hl",
        type: "circle",
        source: "selected",
        paint: { "circle-radius": 12, "circle-color": "rgba(0,0,0,0)", "circle-stroke-color": BASE.highlight, "circle-stroke-width": 2 },
      },
      {
        id: "alerts-circle",
        type: "circle",
        source: "alerts",
        paint: {
          "circle-radius": ["match", ["get", "severity"], "critical", 16, "high", 13, "medium", 11, 9] as never,
          "circle-color": colourMatch("severity", SEVERITY_COLOUR, OKABE_ITO.grey) as never,
          "circle-opacity": ["case", ["get", "open"], 0.35, 0.12] as never,
          "circle-stroke-color": colourMatch("severity", SEVERITY_COLOUR, OKABE_ITO.grey) as never,
          "circle-stroke-width": ["match", ["get", "severity"], "critical", 4, "high", 3, 2] as never,
        },
      },
      {
        id: "alerts-hl",
        type: "circle",
        source: "alerts",
        filter: ["==", ["get", "id"], ""],
        paint: { "circle-radius": 24, "circle-color": "rgba(0,0,0,0)", "circle-stroke-color": BASE.highlight, "circle-stroke-width": 3 },
      },
    ],
  };
}

/** An HTML label on the map (text only). */
function label(text: string, group: string, cls = ""): HTMLDivElement {
  const el = document.createElement("div");
  el.className = `map-label ${cls}`;
  el.dataset.group = group;
  el.textContent = text;
  return el;
}

export interface MapCallbacks {
  selectAlert(id: string): void;
  selectFacility(id: string): void;
}

/** The map of one signed-in page. */
export class MapController {
  readonly map: MlMap;
  private site: SiteGeometry;
  private picture: () => Picture;
  private seen = { tracks: -1, alerts: -1, facilities: -1, pic: null as Picture | null };
  private loaded = false;
  private trailsAt = 0;
  private tracksAt = 0;
  private packed: Float32Array | null = null;
  private packedTrails: Float32Array | null = null;
  private layer: TrackLayer;
  /** Arrival times of updates handed to the layer and not drawn yet; and when that was. */
  private handed: number[] = [];
  private handedAt = 0;
  private handedBuild = 0;
  private drewNew = false;
  private pulses = new Map<string, maplibregl.Marker>();
  private labels: maplibregl.Marker[] = [];
  private raf = 0;
  private selected: Alert | null = null;
  private lastIdleCheck = 0;
  private home: [LonLat, LonLat];

  constructor(
    private container: HTMLElement,
    site: SiteGeometry,
    picture: () => Picture,
    private cb: MapCallbacks,
  ) {
    this.site = site;
    this.picture = picture;
    const pts: LonLat[] = [
      ...(site.frontier?.line ?? []),
      ...site.facilities.flatMap((f) => f.perimeter),
      ...(site.sensors ?? []).map((s) => [s.lon, s.lat] as LonLat),
    ];
    const b = bounds(pts, 1500) ?? [
      [38, 33],
      [43, 37.5],
    ];
    this.home = b;
    const c = bounds(pts, 0) ?? b;
    this.layer = new TrackLayer(mercator((c[0][0] + c[1][0]) / 2, (c[0][1] + c[1][1]) / 2));
    this.layer.onDrawn = () => (this.drewNew = true);
    this.map = new maplibregl.Map({
      container,
      style: style(),
      bounds: b as [LonLat, LonLat],
      fitBoundsOptions: { padding: 40 },
      attributionControl: { compact: true, customAttribution: "Natural Earth" },
      renderWorldCopies: false,
      fadeDuration: 0,
      maxZoom: 18,
      // Nothing may be fetched from another origin.
      transformRequest: (url: string) => {
        if (new URL(url, location.href).origin !== location.origin) throw new Error(`blocked request to ${url}`);
        return { url };
      },
    });
    this.map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
    this.map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
    this.map.on("load", () => this.onLoad());
    this.map.on("render", () => this.onRender());
    this.map.on("idle", () => this.onIdle());
    this.map.on("zoomend", () => this.onZoom());
    this.map.on("moveend", () => this.refreshEllipses());
  }

  private onLoad(): void {
    // The container got its final size from the page's grid after the map was made.
    this.map.resize();
    this.map.fitBounds(this.home, { padding: 40, duration: 0 });
    for (const [id, img] of trackIcons()) this.map.addImage(id, img);
    this.map.addLayer(this.layer, "tracks-hl");
    const h = hatch();
    if (h) this.map.addImage("hatch", h);
    this.loaded = true;
    this.setSite(this.site);
    this.addLabels();
    this.map.on("click", "alerts-circle", (e) => {
      const id = e.features?.[0]?.properties?.id;
      if (typeof id === "string") this.cb.selectAlert(id);
    });
    this.map.on("click", "facilities-fill", (e) => {
      const id = e.features?.[0]?.properties?.id;
      if (typeof id === "string") this.cb.selectFacility(id);
    });
    for (const l of ["alerts-circle", "facilities-fill"]) {
      this.map.on("mouseenter", l, () => (this.map.getCanvas().style.cursor = "pointer"));
      this.map.on("mouseleave", l, () => (this.map.getCanvas().style.cursor = ""));
    }
    this.onZoom();
    const loop = () => {
      perf.frameTick();
      this.frame();
      this.raf = requestAnimationFrame(loop);
    };
    this.raf = requestAnimationFrame(loop);
  }

  private source(id: string): GeoJSONSource | undefined {
    perf.sourceUpdated(id);
    return this.map.getSource(id) as GeoJSONSource | undefined;
  }

  /** New site geometry (sensor health changes): redraws the static layers. */
  setSite(site: SiteGeometry): void {
    this.site = site;
    if (!this.loaded) return;
    const fr = F.frontier(site);
    this.source("frontier")?.setData(fr.line);
    this.source("crossings")?.setData(fr.crossings);
    this.source("roads")?.setData(fr.roads);
    const s = F.sensors(site);
    this.source("sensors")?.setData(s.points);
    this.source("fov")?.setData(s.fov);
    this.source("gaps")?.setData(s.gaps);
    this.source("units")?.setData(F.units(site));
    this.seen.facilities = -1;
    this.seen.alerts = -1;
  }

  private addLabels(): void {
    const add = (at: LonLat, el: HTMLElement) => {
      this.labels.push(new maplibregl.Marker({ element: el, anchor: "center" }).setLngLat(at).addTo(this.map));
    };
    for (const f of countryLabels.features) {
      const key = `country.${f.properties.id}` as MessageKey;
      add(f.geometry.coordinates as LonLat, label(t(key) !== key ? t(key) : f.properties.name, "country", "country"));
    }
    const facilityAt: LonLat[] = [];
    for (const f of this.site.facilities) {
      const c = F.alertPosition({ facility: f.id } as Alert, this.site);
      if (c) {
        facilityAt.push(c);
        add(c, label(f.name, "facilities", "facility"));
      }
    }
    // Places of the basemap, unless the site names a facility there already.
    for (const p of places) {
      if (!facilityAt.some((c) => distanceM(c, p.at as LonLat) < 5000)) add(p.at as LonLat, label(p.name, "place", "place"));
    }
    for (const c of this.site.crossings) add([c.lon, c.lat], label(c.name, "frontier", "crossing"));
    for (const s of this.site.frontier?.sectors ?? []) add(s.at, label(s.name, "frontier", "sector"));
    for (const u of this.site.units ?? []) add([u.lon, u.lat], label(u.name, "units", "unit"));
  }

  private onZoom(): void {
    const z = this.map.getZoom();
    this.container.dataset.zoomBand = z < 7 ? "far" : z < 10 ? "mid" : "near";
    this.refreshEllipses();
  }

  /** Shows or hides a layer group (labels follow through a class on the container). */
  setLayer(id: LayerId, on: boolean): void {
    this.container.classList.toggle(`hide-${id}`, !on);
    if (!this.loaded) return;
    for (const l of LAYER_GROUPS[id]) {
      if (this.map.getLayer(l)) this.map.setLayoutProperty(l, "visibility", on ? "visible" : "none");
    }
  }

  /** Highlights an alert with its tracks and contributing sensors. */
  select(a: Alert | null): void {
    this.selected = a;
    if (!this.loaded) return;
    this.map.setFilter("alerts-hl", ["==", ["get", "id"], a ? a.id : ""]);
    this.refreshSelected();
    this.map.setFilter("sensors-hl", ["in", ["get", "id"], ["literal", a?.sensors ?? []]]);
  }

  /** Flies to an alert: its tracks and position when released, else its facility. */
  flyTo(a: Alert): void {
    const p = this.picture();
    const pts: LonLat[] = [];
    const at = F.alertPosition(a, this.site);
    if (at) pts.push(at);
    for (const id of a.tracks ?? []) {
      const tr = p.tracks.get(id);
      if (tr) pts.push([tr.lon, tr.lat]);
    }
    const b = bounds(pts, 800);
    if (!b) return;
    // The page says where it has flown to once the flight ends (tests wait on it).
    delete this.container.dataset.flownTo;
    this.map.once("moveend", () => (this.container.dataset.flownTo = a.id));
    this.map.fitBounds(b, { padding: 80, maxZoom: 15, duration: 1200 });
  }

  /** Once per frame: hand what changed to MapLibre. */
  private frame(): void {
    const p = this.picture();
    if (p !== this.seen.pic) {
      this.seen = { tracks: -1, alerts: -1, facilities: -1, pic: p };
    }
    if (p.versions.facilities !== this.seen.facilities || p.versions.alerts !== this.seen.alerts) {
      const fa = F.facilities(this.site, p);
      this.source("facilities")?.setData(fa.areas);
      this.source("gates")?.setData(fa.gates);
      this.seen.facilities = p.versions.facilities;
    }
    if (p.versions.alerts !== this.seen.alerts) {
      this.source("alerts")?.setData(F.alerts(p, this.site));
      this.source("fence")?.setData(F.fenceZones(this.site, p));
      this.updatePulses(p);
      this.seen.alerts = p.versions.alerts;
      if (this.selected) this.select(p.alerts.get(this.selected.id) ?? this.selected);
    }
    const now = performance.now();
    if (p.versions.tracks !== this.seen.tracks && now - this.tracksAt >= TRACKS_EVERY_MS) {
      this.pushTracks(p, now);
    }
    if (performance.now() - this.lastIdleCheck > 2000) this.noteDrawn();
  }

  private pushTracks(p: Picture, now: number): void {
    this.seen.tracks = p.versions.tracks;
    this.tracksAt = now;
    this.handed.push(...perf.takePending());
    const { data, n } = pack(p, this.layer.origin, this.packed);
    this.packed = data;
    this.handedBuild = performance.now() - now;
    this.handedAt = now;
    this.layer.set(data, n);
    if (now - this.trailsAt > TRAIL_EVERY_MS) {
      this.trailsAt = now;
      const tr = packTrails(p, this.layer.origin, this.packedTrails);
      this.packedTrails = tr.data;
      this.layer.setTrails(tr.data, tr.n);
      if (this.map.getZoom() >= ELLIPSE_ZOOM) this.refreshEllipses();
    }
    if (this.selected?.tracks?.length) this.refreshSelected();
  }

  /** The highlight rings of the selected alert's tracks. */
  private refreshSelected(): void {
    const ids = new Set(this.selected?.tracks ?? []);
    this.source("selected")?.setData(F.selectedTracks(this.picture(), ids));
  }

  /** End of a frame: the updates the layer drew in it are on screen now. */
  private onRender(): void {
    if (!this.drewNew) return;
    this.drewNew = false;
    const now = performance.now();
    perf.cycle({ build: this.handedBuild, frame: now - this.handedAt });
    perf.drawn(this.handed, now);
    this.handed = [];
  }

  private refreshEllipses(): void {
    if (!this.loaded) return;
    const src = this.source("ellipses");
    if (!src) return;
    if (this.map.getZoom() < ELLIPSE_ZOOM) {
      src.setData(EMPTY as never);
      return;
    }
    const b = this.map.getBounds();
    src.setData(F.ellipses(this.picture(), [
      [b.getWest(), b.getSouth()],
      [b.getEast(), b.getNorth()],
    ]));
  }

  private updatePulses(p: Picture): void {
    const want = new Map<string, LonLat>();
    for (const a of p.alerts.values()) {
      if (a.status !== "new" || a.state !== "open") continue;
      const at = F.alertPosition(a, this.site);
      if (at && want.size < 50) want.set(a.id, at);
    }
    for (const [id, m] of this.pulses) {
      if (!want.has(id)) {
        m.remove();
        this.pulses.delete(id);
      }
    }
    for (const [id, at] of want) {
      const a = p.alerts.get(id);
      let m = this.pulses.get(id);
      if (!m) {
        const el = document.createElement("div");
        el.className = "pulse";
        el.dataset.alertId = id;
        el.title = a ? `${tKey("kind", a.kind)} (${tKey("severity", a.severity)})` : "";
        el.addEventListener("click", () => this.cb.selectAlert(id));
        m = new maplibregl.Marker({ element: el }).setLngLat(at).addTo(this.map);
        this.pulses.set(id, m);
      } else {
        m.setLngLat(at);
      }
      m.getElement().dataset.severity = a?.severity ?? "";
    }
  }

  /** After the map settles: note what is drawn (the end-to-end test reads these). */
  private onIdle(): void {
    if (performance.now() - this.lastIdleCheck > 500) this.noteDrawn();
  }

  private noteDrawn(): void {
    this.lastIdleCheck = performance.now();
    const ids = (layer: string) =>
      this.map.getLayer(layer)
        ? [...new Set(this.map.queryRenderedFeatures({ layers: [layer] }).map((f) => f.properties?.id))].sort()
        : [];
    this.container.dataset.alertsDrawn = ids("alerts-circle").join(",");
    // Tracks are drawn by the custom layer: count those it was given that lie in view.
    const b = this.map.getBounds();
    let inView = 0;
    if (this.map.getLayoutProperty("tracks-gl", "visibility") !== "none") {
      for (const t of this.picture().tracks.values()) if (b.contains([t.lon, t.lat])) inView++;
    }
    this.container.dataset.tracksDrawn = String(inView);
    this.container.dataset.sensorsDrawn = String(ids("sensors-circle").length);
  }

  destroy(): void {
    cancelAnimationFrame(this.raf);
    this.map.remove();
  }
}

export { CLASS_COLOUR };
