// The map component: owns one MapController and passes it selections, layer toggles and new
// site geometry.

import { useEffect, useRef } from "preact/hooks";
import { MapController } from "../map/controller";
import {
  alertsTick,
  flyRequest,
  LAYER_IDS,
  layers,
  panel,
  selectedAlert,
  selectedFacility,
  shown,
  site,
} from "../state";

export function MapView() {
  const el = useRef<HTMLDivElement>(null);
  const ctl = useRef<MapController | null>(null);
  useEffect(() => {
    const s = site.value;
    if (!el.current || !s) return;
    const c = new MapController(el.current, s, shown, {
      selectAlert: (id) => {
        selectedAlert.value = id;
        panel.value = "desk";
      },
      selectFacility: (id) => {
        selectedFacility.value = id;
        panel.value = "facility";
      },
    });
    ctl.current = c;
    return () => {
      c.destroy();
      ctl.current = null;
    };
  }, []);
  // Site geometry updates (sensor health).
  const s = site.value;
  useEffect(() => {
    if (s) ctl.current?.setSite(s);
  }, [s]);
  // Layer toggles.
  const l = layers.value;
  useEffect(() => {
    for (const id of LAYER_IDS) ctl.current?.setLayer(id, l[id]);
  }, [l]);
  // Selection and its highlight.
  const sel = selectedAlert.value;
  void alertsTick.value;
  useEffect(() => {
    ctl.current?.select(sel === null ? null : (shown().alerts.get(sel) ?? null));
  }, [sel]);
  const fly = flyRequest.value;
  useEffect(() => {
    if (!fly) return;
    const a = shown().alerts.get(fly.alert);
    if (a) ctl.current?.flyTo(a);
  }, [fly]);
  return <div class="map" ref={el} data-testid="map" />;
}
