// The wire formats of `limes serve` (docs/serve.md): what the REST API and the event stream
// send. Fields the server leaves out for coarse or summary releases are optional here.

export type Detail = "none" | "summary" | "coarse" | "full";
export type Role = "sensor" | "viewer" | "operator" | "admin";
export type Severity = "low" | "medium" | "high" | "critical";
export type AlertKind =
  | "infiltration"
  | "approach"
  | "perimeter_breach"
  | "mass_breakout"
  | "fence_cut"
  | "sensor_offline";
export type Lifecycle = "new" | "acknowledged" | "assigned" | "resolved";
export type ObjectClass = "person" | "vehicle" | "animal";
export type Resolution =
  | "confirmed"
  | "nuisance_animal"
  | "nuisance_herder"
  | "nuisance_weather"
  | "sensor_fault";

export const SEVERITIES: Severity[] = ["low", "medium", "high", "critical"];
export const ALERT_KINDS: AlertKind[] = [
  "infiltration",
  "approach",
  "perimeter_breach",
  "mass_breakout",
  "fence_cut",
  "sensor_offline",
];
export const LIFECYCLES: Lifecycle[] = ["new", "acknowledged", "assigned", "resolved"];
export const RESOLUTIONS: Resolution[] = [
  "confirmed",
  "nuisance_animal",
  "nuisance_herder",
  "nuisance_weather",
  "sensor_fault",
];
export const FACILITY_STATUSES = ["secure", "threatened", "abandoned", "breached"] as const;
export type FacilityStatus = (typeof FACILITY_STATUSES)[number];

/** A track as released: full (everything) or coarse (snapped position, speed, best class). */
export interface Track {
  /** Opaque, per organisation. */
  id: string;
  time: string;
  status: "tentative" | "confirmed" | "coasting" | "deleted";
  lon: number;
  lat: number;
  /** Full only: velocity east/north, m/s. */
  vel?: [number, number];
  /** Full only: covariance [var_e, cov_en, var_n], m². */
  cov?: [number, number, number];
  /** Full: probabilities; coarse: the best class. */
  class?: { person: number; vehicle: number; animal: number } | ObjectClass;
  /** Coarse only: speed, m/s. */
  speed?: number;
  hits?: number;
  first_seen?: string;
  sensor?: string;
  /** Part of an open alert released to the organisation that marks its tracks hostile. */
  hostile?: boolean;
}

/** Detect–delay–respond figures. */
export interface Ddr {
  first_detected: string;
  next_line?: string;
  time_to_line_s?: number;
  unit?: string;
  unit_eta_s?: number;
  interruptible?: boolean;
}

/** An alert as released: full (with life cycle and sources), coarse or summary. */
export interface Alert {
  /** Opaque, per organisation. */
  id: string;
  rev: number;
  kind: AlertKind;
  severity: Severity;
  state: "open" | "closed";
  time: string;
  raised: string;
  count: number;
  status: Lifecycle;
  facility?: string;
  sector?: string;
  summary?: string;
  lon?: number;
  lat?: number;
  class?: ObjectClass;
  sensors?: string[];
  /** The contributing tracks' opaque ids (as the tracks carry them). */
  tracks?: string[];
  ddr?: Partial<Ddr>;
  unit?: string;
  resolution?: string;
  note?: string;
  changed_by?: string;
}

/** A facility's status. */
export interface Facility {
  id: string;
  name: string;
  status: string;
  population: number;
  exits: number;
  estimate: number;
  guards?: number;
  note?: string;
  changed_by?: string;
  lon?: number;
  lat?: number;
}

/** Who is signed in. */
export interface SessionInfo {
  user: string;
  org: string;
  org_name: string;
  role: Role;
  csrf: string;
  expires: string;
}

export type LonLat = [number, number];

/** The site's geometry as released to the caller's organisation (`GET /api/v1/site`). */
export interface SiteGeometry {
  name: string;
  description: string;
  released: {
    tracks: Detail;
    alerts: Detail;
    facilities: Detail;
    sensors: boolean;
    fields_of_view: boolean;
    fence_zones: boolean;
    units: boolean;
  };
  frontier?: { name: string; line: LonLat[]; sectors: { name: string; at: LonLat }[] };
  crossings: { id: string; name: string; lon: number; lat: number; radius_m: number }[];
  lines: { id: string; name: string; line: LonLat[] }[];
  facilities: {
    id: string;
    name: string;
    perimeter: LonLat[];
    gates?: LonLat[];
    population?: Record<string, number>;
  }[];
  sensors?: {
    id: string;
    kind: "thermal_camera" | "observer" | "fence";
    lon: number;
    lat: number;
    silent?: boolean;
    camera?: { azimuth_deg: number; fov_deg: number; range_m: number };
  }[];
  fence_zones?: { sensor: string; zone: string; line: [LonLat, LonLat] }[];
  units?: { id: string; name: string; lon: number; lat: number; speed_kmh: number }[];
}

/** One item of the picture, as the stream and history name them. */
export type Item =
  | { kind: "track"; body: Track }
  | { kind: "alert"; body: Alert }
  | { kind: "facility"; body: Facility };

/** `GET /api/v1/history?at=&span=`: the picture at `at` and the changes until `to`. */
export interface HistoryWindow {
  at: number;
  to: number;
  truncated: boolean;
  start: { tracks: Track[]; alerts: Alert[]; facilities: Facility[] };
  changes: ({ t: number } & Item)[];
}

/** `GET /api/v1/history`: what history the server keeps. */
export interface HistoryRange {
  earliest: number | null;
  now: number;
  retention_h: number;
  step_s: number;
}

/** `GET /api/v1/nuisance/recent?hours=`. */
export interface NuisanceRecent {
  hours: number;
  bucket_s: number;
  from: number;
  to: number;
  /** Nuisance resolutions (`from: "resolution"`) and assessed events (`from: "event"`: alarms
   * kept from the operators), per sensor, zone and (events) fence zone. */
  rows: { from?: "resolution" | "event"; scope: "sensor" | "zone" | "fence_zone"; key: string; reason: string; n: number }[];
  buckets: { t: number; n: number }[];
}

/** `GET /api/v1/clock`. */
export interface ClockInfo {
  now: string;
  unix: number;
  speed: number;
}

/** Seconds since the epoch of an RFC 3339 time (NaN when it is not one). */
export function secs(t: string | undefined): number {
  return t ? Date.parse(t) / 1000 : NaN;
}
