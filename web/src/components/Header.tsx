// The top bar: site, who is signed in, connection, language, alarm mute, sign-out.

import { LANGS, lang, setLang, t, tKey } from "../i18n";
import { conn, muted, session, setMute, site } from "../state";

export function Header(props: { onSignOut: () => void }) {
  const s = session.value;
  const c = conn.value;
  return (
    <header class="top">
      <strong class="brand">{t("app.title")}</strong>
      <span class="site-name">{site.value?.name ?? ""}</span>
      <span class={`conn conn-${c}`} data-conn={c}>
        {c === "live" ? t("conn.live") : c === "connecting" ? t("conn.connecting") : c === "lagged" ? t("conn.lagged", { n: "" }) : t("conn.lost")}
      </span>
      <span class="spacer" />
      {s ? (
        <span class="who" data-testid="who">
          {t("who", { user: s.user, org: s.org_name, role: tKey("role", s.role) })}
        </span>
      ) : null}
      <select aria-label="language" value={lang.value} onChange={(e) => setLang((e.target as HTMLSelectElement).value)}>
        {LANGS.map((l) => (
          <option value={l.code}>{l.messages["lang.name"]}</option>
        ))}
      </select>
      <button class={muted.value ? "mute on" : "mute"} aria-pressed={muted.value} onClick={() => setMute(!muted.value)}>
        {muted.value ? t("unmute") : t("mute")}
      </button>
      <button onClick={props.onSignOut}>{t("signout")}</button>
    </header>
  );
}
