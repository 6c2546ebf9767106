import { describe, expect, it } from "vitest";
import { alarms, compareAlerts, ddrFigures, matches, NO_FILTER, options, queue, step } from "../src/desk";
import type { Alert } from "../src/types";

function alert(p: Partial<Alert>): Alert {
  return {
    id: "a1",
    rev: 1,
    kind: "infiltration",
    severity: "medium",
    state: "open",
    time: "2019-10-12T21:00:00.000Z",
    raised: "2019-10-12T21:00:00.000Z",
    count: 1,
    status: "new",
    ...p,
  };
}

describe("the queue", () => {
  it("puts the most severe first, then the newest raised", () => {
    const q = queue(
      [
        alert({ id: "a1", severity: "high", raised: "2019-10-12T21:00:00Z" }),
        alert({ id: "a2", severity: "critical", raised: "2019-10-12T20:00:00Z" }),
        alert({ id: "a3", severity: "high", raised: "2019-10-12T22:00:00Z" }),
        alert({ id: "a4", severity: "low", raised: "2019-10-12T23:00:00Z" }),
      ],
      { ...NO_FILTER, status: "" },
    );
    expect(q.map((a) => a.id)).toEqual(["a2", "a3", "a1", "a4"]);
  });

  it("ties on severity and time go to the higher id", () => {
    expect(compareAlerts(alert({ id: "a5" }), alert({ id: "a9" }))).toBeGreaterThan(0);
  });

  it("hides resolved alerts by default and filters by each field", () => {
    const all = [
      alert({ id: "a1", status: "resolved" }),
      alert({ id: "a2", kind: "mass_breakout", facility: "camp" }),
      alert({ id: "a3", sector: "S004", state: "closed" }),
    ];
    expect(queue(all, NO_FILTER).map((a) => a.id).sort()).toEqual(["a2", "a3"]);
    expect(matches(all[1], { ...NO_FILTER, kind: "mass_breakout" })).toBe(true);
    expect(matches(all[2], { ...NO_FILTER, kind: "mass_breakout" })).toBe(false);
    expect(matches(all[2], { ...NO_FILTER, sector: "S004" })).toBe(true);
    expect(matches(all[1], { ...NO_FILTER, facility: "camp" })).toBe(true);
    expect(matches(all[2], { ...NO_FILTER, state: "open" })).toBe(false);
    expect(matches(all[0], { ...NO_FILTER, status: "resolved" })).toBe(true);
    expect(options(all, "sector")).toEqual(["S004"]);
  });
});

describe("a row", () => {
  it("compares the intruder's time to the line with the unit's arrival", () => {
    const d = ddrFigures(
      alert({ ddr: { first_detected: "2019-10-12T21:00:00Z", time_to_line_s: 900, unit: "qrf", unit_eta_s: 600, interruptible: true } }),
    );
    expect(d.marginS).toBe(300);
    expect(d.interruptible).toBe(true);
    expect(ddrFigures(alert({}))).toEqual({});
  });

  it("steps through the queue without wrapping", () => {
    const q = [alert({ id: "a7" }), alert({ id: "a8" }), alert({ id: "a9" })];
    expect(step(q, null, 1)).toBe("a7");
    expect(step(q, "a7", 1)).toBe("a8");
    expect(step(q, "a9", 1)).toBe("a9");
    expect(step(q, "a7", -1)).toBe("a7");
    expect(step([], "a7", 1)).toBeNull();
  });

  it("sounds the alarm only for new, open, critical alerts", () => {
    expect(alarms(alert({ severity: "critical" }))).toBe(true);
    expect(alarms(alert({ severity: "critical", status: "acknowledged" }))).toBe(false);
    expect(alarms(alert({ severity: "critical", state: "closed" }))).toBe(false);
    expect(alarms(alert({ severity: "high" }))).toBe(false);
  });
});
