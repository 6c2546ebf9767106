// Sign-in: user name and password, refusals shown as the server words them.

import { useState } from "preact/hooks";
import { api, ApiError, setCsrf } from "../api";
import { LANGS, lang, setLang, t } from "../i18n";
import { session, signInReason } from "../state";

export function SignIn(props: { onSignedIn: () => void }) {
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      const s = await api.signIn(user.trim(), password);
      setCsrf(s.csrf);
      setPassword("");
      signInReason.value = "";
      session.value = s;
      props.onSignedIn();
    } catch (err) {
      if (err instanceof ApiError && err.status === 429 && err.retryAfterS) setError(t("signin.locked", { s: err.retryAfterS }));
      else setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="signin">
      <form class="signin-box" onSubmit={submit}>
        <h1>{t("app.title")}</h1>
        <label class="lang-pick">
          <select value={lang.value} onChange={(e) => setLang((e.target as HTMLSelectElement).value)}>
            {LANGS.map((l) => (
              <option value={l.code}>{l.messages["lang.name"]}</option>
            ))}
          </select>
        </label>
        <h2>{t("signin.title")}</h2>
        {signInReason.value ? <p class="notice">{signInReason.value}</p> : null}
        <label>
          {t("signin.user")}
          <input name="user" autocomplete="username" value={user} onInput={(e) => setUser((e.target as HTMLInputElement).value)} required />
        </label>
        <label>
          {t("signin.password")}
          <input
            name="password"
            type="password"
            autocomplete="current-password"
            value={password}
            onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
            required
          />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? t("signin.busy") : t("signin.submit")}
        </button>
        {error ? (
          <p class="error" role="alert" data-testid="signin-error">
            {error}
          </p>
        ) : null}
      </form>
    </div>
  );
}
