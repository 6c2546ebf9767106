// Layer toggles; a layer the organisation is not released is shown disabled, saying so.

import { t } from "../i18n";
import { LAYER_IDS, layers, released, type LayerId } from "../state";

const LABEL: Record<LayerId, Parameters<typeof t>[0]> = {
  frontier: "layer.frontier",
  fence: "layer.fence",
  facilities: "layer.facilities",
  sensors: "layer.sensors",
  fov: "layer.fov",
  gaps: "layer.gaps",
  units: "layer.units",
  tracks: "layer.tracks",
  alerts: "layer.alerts",
};

export function LayerPanel() {
  const on = layers.value;
  const rel = released.value;
  return (
    <details class="layers" open={window.innerWidth > 1100}>
      <summary>{t("layers.title")}</summary>
      {LAYER_IDS.map((id) => (
        <label class={rel[id] ? "" : "disabled"} title={rel[id] ? "" : t("layer.notReleased")}>
          <input
            type="checkbox"
            data-layer={id}
            checked={on[id] && rel[id]}
            disabled={!rel[id]}
            onChange={(e) => (layers.value = { ...on, [id]: (e.target as HTMLInputElement).checked })}
          />
          {t(LABEL[id])}
          {rel[id] ? null : <small> ({t("layer.notReleased")})</small>}
        </label>
      ))}
    </details>
  );
}
