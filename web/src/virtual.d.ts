declare module "virtual:basemap" {
  import type { FeatureCollection, MultiPolygon, Point, Position } from "geojson";
  /** The region drawn, [west, south, east, north]. */
  export const bbox: [number, number, number, number];
  /** Natural Earth countries that overlap the region. */
  export const countries: FeatureCollection<MultiPolygon, { id: string; name: string }>;
  /** A label point per country. */
  export const countryLabels: FeatureCollection<Point, { id: string; name: string }>;
  /** The project's places (camps), approximate. */
  export const places: { id: string; name: string; at: Position }[];
}
