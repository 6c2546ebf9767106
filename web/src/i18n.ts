// Messages: one catalogue per language (src/messages/<lang>.json); English is the reference and
// every other catalogue has exactly its keys (a unit test checks). Adding a language is adding a
// file and a line to LANGS.

import { signal } from "@preact/signals";
import ar from "./messages/ar.json";
import en from "./messages/en.json";

export type MessageKey = keyof typeof en;
export type Catalogue = Record<MessageKey, string>;

/** The shipped languages, with their writing direction. */
export const LANGS: { code: string; dir: "ltr" | "rtl"; messages: Catalogue }[] = [
  { code: "en", dir: "ltr", messages: en },
  { code: "ar", dir: "rtl", messages: ar as Catalogue },
];

function initial(): string {
  try {
    const saved = localStorage.getItem("limes.lang");
    if (saved && LANGS.some((l) => l.code === saved)) return saved;
  } catch {
    // Storage may be unavailable; English then.
  }
  return "en";
}

/** The current language code; components re-render when it changes. */
export const lang = signal<string>(initial());

/** Switches language and the document's direction. */
export function setLang(code: string): void {
  const l = LANGS.find((x) => x.code === code) ?? LANGS[0];
  lang.value = l.code;
  document.documentElement.lang = l.code;
  document.documentElement.dir = l.dir;
  try {
    localStorage.setItem("limes.lang", l.code);
  } catch {
    // Not persisted; fine.
  }
}

/** Fills `{name}` placeholders; unknown placeholders stay as they are. */
export function format(template: string, vars?: Record<string, string | number>): string {
  if (!vars) return template;
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in vars ? String(vars[k]) : m));
}

/** The message `key` in the current language (English when a catalogue lacks it). */
export function t(key: MessageKey, vars?: Record<string, string | number>): string {
  const l = LANGS.find((x) => x.code === lang.value) ?? LANGS[0];
  return format(l.messages[key] ?? en[key] ?? key, vars);
}

/** A message key built at run time (alert kinds, statuses), if the catalogue has it. */
export function tKey(prefix: string, value: string): string {
  const key = `${prefix}.${value}`;
  return key in en ? t(key as MessageKey) : value;
}

/** Numbers in the current language's digits. */
export function num(n: number, digits = 0): string {
  return new Intl.NumberFormat(lang.value, { maximumFractionDigits: digits }).format(n);
}

/** A duration in seconds, for people: "45 s", "4 min 10 s", "2 h 5 min". */
export function duration(s: number): string {
  if (!Number.isFinite(s)) return t("ddr.none");
  const neg = s < 0;
  s = Math.round(Math.abs(s));
  let out: string;
  if (s < 60) out = t("dur.s", { s: num(s) });
  else if (s < 3600) out = t("dur.ms", { m: num(Math.floor(s / 60)), s: num(s % 60) });
  else out = t("dur.hm", { h: num(Math.floor(s / 3600)), m: num(Math.floor((s % 3600) / 60)) });
  return neg ? `−${out}` : out;
}

/** A clock time (UTC) of seconds since the epoch, `HH:MM:SS`. */
export function clockTime(s: number): string {
  if (!Number.isFinite(s)) return "–";
  return new Intl.DateTimeFormat(lang.value, {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
    timeZone: "UTC",
  }).format(new Date(s * 1000)) + " UTC";
}
