// Live tracks drawn by a MapLibre custom layer: one vertex per track in a WebGL buffer, a point
// sprite whose shape tells the class (disc person, square vehicle, triangle animal, diamond
// unknown) and whose colour repeats it. Thousands of tracks updating every second go straight to
// the GPU on the next frame, instead of through the map's GeoJSON tiling in its worker (which
// took ~0.5 s per update of 5,000 tracks with software rendering; BENCHMARKS.md).

import type { CustomLayerInterface, CustomRenderMethodInput, Map as MlMap } from "maplibre-gl";
import { CLASS_COLOUR, OKABE_ITO } from "../palette";
import type { Picture } from "../picture";
import { trackClass } from "../picture";

/** Class codes in the vertex data. */
export const CLASS_CODE = { person: 0, vehicle: 1, animal: 2, unknown: 3 } as const;
/** Floats per track: mercator x, y (relative to the origin), class, coasting. */
export const STRIDE = 4;

const VERTEX = `#version 300 es
uniform mat4 u_matrix;
uniform float u_size;
in vec2 a_pos;
in float a_cls;
in float a_coast;
out float v_cls;
out float v_coast;
void main() {
  gl_Position = u_matrix * vec4(a_pos, 0.0, 1.0);
  gl_PointSize = u_size;
  v_cls = a_cls;
  v_coast = a_coast;
}`;

const FRAGMENT = `#version 300 es
precision mediump float;
uniform vec3 u_colours[4];
in float v_cls;
in float v_coast;
out vec4 o;
void main() {
  vec2 p = gl_PointCoord * 2.0 - 1.0;
  int c = int(v_cls + 0.5);
  float d;
  if (c == 0) {
    d = length(p) * 1.15;
  } else if (c == 1) {
    d = max(abs(p.x), abs(p.y)) * 1.3;
  } else if (c == 2) {
    // Triangle, apex up: inside when below the top edges and above the base.
    float half_w = (p.y + 0.85) * 0.55;
    d = max(p.y / 0.7, abs(p.x) / max(half_w, 0.001));
    if (p.y < -0.85) d = 2.0;
  } else {
    d = (abs(p.x) + abs(p.y)) * 1.05;
  }
  if (d > 1.0) discard;
  vec3 col = u_colours[c];
  float edge = smoothstep(0.72, 0.86, d);
  o = vec4(mix(col, vec3(0.0), edge), v_coast > 0.5 ? 0.55 : 1.0);
}`;

const TRAIL_VERTEX = `#version 300 es
uniform mat4 u_matrix;
in vec2 a_pos;
void main() {
  gl_Position = u_matrix * vec4(a_pos, 0.0, 1.0);
}`;

const TRAIL_FRAGMENT = `#version 300 es
precision mediump float;
out vec4 o;
void main() {
  o = vec4(0.78, 0.83, 0.87, 0.45);
}`;

function rgb(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1), 16);
  return [((n >> 16) & 255) / 255, ((n >> 8) & 255) / 255, (n & 255) / 255];
}

/** Web-mercator x, y in 0..1 of a longitude and latitude (float64). */
export function mercator(lon: number, lat: number): [number, number] {
  const s = Math.sin((Math.max(-85.05, Math.min(85.05, lat)) * Math.PI) / 180);
  return [(lon + 180) / 360, 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)];
}

/** Packs the picture's tracks into vertex data around `origin` (mercator); returns the count. */
export function pack(p: Picture, origin: [number, number], out: Float32Array | null): { data: Float32Array; n: number } {
  const n = p.tracks.size;
  const data = out && out.length >= n * STRIDE ? out : new Float32Array(Math.max(1024, n * 2) * STRIDE);
  let i = 0;
  for (const t of p.tracks.values()) {
    const [x, y] = mercator(t.lon, t.lat);
    data[i++] = x - origin[0];
    data[i++] = y - origin[1];
    data[i++] = CLASS_CODE[trackClass(t)];
    data[i++] = t.status === "coasting" ? 1 : 0;
  }
  return { data, n };
}

