import { describe, expect, it } from "vitest";
import { checkPath, headersFor } from "../src/api";

describe("requests", () => {
  it("carry the CSRF token on every change and never on reads", () => {
    expect(headersFor("POST", "tok")["X-CSRF-Token"]).toBe("tok");
    expect(headersFor("DELETE", "tok")["X-CSRF-Token"]).toBe("tok");
    expect(headersFor("GET", "tok")["X-CSRF-Token"]).toBeUndefined();
  });

  it("go only to this origin's API", () => {
    expect(checkPath("/api/v1/alerts")).toBe("/api/v1/alerts");
    expect(() => checkPath("https://example.org/api/v1/alerts")).toThrow();
    expect(() => checkPath("//example.org/api/v1/x")).toThrow();
    expect(() => checkPath("/api/v1/../../etc")).toThrow();
  });
});
