// The facility panel: status, population by category on record and the estimate now, exits,
// guards, the breakout alert's climbing count, and the operator's update form.

import { useState } from "preact/hooks";
import { api } from "../api";
import { num, t, tKey } from "../i18n";
import { FACILITY_COLOUR } from "../palette";
import type { AlertState } from "../picture";
import { facilitiesTick, alertsTick, live, mode, selectedFacility, session, shown, site } from "../state";
import { FACILITY_STATUSES, secs } from "../types";

/** A small line of the alert's count over its revisions. */
export function Sparkline(props: { points: { t: number; n: number }[] }) {
  const p = props.points;
  if (p.length < 2) return null;
  const w = 160;
  const h = 36;
  const t0 = p[0].t;
  const t1 = p[p.length - 1].t;
  const nMax = Math.max(...p.map((x) => x.n), 1);
  const xy = p.map((x) => [t1 > t0 ? ((x.t - t0) / (t1 - t0)) * w : 0, h - (x.n / nMax) * (h - 4) - 2]);
  return (
    <svg class="spark" width={w} height={h} viewBox={`0 0 ${w} ${h}`} role="img">
      <polyline points={xy.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" ")} fill="none" stroke="currentColor" stroke-width="2" />
    </svg>
  );
}

export function FacilityPanel() {
  void facilitiesTick.value;
  void alertsTick.value;
  const pic = shown();
  const g = site.value;
  const ids = g?.facilities.map((f) => f.id) ?? [...pic.facilities.keys()];
  const id = selectedFacility.value ?? ids[0] ?? null;
  const f = id ? pic.facilities.get(id) : undefined;
  const geo = g?.facilities.find((x) => x.id === id);
  const s = session.value;
  const canUpdate = !!s && (s.role === "operator" || s.role === "admin") && g?.released.facilities === "full" && mode.value === "live";
  const [form, setForm] = useState({ status: "", head: "", guards: "", note: "" });
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const breakout = [...pic.alerts.values()]
    .filter((a): a is AlertState => a.facility === id && (a.kind === "mass_breakout" || a.kind === "perimeter_breach"))
    .sort((a, b) => secs(b.raised) - secs(a.raised))[0];
  if (!ids.length) return <p class="muted">{t("facility.none")}</p>;
  const submit = (e: Event) => {
    e.preventDefault();
    if (!id) return;
    const u: { status?: string; head_count?: number; guards?: number; note?: string } = {};
    if (form.status) u.status = form.status;
    if (form.head.trim()) u.head_count = Number(form.head);
    if (form.guards.trim()) u.guards = Number(form.guards);
    if (form.note.trim()) u.note = form.note.trim();
    setMsg(null);
    api.updateFacility(id, u).then(
      (v) => {
        live.apply({ kind: "facility", body: v });
        setMsg({ ok: true, text: t("facility.saved") });
        setForm({ status: "", head: "", guards: "", note: "" });
      },
      (err: Error) => setMsg({ ok: false, text: err.message }),
    );
  };
  return (
    <div class="facility" data-testid="facility-panel" data-facility={id ?? ""} data-status={f?.status ?? ""}>
      <label>
        {t("facility.title")}
        <select value={id ?? ""} onChange={(e) => (selectedFacility.value = (e.target as HTMLSelectElement).value)}>
          {ids.map((x) => (
            <option value={x}>{g?.facilities.find((y) => y.id === x)?.name ?? x}</option>
          ))}
        </select>
      </label>
      {f ? (
        <dl>
          <dt>{t("facility.status")}</dt>
          <dd>
            <span class="fstatus" data-testid="facility-status" style={{ borderColor: FACILITY_COLOUR[f.status] ?? "#888" }}>
              {tKey("fstatus", f.status)}
            </span>
          </dd>
          <dt>{t("facility.population")}</dt>
          <dd>{num(f.population)}</dd>
          {geo?.population ? (
            <>
              <dt>{t("facility.byCategory")}</dt>
              <dd>
                {Object.entries(geo.population)
                  .map(([k, v]) => `${k}: ${num(v)}`)
                  .join(" · ")}
              </dd>
            </>
          ) : null}
          <dt>{t("facility.exits")}</dt>
          <dd data-testid="facility-exits">{num(f.exits)}</dd>
          <dt>{t("facility.estimate")}</dt>
          <dd>{num(f.estimate)}</dd>
          {f.guards !== undefined ? (
            <>
              <dt>{t("facility.guards")}</dt>
              <dd>{num(f.guards)}</dd>
            </>
          ) : null}
          {f.note ? (
            <>
              <dt>{t("facility.note")}</dt>
              <dd>{f.note}</dd>
            </>
          ) : null}
          {f.changed_by ? (
            <>
              <dt>{t("facility.changedBy")}</dt>
              <dd>{f.changed_by}</dd>
            </>
          ) : null}
          {breakout ? (
            <>
              <dt>{t("facility.breakout")}</dt>
              <dd class="breakout">
                <strong>{num(breakout.count)}</strong> ({tKey("kind", breakout.kind)}, {tKey("status", breakout.status)})
                <Sparkline points={breakout.counts} />
              </dd>
            </>
          ) : null}
        </dl>
      ) : (
        <p class="muted">{t("facility.none")}</p>
      )}
      {canUpdate && id ? (
        <form class="facility-form" onSubmit={submit}>
          <h4>{t("facility.update")}</h4>
          <label>
            {t("facility.status")}
            <select value={form.status} onChange={(e) => setForm({ ...form, status: (e.target as HTMLSelectElement).value })}>
              <option value="">–</option>
              {FACILITY_STATUSES.map((x) => (
                <option value={x}>{tKey("fstatus", x)}</option>
              ))}
            </select>
          </label>
          <label>
            {t("facility.headCount")}
            <input type="number" min="0" step="1" value={form.head} onInput={(e) => setForm({ ...form, head: (e.target as HTMLInputElement).value })} />
          </label>
          <label>
            {t("facility.guards")}
            <input type="number" min="0" step="1" value={form.guards} onInput={(e) => setForm({ ...form, guards: (e.target as HTMLInputElement).value })} />
          </label>
          <label>
            {t("facility.note")}
            <input value={form.note} maxLength={500} onInput={(e) => setForm({ ...form, note: (e.target as HTMLInputElement).value })} />
          </label>
          <button type="submit">{t("facility.save")}</button>
          {msg ? <p class={msg.ok ? "ok" : "error"}>{msg.text}</p> : null}
        </form>
      ) : null}
    </div>
  );
}
