// The alert desk: the queue (most severe, newest first), its filters, the selected alert with its
// detect–delay–respond figures, and the operator's actions, also from the keyboard.

import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api";
import { serverClock } from "../clock";
import { ageS, ddrFigures, options, queue, step, where } from "../desk";
import { clockTime, duration, num, t, tKey } from "../i18n";
import type { AlertState } from "../picture";
import {
  alertsChanged,
  alertsTick,
  filter,
  flyRequest,
  live,
  mode,
  muted,
  session,
  setMute,
  shown,
  site,
} from "../state";
import { selectedAlert } from "../state";
import type { Alert, AlertKind, Lifecycle, Resolution } from "../types";
import { ALERT_KINDS, LIFECYCLES, RESOLUTIONS, secs } from "../types";

/** Whether the signed-in user may change alerts from this page. */
function mayOperate(): boolean {
  const s = session.value;
  return !!s && (s.role === "operator" || s.role === "admin") && site.value?.released.alerts === "full" && mode.value === "live";
}

function DdrCell(props: { a: Alert }) {
  const d = ddrFigures(props.a);
  if (d.timeToLineS === undefined && d.unit === undefined) return <span class="muted">{t("ddr.none")}</span>;
  return (
    <span class="ddr">
      {d.timeToLineS !== undefined ? (
        <span class="ttl">
          {d.line ? t("ddr.toLine", { t: duration(d.timeToLineS), line: d.line }) : t("ddr.toLineUnknown", { t: duration(d.timeToLineS) })}
        </span>
      ) : null}
      {d.unit !== undefined && d.unitEtaS !== undefined ? <span class="eta">{t("ddr.unit", { unit: d.unit, t: duration(d.unitEtaS) })}</span> : null}
      {d.interruptible !== undefined ? (
        <span class={d.interruptible ? "interruptible yes" : "interruptible no"}>
          {d.interruptible ? t("ddr.interruptible") : t("ddr.notInterruptible")}
        </span>
      ) : null}
    </span>
  );
}

function Filters(props: { alerts: Alert[] }) {
  const f = filter.value;
  const set = (k: keyof typeof f, v: string) => (filter.value = { ...f, [k]: v });
  const sel = (k: keyof typeof f, label: string, values: string[], name: (v: string) => string, extra?: [string, string][]) => (
    <label>
      {label}
      <select data-filter={k} value={f[k]} onChange={(e) => set(k, (e.target as HTMLSelectElement).value)}>
        <option value="">{t("filter.all")}</option>
        {(extra ?? []).map(([v, n]) => (
          <option value={v}>{n}</option>
        ))}
        {values.map((v) => (
          <option value={v}>{name(v)}</option>
        ))}
      </select>
    </label>
  );
  return (
    <div class="filters">
      {sel("kind", t("filter.kind"), ALERT_KINDS, (v) => tKey("kind", v))}
      {sel("sector", t("filter.sector"), options(props.alerts, "sector"), (v) => v)}
      {sel("facility", t("filter.facility"), options(props.alerts, "facility"), (v) => v)}
      {sel("state", t("filter.state"), ["open", "closed"], (v) => tKey("state", v))}
      {sel("status", t("filter.status"), LIFECYCLES, (v) => tKey("status", v), [["unresolved", t("filter.unresolved")]])}
    </div>
  );
}

type Form = { kind: "assign"; unit: string; note: string } | { kind: "resolve"; reason: Resolution; note: string } | null;

