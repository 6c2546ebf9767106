// End-to-end test of the console in real headless Chromium (Debian's `chromium`, driven by
// playwright-core). Run by crates/limes/tests/console_e2e.rs against a `limes serve` replaying
// the Ain Issa breakout; it reads what to do from the environment:
//   LIMES_URL, LIMES_ADMIN_TOKEN (API checks), LIMES_PASSWORD (every test user's),
//   LIMES_SHOTS (folder for screenshots), LIMES_DOCS_SHOT (optional: also write the README's).
// Exits non-zero naming the first failed check.

import { chromium } from "playwright-core";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const BASE = process.env.LIMES_URL;
const ADMIN = process.env.LIMES_ADMIN_TOKEN;
const PW = process.env.LIMES_PASSWORD;
const SHOTS = process.env.LIMES_SHOTS ?? "target/e2e-console";
const DOCS_SHOT = process.env.LIMES_DOCS_SHOT;
const WAIT = 90_000;
mkdirSync(SHOTS, { recursive: true });

const report = {};
const foreign = [];
const problems = [];

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
}

async function api(path) {
  const r = await fetch(BASE + path, { headers: { Authorization: `Bearer ${ADMIN}` } });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

const browser = await chromium.launch({
  executablePath: process.env.LIMES_CHROMIUM ?? "/usr/bin/chromium",
  // playwright-core gives every launch a new, empty profile directory.
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

/** A browser context (its own cookies) whose every request is checked to stay on the origin. */
async function context(name, viewport = { width: 1920, height: 1080 }) {
  const ctx = await browser.newContext({ viewport, locale: "en-GB" });
  await ctx.route("**/*", (route) => {
    const u = route.request().url();
    if (u.startsWith(BASE + "/") || u.startsWith("data:") || u.startsWith("blob:")) return route.continue();
    foreign.push(`${name}: ${u}`);
    return route.abort();
  });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on("console", (m) => {
    const t = m.text();
    if (/Content Security Policy|Refused to/i.test(t)) problems.push(`${name}: ${t}`);
  });
  return { ctx, page };
}

async function signIn(page, user, password = PW) {
  await page.goto(BASE + "/");
  await page.fill("input[name=user]", user);
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
}

const row = (page, sel) => page.locator(`.queue .row${sel}`).first();

/** Reads the event stream with a session cookie for `ms`; returns its events {eventName, data}. */
async function readStream(cookie, ms) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  let text = "";
  try {
    const r = await fetch(BASE + "/api/v1/stream", { headers: { cookie }, signal: ac.signal });
    if (!r.ok) throw new Error(`stream: ${r.status}`);
    const dec = new TextDecoder();
    for await (const chunk of r.body) text += dec.decode(chunk, { stream: true });
  } catch (e) {
    if (e.name !== "AbortError") throw e;
  } finally {
    clearTimeout(timer);
  }
  return text
    .split("\n\n")
    .map((block) => {
      const ev = /^event: ?(.*)$/m.exec(block)?.[1] ?? "message";
      const data = [...block.matchAll(/^data: ?(.*)$/gm)].map((m) => m[1]).join("\n");
      return { eventName: ev, data };
    })
    .filter((e) => e.data);
}

try {
  // 1. A border-force operator: a wrong password first, then the right one.
  const a = await context("ibf op1");
  await signIn(a.page, "op1", "certainly not it");
  const err = await a.page.locator("[data-testid=signin-error]").textContent({ timeout: WAIT });
  check(err.includes("wrong user name or password"), `a wrong password is refused on the page ("${err}")`);
  await signIn(a.page, "op1");
  await a.page.waitForSelector("[data-testid=who]", { timeout: WAIT });

  // 2. The mass-breakout alert appears in the queue and on the map.
  const breakout = row(a.page, "[data-kind=mass_breakout]");
  await breakout.waitFor({ timeout: WAIT });
  const id = await breakout.getAttribute("data-alert-id");
  check(!!id, `the mass-breakout alert ${id} is in the queue`);
  await a.page.waitForFunction(
    (id) => (document.querySelector("[data-testid=map]")?.dataset.alertsDrawn ?? "").split(",").includes(id),
    id,
    { timeout: WAIT },
  );
  check(true, `alert ${id} is drawn on the map`);
  check((await a.page.locator(".banner").count()) === 1, "a banner announces the critical alert");
  check((await a.page.evaluate(() => document.body.dataset.alarm)) === "sounding", "the alarm sounds");
  // The breakout as the operator first sees it (the README's picture), with the alert selected.
  await breakout.click();
  await a.page.locator(`[data-testid=alert-detail][data-alert-id="${id}"]`).waitFor({ timeout: WAIT });
  // The map's flight to it ends, and its tiles and layers are drawn.
  await a.page.waitForFunction((id) => document.querySelector("[data-testid=map]")?.dataset.flownTo === id, id, { timeout: WAIT });
  await a.page.screenshot({ path: join(SHOTS, "breakout.png") });
  if (DOCS_SHOT) copyFileSync(join(SHOTS, "breakout.png"), DOCS_SHOT);

  // 3. A second operator's page shows it as new.
  const b = await context("ibf op2");
  await signIn(b.page, "op2");
  await row(b.page, `[data-alert-id="${id}"][data-status=new]`).waitFor({ timeout: WAIT });
  check(true, "the second operator's page shows the alert as new");

  // 4. Acknowledge from the page, with the keyboard. Both pages note when they show it.
  const watchAck = (page) =>
    page.evaluate((id) => {
      const seen = () => document.querySelector(`.queue .row[data-alert-id="${id}"][data-status=acknowledged]`);
      new MutationObserver(() => {
        if (!window.__ackSeen && seen()) window.__ackSeen = Date.now();
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    }, id);
  await watchAck(a.page);
  await watchAck(b.page);
  await breakout.click();
  await a.page.locator(`[data-testid=alert-detail][data-alert-id="${id}"]`).waitFor({ timeout: WAIT });
  await a.page.locator("body").press("a");
  await row(a.page, `[data-alert-id="${id}"][data-status=acknowledged]`).waitFor({ timeout: WAIT });
  check(true, "acknowledged from the page (key a)");

  // 5. Through the API: the state changed and the audit names the user.
  const v = await api(`/api/v1/alerts/${encodeURIComponent(id)}`);
  check(v.status === "acknowledged", `the API says alert ${id} is ${v.status}`);
  check(v.changed_by === "ibf/user:op1", `the alert was last changed by ${v.changed_by}`);
  const audit = await api("/api/v1/audit?limit=10000");
  const entry = audit.entries.find((e) => e.action === "alert.ack" && e.object === `alert/${id}`);
  check(entry && entry.actor === "ibf/user:op1", `the audit log names the user (${entry?.actor})`);

  // 6. ... and the second operator's page shows the change.
  await row(b.page, `[data-alert-id="${id}"][data-status=acknowledged]`).waitFor({ timeout: WAIT });
  const seenA = await a.page.evaluate(() => window.__ackSeen);
  const seenB = await b.page.evaluate(() => window.__ackSeen);
  report.second_page_ms = seenB - seenA;
  check(true, `the second operator's page shows it acknowledged (${report.second_page_ms} ms after)`);
  check((await a.page.evaluate(() => document.body.dataset.alarm)) === "quiet", "the alarm stops once acknowledged");
  await b.ctx.close();

  // Assign the nearest unit (key u, the form's default), and see it through the API.
  await a.page.locator("body").press("u");
  await a.page.locator(".act-form button[type=submit]").click();
  await row(a.page, `[data-alert-id="${id}"][data-status=assigned]`).waitFor({ timeout: WAIT });
  const assigned = await api(`/api/v1/alerts/${encodeURIComponent(id)}`);
  check(assigned.status === "assigned" && assigned.unit, `assigned from the page to ${assigned.unit}`);

  await a.page.screenshot({ path: join(SHOTS, "operator.png") });

  // 7. The facility is breached now; scrub the slider back to before the breakout: secure.
  await a.page.click("[data-panel=facility]");
  const status = a.page.locator("[data-testid=facility-status]");
  await a.page.waitForFunction(() => document.querySelector("[data-testid=facility-panel]")?.dataset.status === "breached", null, { timeout: WAIT });
  check(true, "the facility is breached in the live picture");
  const range = await api("/api/v1/history");
  check(range.earliest !== null, `history is kept (since ${range.earliest})`);
  const before = Math.ceil(range.earliest + 5);
  await a.page.locator("[data-testid=slider]").fill(String(before));
  await a.page.waitForFunction(
    () => document.querySelector(".timebar")?.dataset.mode === "history" &&
      document.querySelector("[data-testid=facility-panel]")?.dataset.status === "secure",
    null,
    { timeout: WAIT },
  );
  check((await status.textContent()) === "secure", "scrubbed back before the breakout, the facility is secure");
  await a.page.screenshot({ path: join(SHOTS, "history.png") });
  await a.page.click("[data-testid=go-live]");
  await a.page.waitForFunction(() => document.querySelector("[data-testid=facility-panel]")?.dataset.status === "breached", null, { timeout: WAIT });
  check(true, "back to live, breached again");
  await a.page.click("[data-panel=health]");
  await a.page.locator("[data-testid=health-panel] h4").first().waitFor({ timeout: WAIT });
  await a.page.setViewportSize({ width: 1024, height: 768 });
  await a.page.click("[data-panel=desk]");
  await a.page.screenshot({ path: join(SHOTS, "tablet.png") });

  // 8. The humanitarian agency: no track and no sensor position shown or sent.
  const site = await api("/api/v1/site");
  // A sensor position is its two coordinates together (one alone may be a facility's too).
  const sensorAt = site.sensors.map((s) => [String(s.lon), String(s.lat)]);
  check(sensorAt.length > 0, "the admin knows the sensor positions to look for");
  const h = await context("humanitarian");
  const bodies = [];
  h.page.on("response", async (r) => {
    if (!r.url().startsWith(BASE + "/api/") || r.url().includes("/api/v1/stream")) return;
    try {
      bodies.push({ url: r.url(), text: await r.text() });
    } catch {
      // A response without a body (redirect, 204).
    }
  });
  await signIn(h.page, "hum1");
  await row(h.page, "[data-kind=mass_breakout]").waitFor({ timeout: WAIT });
  check(true, "the humanitarian agency sees the breakout (as a summary)");
  await h.page.click("[data-panel=facility]");
  await h.page.locator("[data-testid=facility-status]").waitFor({ timeout: WAIT });
  // History too, released by the same policy.
  await h.page.locator("[data-testid=slider]").fill(String(before));
  await h.page.waitForFunction(() => document.querySelector("[data-testid=facility-panel]")?.dataset.status === "secure", null, { timeout: WAIT });
  await h.page.click("[data-testid=go-live]");
  await h.page.waitForFunction(() => (document.querySelector("[data-testid=map]")?.dataset.tracksDrawn ?? "") !== "", null, { timeout: WAIT });
  // The page reads its event stream in a worker; read the same stream with the page's own
  // session cookie, as the server sends it to that session.
  const cookie = (await h.ctx.cookies()).map((c) => `${c.name}=${c.value}`).join("; ");
  const sse = await readStream(cookie, 4000);
  check(sse.length > 0, `the humanitarian stream delivered ${sse.length} events`);
  check(!sse.some((e) => e.eventName === "track"), "no track event was sent to the humanitarian page");
  const leaks = [...sse.map((e) => e.data), ...bodies.map((b) => b.text)].filter((t) =>
    sensorAt.some(([lon, lat]) => t.includes(lon) && t.includes(lat)),
  );
  check(leaks.length === 0, `no sensor position in anything sent (${bodies.length} responses, ${sse.length} events)${leaks.length ? ": " + leaks[0].slice(0, 200) : ""}`);
  const siteBody = bodies.find((b) => b.url.endsWith("/api/v1/site"));
  const siteJson = siteBody ? JSON.parse(siteBody.text) : null;
  check(siteJson && !("sensors" in siteJson) && !("fence_zones" in siteJson) && !("units" in siteJson), "the site geometry sent has no sensors, fence zones or units");
  check(!bodies.some((b) => /"tracks":\[\{/.test(b.text)), "no response carries a track");
  const drawn = await h.page.evaluate(() => ({ ...document.querySelector("[data-testid=map]").dataset }));
  check(drawn.tracksDrawn === "0" && drawn.sensorsDrawn === "0", `nothing of tracks or sensors is drawn (${drawn.tracksDrawn}, ${drawn.sensorsDrawn})`);
  check(await h.page.locator("input[data-layer=tracks]").isDisabled(), "the tracks layer says it is not released");
  await h.page.screenshot({ path: join(SHOTS, "humanitarian.png") });
  // Arabic, right to left.
  await h.page.selectOption("header select", "ar");
  check((await h.page.evaluate(() => document.documentElement.dir)) === "rtl", "Arabic lays the page out right to left");
  await h.page.screenshot({ path: join(SHOTS, "humanitarian-ar.png") });

  // 9. Nothing left the origin, and the page broke no policy.
  check(foreign.length === 0, `no request left the origin${foreign.length ? ": " + foreign.join(", ") : ""}`);
  check(problems.length === 0, `no page errors or CSP violations${problems.length ? ": " + problems.join(" | ") : ""}`);
  console.log(JSON.stringify({ ok: true, alert: id, ...report }));
} catch (e) {
  console.error(String(e?.stack ?? e));
  if (problems.length) console.error("problems:", problems.join("\n"));
  if (foreign.length) console.error("foreign requests:", foreign.join("\n"));
  for (const c of browser.contexts()) {
    for (const [i, p] of c.pages().entries()) {
      await p.screenshot({ path: join(SHOTS, `failure-${browser.contexts().indexOf(c)}-${i}.png`) }).catch(() => undefined);
    }
  }
  process.exitCode = 1;
} finally {
  await browser.close();
}