/** Packs the tracks' trails as line segments (two vertices of x, y each) around `origin`. */
export function packTrails(p: Picture, origin: [number, number], out: Float32Array | null): { data: Float32Array; n: number } {
  let segs = 0;
  for (const t of p.tracks.values()) segs += Math.max(0, t.trail.length - 1);
  const need = segs * 4;
  const data = out && out.length >= need ? out : new Float32Array(Math.max(4096, need * 2));
  let i = 0;
  for (const t of p.tracks.values()) {
    let prev: [number, number] | null = null;
    for (const q of t.trail) {
      const m = mercator(q[0], q[1]);
      const cur: [number, number] = [m[0] - origin[0], m[1] - origin[1]];
      if (prev) {
        data[i++] = prev[0];
        data[i++] = prev[1];
        data[i++] = cur[0];
        data[i++] = cur[1];
      }
      prev = cur;
    }
  }
  return { data, n: segs * 2 };
}

/** The layer. `set` hands it new vertex data; the next frame draws it and calls `onDrawn`. */
export class TrackLayer implements CustomLayerInterface {
  readonly id = "tracks-gl";
  readonly type = "custom" as const;
  readonly renderingMode = "2d" as const;
  private program: WebGLProgram | null = null;
  private vao: WebGLVertexArrayObject | null = null;
  private buffer: WebGLBuffer | null = null;
  private loc: { matrix: WebGLUniformLocation | null; size: WebGLUniformLocation | null; colours: WebGLUniformLocation | null } = {
    matrix: null,
    size: null,
    colours: null,
  };
  private trail: { program: WebGLProgram | null; vao: WebGLVertexArrayObject | null; buffer: WebGLBuffer | null; matrix: WebGLUniformLocation | null } = {
    program: null,
    vao: null,
    buffer: null,
    matrix: null,
  };
  private trailData: Float32Array = new Float32Array(0);
  private trailN = 0;
  private trailUpload = false;
  private data: Float32Array = new Float32Array(0);
  private n = 0;
  private upload = false;
  private map: MlMap | null = null;
  visible = true;
  /** Called after a frame drew newly set data (with its `set` time). */
  onDrawn: (() => void) | null = null;
  private drawnPending = false;

  constructor(readonly origin: [number, number]) {}