function Detail(props: { a: AlertState; form: Form; setForm: (f: Form) => void; act: (f: () => Promise<Alert>) => void }) {
  const { a, form, setForm, act } = props;
  const can = mayOperate();
  const units = site.value?.units?.map((u) => u.id) ?? [];
  const unitChoices = [...new Set([...(a.ddr?.unit ? [a.ddr.unit] : []), ...units])];
  const row = (label: string, value: string | undefined) =>
    value ? (
      <>
        <dt>{label}</dt>
        <dd>{value}</dd>
      </>
    ) : null;
  return (
    <section class="detail" data-testid="alert-detail" data-alert-id={a.id} data-status={a.status}>
      <h3>
        {t("detail.title", { id: a.id })} · {tKey("kind", a.kind)} · <span class={`sev sev-${a.severity}`}>{tKey("severity", a.severity)}</span> ·{" "}
        <span class="status" data-testid="detail-status">
          {tKey("status", a.status)}
        </span>
      </h3>
      <dl>
        {row(t("detail.summary"), a.summary)}
        {row(t("detail.raised"), clockTime(secs(a.raised)))}
        {row(t("detail.updated"), clockTime(secs(a.time)))}
        {row(t("detail.class"), a.class ? tKey("class", a.class) : undefined)}
        {row(t("detail.sensors"), a.sensors?.join(", "))}
        {row(
          t("detail.tracks"),
          a.tracks?.length
            ? `${num(a.tracks.length)}: ${a.tracks.slice(0, 6).join(", ")}${a.tracks.length > 6 ? ", …" : ""}`
            : undefined,
        )}
        {row(t("detail.unit"), a.unit)}
        {row(t("detail.resolution"), a.resolution ? tKey("reason", a.resolution) : undefined)}
        {row(t("detail.note"), a.note)}
        {row(t("detail.changedBy"), a.changed_by)}
      </dl>
      {can ? (
        <div class="actions">
          <button data-action="ack" disabled={a.status !== "new"} onClick={() => act(() => api.ack(a.id))}>
            {t("act.ack")} <kbd>a</kbd>
          </button>
          <button data-action="assign" disabled={a.status === "resolved"} onClick={() => setForm({ kind: "assign", unit: unitChoices[0] ?? "", note: "" })}>
            {t("act.assign")} <kbd>u</kbd>
          </button>
          <button data-action="resolve" disabled={a.status === "resolved"} onClick={() => setForm({ kind: "resolve", reason: "confirmed", note: "" })}>
            {t("act.resolve")} <kbd>r</kbd>
          </button>
        </div>
      ) : (
        <p class="muted">{t("act.noRights")}</p>
      )}
      {can && form ? (
        <form
          class="act-form"
          onSubmit={(e) => {
            e.preventDefault();
            const note = form.note.trim() || undefined;
            if (form.kind === "assign") act(() => api.assign(a.id, form.unit, note));
            else act(() => api.resolve(a.id, form.reason, note));
            setForm(null);
          }}
        >
          {form.kind === "assign" ? (
            <label>
              {t("act.unit")}
              <select value={form.unit} onChange={(e) => setForm({ ...form, unit: (e.target as HTMLSelectElement).value })}>
                {unitChoices.map((u) => (
                  <option value={u}>{site.value?.units?.find((x) => x.id === u)?.name ?? u}</option>
                ))}
              </select>
            </label>
          ) : (
            <label>
              {t("act.reason")}
              <select data-field="reason" value={form.reason} onChange={(e) => setForm({ ...form, reason: (e.target as HTMLSelectElement).value as Resolution })}>
                {RESOLUTIONS.map((r) => (
                  <option value={r}>{tKey("reason", r)}</option>
                ))}
              </select>
            </label>
          )}
          <label>
            {t("act.note")}
            <input data-field="note" value={form.note} maxLength={500} onInput={(e) => setForm({ ...form, note: (e.target as HTMLInputElement).value })} />
          </label>
          <button type="submit">{t("act.submit")}</button>
          <button type="button" onClick={() => setForm(null)}>
            {t("act.cancel")}
          </button>
        </form>
      ) : null}
    </section>
  );
}

