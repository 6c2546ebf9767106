// Time: live, or a slider over the last 24 hours of the server's clock showing tracks, alerts and
// facility states as they were, with playback at 1–60×.

import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api";
import { serverClock } from "../clock";
import { SPEEDS } from "../history";
import { clockTime, t } from "../i18n";
import { mode, playback } from "../state";
import type { HistoryRange } from "../types";

/** Seconds of server time fetched per history window. */
const WINDOW_S = 900;
const DAY_S = 24 * 3600;

/** `HH:MM[:SS]` (UTC) on the day of `now`, or the day before when that is later than `now`. */
export function parseClock(s: string, now: number): number | null {
  const m = /^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$/.exec(s);
  if (!m) return null;
  const [h, mi, se] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  if (h > 23 || mi > 59 || se > 59) return null;
  const day = Math.floor(now / 86400) * 86400;
  let t = day + h * 3600 + mi * 60 + se;
  if (t > now) t -= 86400;
  return t;
}

export function TimeBar() {
  const [range, setRange] = useState<HistoryRange | null>(null);
  const [at, setAt] = useState(0);
  const [playing, setPlaying] = useState(false);
  const [speed, setSpeed] = useState(10);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState("");
  const [gotoText, setGotoText] = useState("");
  const [, setTick] = useState(0);
  const busy = useRef(false);

  useEffect(() => {
    const load = () => api.historyRange().then(setRange, () => undefined);
    void load();
    const i = setInterval(load, 30000);
    const j = setInterval(() => setTick((x) => x + 1), 1000);
    return () => {
      clearInterval(i);
      clearInterval(j);
    };
  }, []);

  const now = serverClock.now();
  const min = Math.max(now - DAY_S, range?.earliest ?? now - DAY_S);

  /** Shows the picture at `t`, fetching a window when needed. */
  const seek = async (target: number) => {
    mode.value = "history";
    target = Math.max(min, Math.min(target, serverClock.now()));
    setAt(target);
    if (playback.covers(target)) {
      playback.seek(target);
      return;
    }
    if (busy.current) return;
    busy.current = true;
    setLoading(true);
    try {
      const w = await api.history(target, WINDOW_S);
      playback.load(w);
      playback.seek(target);
      setError("");
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setPlaying(false);
    } finally {
      busy.current = false;
      setLoading(false);
    }
  };

  // Playback: advance the shown time at `speed` server seconds per second.
  useEffect(() => {
    if (!playing || mode.value !== "history") return;
    let last = performance.now();
    const i = setInterval(() => {
      const t1 = performance.now();
      const next = playback.t + ((t1 - last) / 1000) * speed;
      last = t1;
      if (next >= serverClock.now()) {
        setPlaying(false);
        mode.value = "live";
        return;
      }
      void seek(next);
    }, 200);
    return () => clearInterval(i);
  }, [playing, speed, mode.value]);

  const isLive = mode.value === "live";
  const shownAt = isLive ? now : at;
  return (
    <footer class="timebar" data-mode={mode.value} data-at={Math.round(shownAt)}>
      <button class={isLive ? "live on" : "live"} aria-pressed={isLive} data-testid="go-live" onClick={() => ((mode.value = "live"), setPlaying(false))}>
        {t("time.live")}
      </button>
      <button data-testid="play" disabled={isLive} onClick={() => setPlaying(!playing)}>
        {playing ? t("time.pause") : t("time.play")}
      </button>
      <label class="speed">
        {t("time.speed")}
        <select value={String(speed)} onChange={(e) => setSpeed(Number((e.target as HTMLSelectElement).value))}>
          {SPEEDS.map((s) => (
            <option value={String(s)}>{s}×</option>
          ))}
        </select>
      </label>
      <input
        type="range"
        class="slider"
        data-testid="slider"
        aria-label={t("time.slider")}
        min={Math.floor(min)}
        max={Math.ceil(now)}
        step="1"
        value={Math.round(shownAt)}
        onChange={(e) => void seek(Number((e.target as HTMLInputElement).value))}
      />
      <form
        class="goto"
        onSubmit={(e) => {
          e.preventDefault();
          const target = parseClock(gotoText, serverClock.now());
          if (target !== null) void seek(target);
        }}
      >
        <input
          data-testid="goto"
          aria-label={t("time.goto")}
          placeholder="HH:MM:SS"
          value={gotoText}
          onInput={(e) => setGotoText((e.target as HTMLInputElement).value)}
        />
      </form>
      <span class="at" data-testid="time-at">
        {isLive ? clockTime(now) : t("time.at", { t: clockTime(at) })}
      </span>
      {loading ? <span class="muted">{t("time.loading")}</span> : null}
      {error ? <span class="error">{error}</span> : null}
      {range?.earliest ? <span class="muted kept">{t("time.kept", { t: clockTime(range.earliest) })}</span> : null}
    </footer>
  );
}
