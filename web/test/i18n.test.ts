import { describe, expect, it } from "vitest";
import { duration, format, LANGS, setLang, t } from "../src/i18n";
import en from "../src/messages/en.json";

describe("message catalogues", () => {
  it("every language has exactly the English keys, each with the same placeholders", () => {
    const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const l of LANGS) {
      expect(Object.keys(l.messages).sort(), l.code).toEqual(Object.keys(en).sort());
      for (const [k, v] of Object.entries(en)) {
        expect(placeholders(l.messages[k as keyof typeof en]), `${l.code} ${k}`).toEqual(placeholders(v));
      }
    }
  });

  it("Arabic turns the page right to left", () => {
    setLang("ar");
    expect(document.documentElement.dir).toBe("rtl");
    expect(t("desk.title")).toBe("الإنذارات");
    setLang("en");
    expect(document.documentElement.dir).toBe("ltr");
  });

  it("fills placeholders and formats durations", () => {
    expect(format("{a} and {b}", { a: 1 })).toBe("1 and {b}");
    expect(duration(45)).toBe("45 s");
    expect(duration(250)).toBe("4 min 10 s");
    expect(duration(7500)).toBe("2 h 5 min");
  });
});