  onAdd(map: MlMap, gl: WebGL2RenderingContext): void {
    this.map = map;
    const shader = (type: number, src: string) => {
      const s = gl.createShader(type);
      if (!s) throw new Error("no shader");
      gl.shaderSource(s, src);
      gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(`track shader: ${gl.getShaderInfoLog(s)}`);
      return s;
    };
    const link = (vs: string, fs: string) => {
      const prog = gl.createProgram();
      if (!prog) throw new Error("no program");
      gl.attachShader(prog, shader(gl.VERTEX_SHADER, vs));
      gl.attachShader(prog, shader(gl.FRAGMENT_SHADER, fs));
      gl.linkProgram(prog);
      if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(`track program: ${gl.getProgramInfoLog(prog)}`);
      return prog;
    };
    const tp = link(TRAIL_VERTEX, TRAIL_FRAGMENT);
    this.trail = { program: tp, vao: gl.createVertexArray(), buffer: gl.createBuffer(), matrix: gl.getUniformLocation(tp, "u_matrix") };
    gl.bindVertexArray(this.trail.vao);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.trail.buffer);
    const tl = gl.getAttribLocation(tp, "a_pos");
    gl.enableVertexAttribArray(tl);
    gl.vertexAttribPointer(tl, 2, gl.FLOAT, false, 8, 0);
    gl.bindVertexArray(null);
    const prog = link(VERTEX, FRAGMENT);
    this.program = prog;
    this.loc = {
      matrix: gl.getUniformLocation(prog, "u_matrix"),
      size: gl.getUniformLocation(prog, "u_size"),
      colours: gl.getUniformLocation(prog, "u_colours[0]"),
    };
    this.buffer = gl.createBuffer();
    this.vao = gl.createVertexArray();
    gl.bindVertexArray(this.vao);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffer);
    const attr = (name: string, size: number, offset: number) => {
      const l = gl.getAttribLocation(prog, name);
      if (l < 0) return;
      gl.enableVertexAttribArray(l);
      gl.vertexAttribPointer(l, size, gl.FLOAT, false, STRIDE * 4, offset * 4);
    };
    attr("a_pos", 2, 0);
    attr("a_cls", 1, 2);
    attr("a_coast", 1, 3);
    gl.bindVertexArray(null);
  }

  /** New vertex data for the next frame. */
  set(data: Float32Array, n: number): void {
    this.data = data;
    this.n = n;
    this.upload = true;
    this.drawnPending = true;
    this.map?.triggerRepaint();
  }

  /** New trail segments (drawn from the next frame on). */
  setTrails(data: Float32Array, n: number): void {
    this.trailData = data;
    this.trailN = n;
    this.trailUpload = true;
  }

  /** Tracks handed to the GPU. */
  get count(): number {
    return this.n;
  }

  render(gl: WebGL2RenderingContext, options: CustomRenderMethodInput): void {
    if (!this.program || !this.vao) return;
    if (this.upload) {
      gl.bindBuffer(gl.ARRAY_BUFFER, this.buffer);
      gl.bufferData(gl.ARRAY_BUFFER, this.data.subarray(0, this.n * STRIDE), gl.DYNAMIC_DRAW);
      this.upload = false;
    }
    if (this.trailUpload && this.trail.buffer) {
      gl.bindBuffer(gl.ARRAY_BUFFER, this.trail.buffer);
      gl.bufferData(gl.ARRAY_BUFFER, this.trailData.subarray(0, this.trailN * 2), gl.DYNAMIC_DRAW);
      this.trailUpload = false;
    }
    // The map's matrix takes mercator 0..1; the data is relative to the origin (float32 keeps
    // centimetres that way), so translate by the origin in float64 first.
    const m = options.defaultProjectionData.mainMatrix;
    const [ox, oy] = this.origin;
    const t = new Float32Array(16);
    for (let i = 0; i < 16; i++) t[i] = m[i];
    for (let r = 0; r < 4; r++) t[12 + r] = m[r] * ox + m[4 + r] * oy + m[12 + r];
    if (this.visible && this.trailN > 0 && this.trail.program) {
      gl.useProgram(this.trail.program);
      gl.uniformMatrix4fv(this.trail.matrix, false, t);
      gl.enable(gl.BLEND);
      gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
      gl.bindVertexArray(this.trail.vao);
      gl.drawArrays(gl.LINES, 0, this.trailN);
      gl.bindVertexArray(null);
    }
    if (this.visible && this.n > 0) {
      const zoom = this.map?.getZoom() ?? 8;
      const size = Math.min(18, Math.max(7, 3 + zoom)) * (window.devicePixelRatio || 1);
      gl.useProgram(this.program);
      gl.uniformMatrix4fv(this.loc.matrix, false, t);
      gl.uniform1f(this.loc.size, size);
      const cols = ["person", "vehicle", "animal", "unknown"].flatMap((c) => rgb(CLASS_COLOUR[c] ?? OKABE_ITO.grey));
      gl.uniform3fv(this.loc.colours, new Float32Array(cols));
      gl.enable(gl.BLEND);
      gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
      gl.bindVertexArray(this.vao);
      gl.drawArrays(gl.POINTS, 0, this.n);
      gl.bindVertexArray(null);
    }
    if (this.drawnPending) {
      this.drawnPending = false;
      this.onDrawn?.();
    }
  }

  onRemove(_map: MlMap, gl: WebGL2RenderingContext): void {
    if (this.buffer) gl.deleteBuffer(this.buffer);
    if (this.trail.buffer) gl.deleteBuffer(this.trail.buffer);
    if (this.trail.vao) gl.deleteVertexArray(this.trail.vao);
    if (this.trail.program) gl.deleteProgram(this.trail.program);
    if (this.vao) gl.deleteVertexArray(this.vao);
    if (this.program) gl.deleteProgram(this.program);
  }
}
