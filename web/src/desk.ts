// The alert desk's rules, apart from any DOM: order (most severe, then newest), filters, and
// the detect–delay–respond figures of a row.

import type { Alert, AlertKind, Lifecycle } from "./types";
import { SEVERITIES, secs } from "./types";

/** The desk's filters; `""` means any. */
export interface DeskFilter {
  kind: AlertKind | "";
  sector: string;
  facility: string;
  /** The rules' view: open or closed incidents. */
  state: "open" | "closed" | "";
  /** The operators' view: a life-cycle status, or "unresolved" (all but resolved). */
  status: Lifecycle | "unresolved" | "";
}

export const NO_FILTER: DeskFilter = { kind: "", sector: "", facility: "", state: "", status: "unresolved" };

/** Most severe first; among equals the newest raised first; then the highest id. */
export function compareAlerts(a: Alert, b: Alert): number {
  const s = SEVERITIES.indexOf(b.severity) - SEVERITIES.indexOf(a.severity);
  if (s !== 0) return s;
  const r = secs(b.raised) - secs(a.raised);
  if (r !== 0 && Number.isFinite(r)) return r;
  return b.id < a.id ? -1 : b.id > a.id ? 1 : 0;
}

/** Whether an alert passes the filter. */
export function matches(a: Alert, f: DeskFilter): boolean {
  if (f.kind && a.kind !== f.kind) return false;
  if (f.sector && a.sector !== f.sector) return false;
  if (f.facility && a.facility !== f.facility) return false;
  if (f.state && a.state !== f.state) return false;
  if (f.status === "unresolved" && a.status === "resolved") return false;
  if (f.status && f.status !== "unresolved" && a.status !== f.status) return false;
  return true;
}

/** The queue: filtered, ordered. */
export function queue<A extends Alert>(alerts: Iterable<A>, f: DeskFilter): A[] {
  return [...alerts].filter((a) => matches(a, f)).sort(compareAlerts);
}

/** The values a filter can take, from the alerts at hand (sorted, distinct). */
export function options(alerts: Iterable<Alert>, key: "sector" | "facility"): string[] {
  const s = new Set<string>();
  for (const a of alerts) {
    const v = a[key];
    if (v) s.add(v);
  }
  return [...s].sort();
}

/** The DDR figures of a row, as numbers (absent when the release does not carry them). */
export interface DdrFigures {
  timeToLineS?: number;
  line?: string;
  unit?: string;
  unitEtaS?: number;
  interruptible?: boolean;
  /** Time to line minus unit ETA: positive when the unit gets there first. */
  marginS?: number;
}

export function ddrFigures(a: Alert): DdrFigures {
  const d = a.ddr;
  if (!d) return {};
  const out: DdrFigures = {
    timeToLineS: d.time_to_line_s,
    line: d.next_line,
    unit: d.unit,
    unitEtaS: d.unit_eta_s,
    interruptible: d.interruptible,
  };
  if (d.time_to_line_s !== undefined && d.unit_eta_s !== undefined) {
    out.marginS = d.time_to_line_s - d.unit_eta_s;
  }
  return out;
}

/** Seconds since the alert was raised, at `now` (seconds). */
export function ageS(a: Alert, now: number): number {
  return Math.max(0, now - secs(a.raised));
}

/** Where: the facility or the sector, whichever the alert names. */
export function where(a: Alert): string {
  return a.facility ?? a.sector ?? "";
}

/** The next or previous alert id in the queue from `current` (wraps at neither end). */
export function step(q: Alert[], current: string | null, by: 1 | -1): string | null {
  if (!q.length) return null;
  const i = current === null ? -1 : q.findIndex((a) => a.id === current);
  if (i < 0) return by === 1 ? q[0].id : q[q.length - 1].id;
  const j = Math.min(q.length - 1, Math.max(0, i + by));
  return q[j].id;
}

/** Whether an alert is a fresh critical one that should sound the alarm. */
export function alarms(a: Alert): boolean {
  return a.severity === "critical" && a.status === "new" && a.state === "open";
}
