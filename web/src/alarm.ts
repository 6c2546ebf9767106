// The audible alarm for new critical alerts: a two-tone beep every 1.5 s, made with WebAudio (no
// sound file to fetch), until every sounding alert is acknowledged or the operator mutes it.

let ctx: AudioContext | null = null;
let timer: ReturnType<typeof setInterval> | null = null;
let muted = false;
/** Beeps played since the page opened (the end-to-end test reads it from the document). */
export let beeps = 0;

function beep(): void {
  beeps++;
  document.body.dataset.alarmBeeps = String(beeps);
  if (muted) return;
  try {
    ctx ??= new AudioContext();
    const t0 = ctx.currentTime;
    for (const [i, f] of [880, 660].entries()) {
      const o = ctx.createOscillator();
      const g = ctx.createGain();
      o.frequency.value = f;
      g.gain.setValueAtTime(0.0001, t0 + i * 0.25);
      g.gain.exponentialRampToValueAtTime(0.3, t0 + i * 0.25 + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, t0 + i * 0.25 + 0.22);
      o.connect(g).connect(ctx.destination);
      o.start(t0 + i * 0.25);
      o.stop(t0 + i * 0.25 + 0.24);
    }
  } catch {
    // No audio device: the banner still shows.
  }
}

/** Sounds the alarm (idempotent) or stops it. */
export function setSounding(on: boolean): void {
  document.body.dataset.alarm = on ? "sounding" : "quiet";
  if (on && !timer) {
    beep();
    timer = setInterval(beep, 1500);
  } else if (!on && timer) {
    clearInterval(timer);
    timer = null;
  }
}

/** Mutes or unmutes (the alarm keeps its state; only the sound stops). */
export function setMuted(m: boolean): void {
  muted = m;
  document.body.dataset.muted = m ? "yes" : "no";
  if (!m) void ctx?.resume();
}
