// What the page measures about itself: the time from a track update arriving on the stream to the
// frame that draws it, and the bytes received. Bounded buffers; read by the benchmark
// (BENCHMARKS.md) through `document.body.dataset` and `window.limesPerf`.

const MAX = 200_000;

/** Arrival times (performance.now(), ms) of updates not drawn yet. */
let pending: number[] = [];
/** Latencies of drawn updates, ms (a ring of the latest MAX). */
const latencies = new Float64Array(MAX);
let n = 0;
let bytes = 0;
let messages = 0;

/** Notes track updates that arrived (their times on this page's performance clock). */
export function arrivedBatch(at: Float64Array, n: number): void {
  messages += n;
  for (let i = 0; i < n && pending.length < MAX; i++) pending.push(at[i]);
}

/** Notes event data received (bytes). */
export function receivedBytes(size: number): void {
  bytes += size;
}

/** Takes the pending arrivals: they are in the data handed to the map now. */
export function takePending(): number[] {
  const p = pending;
  pending = [];
  return p;
}

/** The frame that shows `batch` was drawn at `at`. */
export function drawn(batch: number[], at: number = performance.now()): void {
  for (const a of batch) {
    latencies[n % MAX] = at - a;
    n++;
  }
}

/** Phases of the latest draw cycles (ms): packing the tracks for the GPU, and from handing them
 * to the map to the end of the frame that drew them. */
export interface Cycle {
  build: number;
  frame: number;
}
const cycles: Cycle[] = [];

/** Map sources handed new data, by name (what the map's worker had to redo). */
export const sourceUpdates: Record<string, number> = {};

let frames = 0;
let framesSince = performance.now();

/** Counts an animation frame of the page. */
export function frameTick(): void {
  frames++;
}

/** Animation frames per second since the last reset. */
export function fps(): number {
  return frames / ((performance.now() - framesSince) / 1000);
}

/** Notes that a map source was given new data. */
export function sourceUpdated(name: string): void {
  sourceUpdates[name] = (sourceUpdates[name] ?? 0) + 1;
}

/** Notes one draw cycle's phases. */
export function cycle(c: Cycle): void {
  cycles.push(c);
  if (cycles.length > 500) cycles.shift();
}

function median(v: number[]): number {
  if (!v.length) return NaN;
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median of each phase over the latest cycles, and their count. */
export function phases(): Cycle & { cycles: number } {
  const m = (k: keyof Cycle) => +median(cycles.map((c) => c[k])).toFixed(1);
  return { build: m("build"), frame: m("frame"), cycles: cycles.length, fps: +fps().toFixed(1), sources: { ...sourceUpdates } } as Cycle & { cycles: number };
}

/** Latency percentiles (ms) over the latest updates, and totals. */
export function summary(): { n: number; p50: number; p95: number; p99: number; max: number; bytes: number; messages: number } {
  const k = Math.min(n, MAX);
  const v = Array.from(latencies.subarray(0, k)).sort((a, b) => a - b);
  const q = (p: number) => (k ? v[Math.min(k - 1, Math.floor(p * k))] : NaN);
  return { n, p50: q(0.5), p95: q(0.95), p99: q(0.99), max: k ? v[k - 1] : NaN, bytes, messages };
}

/** Forgets the latencies so far (the benchmark's warm-up). */
export function reset(): void {
  n = 0;
  cycles.length = 0;
  frames = 0;
  framesSince = performance.now();
  for (const k of Object.keys(sourceUpdates)) delete sourceUpdates[k];
  bytes = 0;
  messages = 0;
}

declare global {
  interface Window {
    limesPerf?: { summary: typeof summary; reset: typeof reset; phases: typeof phases };
  }
}

window.limesPerf = { summary, reset, phases };
