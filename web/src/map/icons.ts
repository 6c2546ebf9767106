// Map symbols drawn on a canvas at start-up (no sprite sheet to fetch): one shape per track class,
// so the class reads without colour too, and a hatch pattern for coverage gaps.

import { CLASS_COLOUR, OKABE_ITO } from "../palette";

type Draw = (c: CanvasRenderingContext2D, s: number) => void;

const SHAPES: Record<string, Draw> = {
  // Person: a disc.
  person: (c, s) => {
    c.beginPath();
    c.arc(s / 2, s / 2, s * 0.32, 0, 2 * Math.PI);
  },
  // Vehicle: a square.
  vehicle: (c, s) => {
    c.beginPath();
    c.rect(s * 0.2, s * 0.2, s * 0.6, s * 0.6);
  },
  // Animal: a triangle.
  animal: (c, s) => {
    c.beginPath();
    c.moveTo(s / 2, s * 0.14);
    c.lineTo(s * 0.86, s * 0.8);
    c.lineTo(s * 0.14, s * 0.8);
    c.closePath();
  },
  // Unknown: a diamond.
  unknown: (c, s) => {
    c.beginPath();
    c.moveTo(s / 2, s * 0.12);
    c.lineTo(s * 0.88, s / 2);
    c.lineTo(s / 2, s * 0.88);
    c.lineTo(s * 0.12, s / 2);
    c.closePath();
  },
};

/** An icon as image data for `map.addImage`. */
function image(size: number, draw: (c: CanvasRenderingContext2D) => void): ImageData | null {
  const canvas = document.createElement("canvas");
  canvas.width = size;
  canvas.height = size;
  const c = canvas.getContext("2d");
  if (!c) return null;
  draw(c);
  return c.getImageData(0, 0, size, size);
}

/** The track icons, `trk-person`, `trk-vehicle`, `trk-animal`, `trk-unknown`. */
export function trackIcons(size = 20): [string, ImageData][] {
  const out: [string, ImageData][] = [];
  for (const [cls, shape] of Object.entries(SHAPES)) {
    const img = image(size, (c) => {
      shape(c, size);
      c.fillStyle = CLASS_COLOUR[cls];
      c.fill();
      c.lineWidth = 2;
      c.strokeStyle = "#000000";
      c.stroke();
    });
    if (img) out.push([`trk-${cls}`, img]);
  }
  return out;
}

/** Diagonal hatching for coverage gaps. */
export function hatch(size = 12): ImageData | null {
  return image(size, (c) => {
    c.strokeStyle = OKABE_ITO.vermillion;
    c.lineWidth = 2;
    c.beginPath();
    c.moveTo(0, size);
    c.lineTo(size, 0);
    c.moveTo(-size / 2, size / 2);
    c.lineTo(size / 2, -size / 2);
    c.moveTo(size / 2, size * 1.5);
    c.lineTo(size * 1.5, size / 2);
    c.stroke();
  });
}
