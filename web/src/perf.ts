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

/** Notes a track update that arrived (its payload size in bytes). */
export function arrived(size: number, at: number = performance.now()): void {
  bytes += size;
  messages++;
  if (pending.length < MAX) pending.push(at);
}

/** Notes a message that is not a track (counted in bytes only). */
export function received(size: number): void {
  bytes += size;
  messages++;
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
  bytes = 0;
  messages = 0;
}

declare global {
  interface Window {
    limesPerf?: { summary: typeof summary; reset: typeof reset };
  }
}

window.limesPerf = { summary, reset };
