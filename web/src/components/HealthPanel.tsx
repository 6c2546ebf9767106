// Health and nuisance: silent sensors (their coverage gaps are hatched on the map), the nuisance
// resolutions per sensor and per zone over 24 h or 7 d, from which a supervisor tunes thresholds,
// and the assessed events (alarms kept from the alert desk) per fence zone, where a failing fence
// or someone probing it shows.

import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import { clockTime, num, t, tKey } from "../i18n";
import { OKABE_ITO } from "../palette";
import { alertsTick, session, site } from "../state";
import type { NuisanceRecent } from "../types";

/** Colours of the nuisance resolution reasons. */
const RESOLUTION_COLOUR: Record<string, string> = {
  nuisance_animal: OKABE_ITO.green,
  nuisance_herder: OKABE_ITO.orange,
  nuisance_weather: OKABE_ITO.sky,
  sensor_fault: OKABE_ITO.purple,
};

/** Colours of the assessment reasons of events. */
const ASSESS_COLOUR: Record<string, string> = {
  nothing_seen: OKABE_ITO.vermillion,
  animals: OKABE_ITO.green,
  herd: OKABE_ITO.yellow,
  turned_back: OKABE_ITO.blue,
  vibration: OKABE_ITO.sky,
};

/** Horizontal bars: one per key, stacked by reason (named under `prefix` in the messages). */
export function Bars(props: {
  rows: { key: string; reason: string; n: number }[];
  colour?: Record<string, string>;
  prefix?: string;
}) {
  const colour = props.colour ?? RESOLUTION_COLOUR;
  const prefix = props.prefix ?? "reason";
  const byKey = new Map<string, { reason: string; n: number }[]>();
  for (const r of props.rows) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
  const keys = [...byKey.entries()].map(([k, v]) => ({ k, v, total: v.reduce((s, x) => s + x.n, 0) })).sort((a, b) => b.total - a.total);
  const max = Math.max(1, ...keys.map((k) => k.total));
  if (!keys.length) return <p class="muted">{t("health.none")}</p>;
  return (
    <div class="bars">
      {keys.slice(0, 30).map(({ k, v, total }) => (
        <div class="bar-row">
          <span class="bar-key">{k}</span>
          <span class="bar">
            {v.map((x) => (
              <span class="seg" title={`${tKey(prefix, x.reason)}: ${x.n}`} style={{ width: `${(x.n / max) * 100}%`, background: colour[x.reason] ?? OKABE_ITO.grey }} />
            ))}
          </span>
          <span class="bar-n">{num(total)}</span>
        </div>
      ))}
      <p class="legend">
        {Object.entries(colour).map(([r, c]) => (
          <span>
            <span class="swatch" style={{ background: c }} /> {tKey(prefix, r)}
          </span>
        ))}
      </p>
    </div>
  );
}

/** Counts over time (bucketed). */
export function Histogram(props: { buckets: { t: number; n: number }[] }) {
  const b = props.buckets;
  if (!b.length) return null;
  const w = 300;
  const h = 60;
  const max = Math.max(1, ...b.map((x) => x.n));
  const bw = w / b.length;
  return (
    <svg class="hist" width={w} height={h + 14} viewBox={`0 0 ${w} ${h + 14}`} role="img">
      {b.map((x, i) => (
        <rect x={i * bw + 1} y={h - (x.n / max) * h} width={Math.max(bw - 2, 1)} height={(x.n / max) * h} fill={OKABE_ITO.orange}>
          <title>{`${clockTime(x.t)}: ${x.n}`}</title>
        </rect>
      ))}
      <text x="0" y={h + 12} fill="currentColor" font-size="10">
        {clockTime(b[0].t)}
      </text>
    </svg>
  );
}

export function HealthPanel() {
  void alertsTick.value;
  const g = site.value;
  const s = session.value;
  const operator = !!s && (s.role === "operator" || s.role === "admin");
  const [hours, setHours] = useState(24);
  const [data, setData] = useState<NuisanceRecent | null>(null);
  const [err, setErr] = useState("");
  useEffect(() => {
    if (!operator) return;
    let gone = false;
    const load = () =>
      api.nuisance(hours).then(
        (d) => !gone && (setData(d), setErr("")),
        (e: Error) => !gone && setErr(e.message),
      );
    void load();
    const i = setInterval(load, 15000);
    return () => {
      gone = true;
      clearInterval(i);
    };
  }, [hours, operator]);
  const silent = (g?.sensors ?? []).filter((x) => x.silent);
  const resolutions = (data?.rows ?? []).filter((r) => r.from !== "event");
  const events = (data?.rows ?? []).filter((r) => r.from === "event");
  // Every event counts once under its zone (sector, else unzoned).
  const eventsTotal = events.filter((r) => r.scope === "zone").reduce((a, r) => a + r.n, 0);
  return (
    <div class="health" data-testid="health-panel">
      <h3>{t("health.silent")}</h3>
      {!g?.released.sensors ? (
        <p class="muted">{t("health.notReleased")}</p>
      ) : silent.length ? (
        <>
          <ul class="silent">
            {silent.map((x) => (
              <li>
                {x.id} ({tKey("layer", x.kind === "thermal_camera" ? "fov" : "sensors")})
              </li>
            ))}
          </ul>
          <p class="muted">{t("health.gaps")}</p>
        </>
      ) : (
        <p>{t("health.noneSilent")}</p>
      )}
      <h3>{t("health.nuisance")}</h3>
      {!operator ? (
        <p class="muted">{t("health.noRights")}</p>
      ) : (
        <>
          <div class="window" role="group">
            <button class={hours === 24 ? "on" : ""} aria-pressed={hours === 24} onClick={() => setHours(24)}>
              {t("health.window24")}
            </button>
            <button class={hours === 168 ? "on" : ""} aria-pressed={hours === 168} onClick={() => setHours(168)}>
              {t("health.window7d")}
            </button>
          </div>
          {err ? <p class="error">{err}</p> : null}
          {data ? (
            <>
              <div data-testid="health-nuisance">
                <p class="muted">{t("health.total", { n: num(data.buckets.reduce((a, b) => a + b.n, 0)) })}</p>
                <Histogram buckets={data.buckets} />
                <h4>{t("health.perSensor")}</h4>
                <Bars rows={resolutions.filter((r) => r.scope === "sensor")} />
                <h4>{t("health.perZone")}</h4>
                <Bars rows={resolutions.filter((r) => r.scope === "zone")} />
              </div>
              <div data-testid="health-events">
                <h3>{t("health.events")}</h3>
                <p class="muted">{t("health.eventsNote")}</p>
                <p class="muted">{t("health.eventsTotal", { n: num(eventsTotal) })}</p>
                <h4>{t("health.perFenceZone")}</h4>
                <Bars rows={events.filter((r) => r.scope === "fence_zone")} colour={ASSESS_COLOUR} prefix="assess" />
                <h4>{t("health.perZone")}</h4>
                <Bars rows={events.filter((r) => r.scope === "zone")} colour={ASSESS_COLOUR} prefix="assess" />
              </div>
            </>
          ) : null}
        </>
      )}
    </div>
  );
}
