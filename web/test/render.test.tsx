import { render } from "preact";
import { describe, expect, it } from "vitest";
import { AlertDesk } from "../src/components/AlertDesk";
import { FacilityPanel } from "../src/components/FacilityPanel";
import { live, selectedAlert, selectedFacility, session, site } from "../src/state";
import type { SiteGeometry } from "../src/types";

const EVIL = `<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>`;

const geometry: SiteGeometry = {
  name: "t",
  description: "",
  released: { tracks: "full", alerts: "full", facilities: "full", sensors: true, fields_of_view: true, fence_zones: true, units: true },
  crossings: [],
  lines: [],
  facilities: [{ id: "camp", name: EVIL, perimeter: [[38.8, 36.3], [38.9, 36.3], [38.9, 36.4], [38.8, 36.3]] }],
  units: [{ id: "qrf", name: EVIL, lon: 38.8, lat: 36.4, speed_kmh: 40 }],
};

describe("strings from the server are text, never markup", () => {
  it("in the alert desk and the facility panel", async () => {
    session.value = { user: EVIL, org: "ibf", org_name: EVIL, role: "operator", csrf: "x", expires: "" };
    site.value = geometry;
    live.apply({
      kind: "alert",
      body: {
        id: "a9", rev: 1, kind: "mass_breakout", severity: "critical", state: "open",
        time: "2019-10-12T21:00:00Z", raised: "2019-10-12T21:00:00Z", count: 40, status: "new",
        facility: EVIL, sector: EVIL, summary: EVIL, note: EVIL, changed_by: EVIL, sensors: [EVIL],
        ddr: { first_detected: "2019-10-12T21:00:00Z", next_line: EVIL, time_to_line_s: 100, unit: EVIL, unit_eta_s: 50, interruptible: true },
      },
    });
    live.apply({ kind: "facility", body: { id: "camp", name: EVIL, status: "breached", population: 949, exits: 40, estimate: 909, note: EVIL, changed_by: EVIL } });
    selectedAlert.value = "a9";
    selectedFacility.value = "camp";
    const root = document.createElement("div");
    document.body.appendChild(root);
    render(<AlertDesk />, root);
    expect(root.querySelector("img, script")).toBeNull();
    expect(root.textContent).toContain(EVIL);
    render(<FacilityPanel />, root);
    expect(root.querySelector("img, script")).toBeNull();
    expect(root.textContent).toContain(EVIL);
    expect((window as unknown as { pwned?: number }).pwned).toBeUndefined();
    render(null, root);
  });
});
