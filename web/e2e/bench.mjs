// The console's benchmark in headless Chromium (run by crates/limes/tests/console_bench.rs, which
// publishes LIMES_TRACKS live tracks updating every second): after a warm-up, measures for
// LIMES_SECONDS the time from a track update arriving at the page to the frame that draws it
// (p50/p95/p99, from the page's own instrumentation, src/perf.ts), the bytes per second the
// event stream delivers (Chromium's network counters), and the page's memory over time (JS heap,
// and the resident memory of all of this browser's processes). Prints one JSON line.

import { chromium } from "playwright-core";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BASE = process.env.LIMES_URL;
const SECONDS = Number(process.env.LIMES_SECONDS ?? 120);
const WARMUP = Number(process.env.LIMES_WARMUP ?? 20);
const SAMPLE = Number(process.env.LIMES_SAMPLE_S ?? 30);

// A new, empty profile directory, named so that this browser's processes can be found.
const profile = mkdtempSync(join(tmpdir(), "limes-bench-profile-"));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.LIMES_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 1920, height: 1080 },
});
const page = ctx.pages()[0] ?? (await ctx.newPage());
const errors = [];
page.on("pageerror", (e) => errors.push(e.message));

/** Resident memory (kB) of every process of this browser (found by its profile directory). */
function browserRssKb() {
  let total = 0;
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (!cmd.includes(profile)) continue;
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      if (m) total += Number(m[1]);
    } catch {
      // Gone meanwhile.
    }
  }
  return total;
}

const cdp = await ctx.newCDPSession(page);
await cdp.send("Performance.enable");
// The stream is read by the page's worker; "lagged" notices show in the connection badge.
let lagged = 0;
page.on("console", () => undefined);

await page.goto(BASE + "/");
await page.fill("input[name=user]", process.env.LIMES_USER);
await page.fill("input[name=password]", process.env.LIMES_PASSWORD);
await page.click("button[type=submit]");
await page.waitForSelector(".map canvas", { timeout: 60_000 });
await page.waitForFunction(() => Number(document.querySelector("[data-testid=map]")?.dataset.tracksDrawn ?? 0) > 0, null, { timeout: 120_000 });
// LIMES_HIDE=fov,fence,… turns layers off first (to see what a layer costs).
for (const l of (process.env.LIMES_HIDE ?? "").split(",").filter(Boolean)) {
  await page.locator(`input[data-layer=${l}]`).uncheck();
}
await page.waitForTimeout(WARMUP * 1000);

const heap = async () => {
  const { metrics } = await cdp.send("Performance.getMetrics");
  const m = Object.fromEntries(metrics.map((x) => [x.name, x.value]));
  return { js_heap_used_mb: +(m.JSHeapUsedSize / 1048576).toFixed(1), js_heap_total_mb: +(m.JSHeapTotalSize / 1048576).toFixed(1), nodes: m.Nodes };
};
const metrics = async () => Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((x) => [x.name, x.value]));
const m0 = await metrics();
await page.evaluate(() => window.limesPerf.reset());
const lagged0 = lagged;
await page.exposeFunction("__benchLagged", () => lagged++);
await page.evaluate(() => {
  new MutationObserver(() => {
    if (document.querySelector(".conn")?.getAttribute("data-conn") === "lagged") window.__benchLagged();
  }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["data-conn"] });
});
const t0 = Date.now();
const samples = [];
samples.push({ t_s: 0, ...(await heap()), browser_rss_mb: +(browserRssKb() / 1024).toFixed(0) });
while (Date.now() - t0 < SECONDS * 1000) {
  await page.waitForTimeout(Math.min(SAMPLE * 1000, SECONDS * 1000 - (Date.now() - t0)));
  samples.push({ t_s: Math.round((Date.now() - t0) / 1000), ...(await heap()), browser_rss_mb: +(browserRssKb() / 1024).toFixed(0) });
}
const elapsed = (Date.now() - t0) / 1000;
const m1 = await metrics();
// Share of the page's main thread spent in tasks, scripts, style and layout over the window.
const busy = Object.fromEntries(
  ["TaskDuration", "ScriptDuration", "RecalcStyleDuration", "LayoutDuration"].map((k) => [k, +((m1[k] - m0[k]) / elapsed).toFixed(3)]),
);
const perf = await page.evaluate(() => window.limesPerf.summary());
const phases = await page.evaluate(() => window.limesPerf.phases());
const drawn = await page.evaluate(() => Number(document.querySelector("[data-testid=map]")?.dataset.tracksDrawn ?? 0));
console.log(
  JSON.stringify({
    seconds: +elapsed.toFixed(1),
    updates_drawn: perf.n,
    updates_per_s: +(perf.n / elapsed).toFixed(0),
    latency_ms: { p50: +perf.p50.toFixed(0), p95: +perf.p95.toFixed(0), p99: +perf.p99.toFixed(0), max: +perf.max.toFixed(0) },
    event_data_bytes_per_s: Math.round(perf.bytes / elapsed),
    t0_epoch_ms: t0,
    t1_epoch_ms: t0 + Math.round(elapsed * 1000),
    lagged_events: lagged - lagged0,
    tracks_drawn: drawn,
    phases_ms: phases,
    main_thread_busy: busy,
    memory: samples,
    errors,
  }),
);
if (process.env.LIMES_BENCH_SHOT) {
  await page.mouse.move(760, 590);
  for (let i = 0; i < 6; i++) { await page.mouse.wheel(0, -400); await page.waitForTimeout(150); }
  await page.waitForTimeout(3000);
  await page.screenshot({ path: process.env.LIMES_BENCH_SHOT });
}
await ctx.close();
rmSync(profile, { recursive: true, force: true });
