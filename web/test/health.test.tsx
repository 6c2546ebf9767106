import { render } from "preact";
import { afterEach, describe, expect, it, vi } from "vitest";
import { api } from "../src/api";
import { HealthPanel } from "../src/components/HealthPanel";
import { session, site } from "../src/state";
import type { NuisanceRecent } from "../src/types";

const recent: NuisanceRecent = {
  hours: 24,
  bucket_s: 3600,
  from: 0,
  to: 86400,
  rows: [
    { from: "resolution", scope: "sensor", key: "ai-ne-cam", reason: "nuisance_animal", n: 3 },
    { from: "resolution", scope: "zone", key: "S011", reason: "nuisance_animal", n: 3 },
    { from: "event", scope: "sensor", key: "ai-fence-01", reason: "nothing_seen", n: 7 },
    { from: "event", scope: "zone", key: "unzoned", reason: "nothing_seen", n: 7 },
    { from: "event", scope: "fence_zone", key: "ai-fence-01/z04", reason: "nothing_seen", n: 5 },
    { from: "event", scope: "fence_zone", key: "ai-fence-01/z09", reason: "vibration", n: 2 },
  ],
  buckets: [{ t: 0, n: 3 }],
};

afterEach(() => vi.restoreAllMocks());

describe("the health panel", () => {
  it("shows each fence zone's assessed events apart from the nuisance resolutions", async () => {
    vi.spyOn(api, "nuisance").mockResolvedValue(recent);
    session.value = { user: "op", org: "ibf", org_name: "IBF", role: "operator", csrf: "x", expires: "" };
    site.value = null;
    const root = document.createElement("div");
    document.body.appendChild(root);
    render(<HealthPanel />, root);
    const events = await vi.waitFor(() => {
      const e = root.querySelector("[data-testid=health-events]");
      if (!e) throw new Error("no events section yet");
      return e;
    });
    expect(events.textContent).toContain("ai-fence-01/z04");
    expect(events.textContent).toContain("ai-fence-01/z09");
    expect(events.textContent).toContain("7");
    // The nuisance bars count resolutions only.
    const nuisance = root.querySelector("[data-testid=health-nuisance]");
    expect(nuisance?.textContent).toContain("ai-ne-cam");
    expect(nuisance?.textContent).not.toContain("ai-fence-01");
    render(null, root);
  });
});