export function AlertDesk() {
  void alertsTick.value;
  const pic = shown();
  const all = [...pic.alerts.values()];
  const q = queue(all, filter.value);
  const sel = selectedAlert.value;
  const current = sel === null ? undefined : pic.alerts.get(sel);
  const [form, setForm] = useState<Form>(null);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [, setNow] = useState(0);
  const list = useRef<HTMLDivElement>(null);

  // Ages tick every second.
  useEffect(() => {
    const i = setInterval(() => setNow((n) => n + 1), 1000);
    return () => clearInterval(i);
  }, []);

  const select = (id: string | null, fly = false) => {
    selectedAlert.value = id;
    setForm(null);
    setMessage(null);
    if (id !== null && fly) flyRequest.value = { alert: id, n: (flyRequest.value?.n ?? 0) + 1 };
  };

  const act = (f: () => Promise<Alert>) => {
    setMessage(null);
    f().then(
      (a) => {
        live.apply({ kind: "alert", body: a });
        alertsChanged();
        setMessage({ ok: true, text: t("act.done") });
      },
      (e: Error) => setMessage({ ok: false, text: e.message }),
    );
  };

  // Keyboard shortcuts, unless typing in a field.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const tag = (e.target as HTMLElement | null)?.tagName;
      if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || e.ctrlKey || e.metaKey || e.altKey) {
        if (e.key === "Escape") setForm(null);
        return;
      }
      const cur = selectedAlert.value;
      const a = cur === null ? undefined : shown().alerts.get(cur);
      const qq = queue(shown().alerts.values(), filter.value);
      switch (e.key) {
        case "j":
        case "ArrowDown":
          select(step(qq, cur, 1));
          break;
        case "k":
        case "ArrowUp":
          select(step(qq, cur, -1));
          break;
        case "Enter":
          if (cur !== null) select(cur, true);
          break;
        case "a":
          if (a && mayOperate() && a.status === "new") act(() => api.ack(a.id));
          break;
        case "u":
          if (a && mayOperate() && a.status !== "resolved") {
            const unit = a.ddr?.unit ?? site.value?.units?.[0]?.id ?? "";
            setForm({ kind: "assign", unit, note: "" });
          }
          break;
        case "r":
          if (a && mayOperate() && a.status !== "resolved") setForm({ kind: "resolve", reason: "confirmed", note: "" });
          break;
        case "m":
          setMute(!muted.value);
          break;
        case "Escape":
          setForm(null);
          break;
        default:
          return;
      }
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  // Keep the selected row in view.
  useEffect(() => {
    list.current?.querySelector(".row.selected")?.scrollIntoView({ block: "nearest" });
  }, [sel]);

  const now = serverClock.now();
  return (
    <div class="desk">
      <Filters alerts={all} />
      <p class="muted count">{t("desk.count", { n: num(q.length), total: num(all.length) })}</p>
      <div class="queue" ref={list} role="listbox" aria-label={t("desk.title")} data-testid="queue">
        {q.length === 0 ? <p class="muted">{t("desk.empty")}</p> : null}
        {q.map((a) => (
          <div
            role="option"
            aria-selected={a.id === sel}
            class={`row sev-${a.severity} status-${a.status}${a.id === sel ? " selected" : ""}`}
            data-alert-id={a.id}
            data-kind={a.kind}
            data-status={a.status}
            onClick={() => select(a.id, true)}
          >
            <span class={`sev sev-${a.severity}`}>{tKey("severity", a.severity)}</span>
            <span class="kind">{tKey("kind", a.kind as AlertKind)}</span>
            <span class="count">{num(a.count)}</span>
            <span class="where">{where(a)}</span>
            <span class="age">{duration(ageS(a, now))}</span>
            <span class="status">{tKey("status", a.status as Lifecycle)}</span>
            <DdrCell a={a} />
          </div>
        ))}
      </div>
      {message ? (
        <p class={message.ok ? "ok" : "error"} role="status" data-testid="act-message">
          {message.text}
        </p>
      ) : null}
      {current ? <Detail a={current} form={form} setForm={setForm} act={act} /> : null}
      <details class="keys">
        <summary>{t("keys.title")}</summary>
        <p>{t("keys.help")}</p>
      </details>
    </div>
  );
}
