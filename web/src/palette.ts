// Colours: the Okabe–Ito palette (distinguishable with the common colour-vision deficiencies),
// always paired with a second cue (shape, ring width, text) so colour is never the only signal.

export const OKABE_ITO = {
  orange: "#E69F00",
  sky: "#56B4E9",
  green: "#009E73",
  yellow: "#F0E442",
  blue: "#0072B2",
  vermillion: "#D55E00",
  purple: "#CC79A7",
  grey: "#BBBBBB",
} as const;

export const SEVERITY_COLOUR: Record<string, string> = {
  critical: OKABE_ITO.vermillion,
  high: OKABE_ITO.orange,
  medium: OKABE_ITO.yellow,
  low: OKABE_ITO.sky,
};

export const FACILITY_COLOUR: Record<string, string> = {
  secure: OKABE_ITO.green,
  threatened: OKABE_ITO.yellow,
  abandoned: OKABE_ITO.purple,
  breached: OKABE_ITO.vermillion,
};

export const CLASS_COLOUR: Record<string, string> = {
  person: OKABE_ITO.orange,
  vehicle: OKABE_ITO.sky,
  animal: OKABE_ITO.green,
  unknown: OKABE_ITO.grey,
};

export const BASE = {
  background: "#0b1117",
  land: "#151e27",
  border: "#4a5c6e",
  frontier: "#F0E442",
  road: "#5d6b78",
  sensorOk: OKABE_ITO.sky,
  sensorSilent: OKABE_ITO.vermillion,
  unit: OKABE_ITO.purple,
  highlight: "#ffffff",
} as const;
