// The page: sign-in until a session exists, then the map, the side panels and the time bar.

import { useEffect } from "preact/hooks";
import { api, ApiError, setCsrf } from "../api";
import { serverClock } from "../clock";
import { t } from "../i18n";
import { alertsTick, facilitiesTick, live, mode, panel, playback, session, sessionChecked, signedOut, site } from "../state";
import { openStream, stopAll } from "../stream";
import { AlertDesk } from "./AlertDesk";
import { Banner } from "./Banner";
import { FacilityPanel } from "./FacilityPanel";
import { Header } from "./Header";
import { HealthPanel } from "./HealthPanel";
import { LayerPanel } from "./LayerPanel";
import { MapView } from "./MapView";
import { SignIn } from "./SignIn";
import { TimeBar } from "./TimeBar";

/** Loads what a signed-in page needs, then opens the stream. */
export async function start(): Promise<void> {
  const [g, c] = await Promise.all([api.site(), api.clock()]);
  serverClock.set(c);
  site.value = g;
  openStream();
}

/** Ends the session on the server and locally. */
export async function signOut(): Promise<void> {
  stopAll();
  try {
    await api.signOut();
  } catch {
    // Already ended: the same outcome.
  }
  setCsrf("");
  signedOut("");
}

/** Re-renders panels when the picture on screen changes (at most once per frame). */
function useTicks(): void {
  useEffect(() => {
    let raf = 0;
    let seen = { a: -1, f: -1, pic: null as unknown };
    const loop = () => {
      const p = mode.value === "live" ? live : playback.picture;
      if (p !== seen.pic) seen = { a: -1, f: -1, pic: p };
      if (p.versions.alerts !== seen.a) {
        seen.a = p.versions.alerts;
        alertsTick.value++;
      }
      if (p.versions.facilities !== seen.f) {
        seen.f = p.versions.facilities;
        facilitiesTick.value++;
      }
      raf = requestAnimationFrame(loop);
    };
    raf = requestAnimationFrame(loop);
    return () => cancelAnimationFrame(raf);
  }, []);
}

export function App() {
  useEffect(() => {
    api.session().then(
      (s) => {
        setCsrf(s.csrf);
        session.value = s;
        sessionChecked.value = true;
        void start().catch((e) => console.error(e));
      },
      (e) => {
        if (!(e instanceof ApiError && e.status === 401)) console.error(e);
        sessionChecked.value = true;
      },
    );
  }, []);
  useTicks();
  if (!sessionChecked.value) return <div class="loading">{t("app.title")}</div>;
  if (!session.value) return <SignIn onSignedIn={() => void start()} />;
  return (
    <div class="app">
      <Header onSignOut={() => void signOut()} />
      <Banner />
      <main class="body">
        <section class="map-area" aria-label={t("map.label")}>
          {site.value ? <MapView /> : null}
          <LayerPanel />
        </section>
        <aside class="side">
          <nav class="tabs" role="tablist">
            {(["desk", "facility", "health"] as const).map((p) => (
              <button
                role="tab"
                aria-selected={panel.value === p}
                class={panel.value === p ? "tab active" : "tab"}
                data-panel={p}
                onClick={() => (panel.value = p)}
              >
                {t(`panel.${p}`)}
              </button>
            ))}
          </nav>
          <div class="panel-body">
            {panel.value === "desk" ? <AlertDesk /> : panel.value === "facility" ? <FacilityPanel /> : <HealthPanel />}
          </div>
        </aside>
      </main>
      <TimeBar />
    </div>
  );
}
