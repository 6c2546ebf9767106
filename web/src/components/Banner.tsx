// The banner for a new critical alert (with the alarm sounding until it is acknowledged or muted).

import { num, t, tKey } from "../i18n";
import { banner, dismissBanner, flyRequest, panel, selectedAlert } from "../state";

export function Banner() {
  const a = banner.value;
  if (!a) return null;
  const what = `${tKey("kind", a.kind)} · ${a.facility ?? a.sector ?? ""} · ${num(a.count)}`;
  return (
    <div class="banner" role="alert" data-alert-id={a.id}>
      <span class="banner-text">{t("banner.critical", { what })}</span>
      <button
        onClick={() => {
          selectedAlert.value = a.id;
          panel.value = "desk";
          flyRequest.value = { alert: a.id, n: (flyRequest.value?.n ?? 0) + 1 };
        }}
      >
        {t("banner.show")}
      </button>
      <button onClick={dismissBanner}>{t("banner.dismiss")}</button>
    </div>
  );
}
