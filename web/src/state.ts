// The page's state: who is signed in, the released site geometry, the live picture and the
// history playback, what is selected, and the operator's choices. Signals re-render the parts
// of the page that read them; the map reads the pictures directly, once per frame.

import { computed, signal } from "@preact/signals";
import { setMuted, setSounding } from "./alarm";
import { api } from "./api";
import { alarms, NO_FILTER, type DeskFilter } from "./desk";
import { Playback } from "./history";
import type { AlertState } from "./picture";
import { Picture } from "./picture";
import type { SessionInfo, SiteGeometry } from "./types";

export const session = signal<SessionInfo | null>(null);
/** Set once the first session check has answered. */
export const sessionChecked = signal(false);
/** Why the page asks to sign in again (expired session), if it does. */
export const signInReason = signal<string>("");
export const site = signal<SiteGeometry | null>(null);

/** The live picture, fed by the event stream, also while history is shown. */
export const live = new Picture();
/** The slider's picture. */
export const playback = new Playback();
export const mode = signal<"live" | "history">("live");
/** The picture on screen. */
export function shown(): Picture {
  return mode.value === "live" ? live : playback.picture;
}

/** Bumped when the alerts or facilities on screen change (components re-render on it). */
export const alertsTick = signal(0);
export const facilitiesTick = signal(0);

export const selectedAlert = signal<string | null>(null);
export const selectedFacility = signal<string | null>(null);
/** A request to the map to fly to an alert (the counter makes repeats distinct). */
export const flyRequest = signal<{ alert: string; n: number } | null>(null);
export const filter = signal<DeskFilter>(NO_FILTER);
export const conn = signal<"connecting" | "live" | "lost" | "lagged">("connecting");
export const panel = signal<"desk" | "facility" | "health">("desk");

export type LayerId = "frontier" | "fence" | "facilities" | "sensors" | "fov" | "gaps" | "units" | "tracks" | "alerts";
export const LAYER_IDS: LayerId[] = ["frontier", "fence", "facilities", "sensors", "fov", "gaps", "units", "tracks", "alerts"];
export const layers = signal<Record<LayerId, boolean>>(
  Object.fromEntries(LAYER_IDS.map((l) => [l, true])) as Record<LayerId, boolean>,
);

/** Whether the site geometry gives a layer anything to draw (else its toggle is disabled). */
export const released = computed<Record<LayerId, boolean>>(() => {
  const s = site.value;
  const r = s?.released;
  return {
    frontier: !!s,
    fence: !!r?.fence_zones,
    facilities: !!s && s.facilities.length > 0,
    sensors: !!r?.sensors,
    fov: !!r?.fields_of_view,
    gaps: !!r?.fields_of_view,
    units: !!r?.units,
    tracks: !!r && r.tracks !== "none" && r.tracks !== "summary",
    alerts: !!r && r.alerts !== "none",
  };
});

export const muted = signal(false);
/** The critical alert the banner shows, if any. */
export const banner = signal<AlertState | null>(null);
const dismissed = new Set<string>();

export function setMute(m: boolean): void {
  muted.value = m;
  setMuted(m);
}

/** After alerts changed: sound while a new critical alert is unacknowledged; banner the newest. */
export function updateAlarm(): void {
  const sounding = [...live.alerts.values()].filter(alarms);
  setSounding(sounding.length > 0);
  const newest = sounding
    .filter((a) => !dismissed.has(a.id))
    .sort((a, b) => b.firstSeenMs - a.firstSeenMs || (b.id < a.id ? -1 : 1))[0];
  const cur = banner.value;
  if (newest?.id !== cur?.id || newest?.rev !== cur?.rev || newest?.count !== cur?.count) banner.value = newest ?? null;
}

export function dismissBanner(): void {
  if (banner.value) dismissed.add(banner.value.id);
  updateAlarm();
}

/** The live picture changed in alerts (called from the stream). */
export function alertsChanged(): void {
  updateAlarm();
}

/** Signs out locally (after the server ended the session, or did not know it). */
export function signedOut(reason: string): void {
  session.value = null;
  signInReason.value = reason;
  site.value = null;
  live.clear();
  playback.picture.clear();
  mode.value = "live";
  selectedAlert.value = null;
  selectedFacility.value = null;
  setSounding(false);
  banner.value = null;
}

/** Reloads the site geometry (sensor health changes with the live picture). */
export async function reloadSite(): Promise<void> {
  try {
    site.value = await api.site();
  } catch {
    // Kept as it was; the stream's error handling deals with an ended session.
  }
}
