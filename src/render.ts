/**
 * Pictures and arrays for people: a saliency map blended over the photo in a colour map (viridis,
 * turbo, jet, gray) with a colour bar, a side-by-side grid with titles, a tiny bitmap font, and
 * float32 .npy files. What the CLI writes and the web page draws. No dependencies beyond RGBA
 * buffers, no DOM, no Node (PNG encoding is image-io.ts's job, in the Node entry).
 */
import type { RgbaImage } from './xai/preprocess.js';
import type { SaliencyMap } from './xai/explanation.js';

// ---------------------------------------------------------------- colour map

/**
 * matplotlib's viridis (van der Walt & Smith, CC0) sampled at 0, 0.1, ..., 1: the published
 * 11-stop table (also d3's and R viridisLite's `viridis(11)`); linear interpolation in between.
 */
const VIRIDIS_HEX = ['440154', '482475', '414487', '355f8d', '2a788e', '21918c', '22a884', '44bf70', '7ad151', 'bddf26', 'fde725'];
const VIRIDIS: [number, number, number][] = VIRIDIS_HEX.map((h) => [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)]);

/** Viridis colour of v (clamped to [0, 1]; NaN counts as 0), as 0..255 RGB. */
export function viridis(v: number): [number, number, number] {
  const t = Number.isFinite(v) ? Math.min(Math.max(v, 0), 1) : 0;
  const x = t * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const a = x - i;
  const c0 = VIRIDIS[i]!, c1 = VIRIDIS[i + 1]!;
  return [0, 1, 2].map((k) => Math.round(c0[k]! + (c1[k]! - c0[k]!) * a)) as [number, number, number];
}

/** Colour maps for saliency: perceptually uniform (viridis), rainbow-like (turbo, jet) and gray. */
export type ColormapName = 'viridis' | 'turbo' | 'jet' | 'gray';

const clamp01 = (v: number) => (Number.isFinite(v) ? Math.min(Math.max(v, 0), 1) : 0);
const byte = (v: number) => Math.round(clamp01(v) * 255);

/**
 * Turbo (Anton Mikhailov, Google, 2019), by Google's published degree-5 polynomial approximation of
 * each channel (Ruofei Du, Apache-2.0). It departs from the 256-entry table most at the dark end
 * (blue at 0: 0.11 against the table's 0.23).
 */
export function turbo(v: number): [number, number, number] {
  const t = clamp01(v);
  const poly = (c: number[]) => c.reduceRight((acc, k) => acc * t + k, 0);
  return [
    byte(poly([0.13572138, 4.6153926, -42.66032258, 132.13108234, -152.94239396, 59.28637943])),
    byte(poly([0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604])),
    byte(poly([0.1066733, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973])),
  ];
}

/** MATLAB's jet: blue, cyan, yellow, red, each channel a clipped triangle. */
export function jet(v: number): [number, number, number] {
  const t = clamp01(v);
  return [byte(1.5 - Math.abs(4 * t - 3)), byte(1.5 - Math.abs(4 * t - 2)), byte(1.5 - Math.abs(4 * t - 1))];
}

/** Black (0) to white (1). */
export function gray(v: number): [number, number, number] {
  const g = byte(v);
  return [g, g, g];
}

/** The RGB (0..255) of a value in [0, 1] (clamped; NaN counts as 0) in the named colour map. */
export function colormap(name: ColormapName): (v: number) => [number, number, number] {
  const f = { viridis, turbo, jet, gray }[name];
  if (!f) throw new RangeError(`unknown colour map '${name}' (known: viridis, turbo, jet, gray)`);
  return f;
}

// ---------------------------------------------------------------- bitmap font

/** 5x7 glyphs: 7 rows of 5 cells ('#' = ink), rows separated by spaces. Lower case is drawn as upper case. */
const GLYPHS: Record<string, string[]> = Object.fromEntries(Object.entries({
  '0': '.###. #...# #..## #.#.# ##..# #...# .###.', '1': '..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.',
  '2': '.###. #...# ....# ...#. ..#.. .#... #####', '3': '##### ...#. ..#.. ...#. ....# #...# .###.',
  '4': '...#. ..##. .#.#. #..#. ##### ...#. ...#.', '5': '##### #.... ####. ....# ....# #...# .###.',
  '6': '..##. .#... #.... ####. #...# #...# .###.', '7': '##### ....# ...#. ..#.. .#... .#... .#...',
  '8': '.###. #...# #...# .###. #...# #...# .###.', '9': '.###. #...# #...# .#### ....# ...#. .##..',
  A: '.###. #...# #...# ##### #...# #...# #...#', B: '####. #...# #...# ####. #...# #...# ####.',
  C: '.###. #...# #.... #.... #.... #...# .###.', D: '###.. #..#. #...# #...# #...# #..#. ###..',
  E: '##### #.... #.... ####. #.... #.... #####', F: '##### #.... #.... ####. #.... #.... #....',
  G: '.###. #...# #.... #.### #...# #...# .####', H: '#...# #...# #...# ##### #...# #...# #...#',
  I: '.###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.', J: '..### ...#. ...#. ...#. ...#. #..#. .##..',
  K: '#...# #..#. #.#.. ##... #.#.. #..#. #...#', L: '#.... #.... #.... #.... #.... #.... #####',
  M: '#...# ##.## #.#.# #.#.# #...# #...# #...#', N: '#...# #...# ##..# #.#.# #..## #...# #...#',
  O: '.###. #...# #...# #...# #...# #...# .###.', P: '####. #...# #...# ####. #.... #.... #....',
  Q: '.###. #...# #...# #...# #.#.# #..#. .##.#', R: '####. #...# #...# ####. #.#.. #..#. #...#',
  S: '.#### #.... #.... .###. ....# ....# ####.', T: '##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..',
  U: '#...# #...# #...# #...# #...# #...# .###.', V: '#...# #...# #...# #...# #...# .#.#. ..#..',
  W: '#...# #...# #...# #.#.# #.#.# #.#.# .#.#.', X: '#...# #...# .#.#. ..#.. .#.#. #...# #...#',
  Y: '#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..', Z: '##### ....# ...#. ..#.. .#... #.... #####',
  '-': '..... ..... ..... .###. ..... ..... .....', '+': '..... ..#.. ..#.. ##### ..#.. ..#.. .....',
  '.': '..... ..... ..... ..... ..... .##.. .##..', '_': '..... ..... ..... ..... ..... ..... #####',
  ' ': '..... ..... ..... ..... ..... ..... .....', '?': '.###. #...# ....# ...#. ..#.. ..... ..#..',
}).map(([k, v]) => [k, v.split(' ')]));

/** Glyph width of the bitmap font, in pixels at scale 1. */
export const GLYPH_W = 5;
/** Glyph height of the bitmap font, in pixels at scale 1. */
export const GLYPH_H = 7;

/** Width in pixels of `text` at `scale` (one blank column between glyphs). */
export function textWidth(text: string, scale: number): number {
  return text.length ? (text.length * (GLYPH_W + 1) - 1) * scale : 0;
}

/** Draws `text` with its top-left corner at (x, y); pixels outside the image are clipped. */
export function drawText(img: RgbaImage, text: string, x: number, y: number, scale: number, rgb: readonly [number, number, number]): void {
  let cx = x;
  for (const ch of text.toUpperCase()) {
    const g = GLYPHS[ch] ?? GLYPHS['?']!;
    for (let r = 0; r < GLYPH_H; r++) for (let c = 0; c < GLYPH_W; c++) {
      if (g[r]![c] !== '#') continue;
      fillRect(img, cx + c * scale, y + r * scale, scale, scale, rgb);
    }
    cx += (GLYPH_W + 1) * scale;
  }
}

function fillRect(img: RgbaImage, x: number, y: number, w: number, h: number, rgb: readonly [number, number, number]): void {
  for (let yy = Math.max(0, y); yy < Math.min(img.height, y + h); yy++) {
    for (let xx = Math.max(0, x); xx < Math.min(img.width, x + w); xx++) {
      const o = (yy * img.width + xx) * 4;
      img.data[o] = rgb[0]; img.data[o + 1] = rgb[1]; img.data[o + 2] = rgb[2]; img.data[o + 3] = 255;
    }
  }
}

function blank(width: number, height: number, rgb: readonly [number, number, number] = [255, 255, 255]): RgbaImage {
  const img: RgbaImage = { width, height, data: new Uint8ClampedArray(width * height * 4) };
  fillRect(img, 0, 0, width, height, rgb);
  return img;
}

function blit(dst: RgbaImage, src: RgbaImage, x: number, y: number): void {
  for (let r = 0; r < src.height; r++) {
    const yy = y + r;
    if (yy < 0 || yy >= dst.height) continue;
    for (let c = 0; c < src.width; c++) {
      const xx = x + c;
      if (xx < 0 || xx >= dst.width) continue;
      const s = (r * src.width + c) * 4, d = (yy * dst.width + xx) * 4;
      for (let k = 0; k < 4; k++) dst.data[d + k] = src.data[s + k]!;
    }
  }
}

// ---------------------------------------------------------------- overlay and colour bar

/** Glyph scale for an image `height` pixels tall: 1 up to 223 px, 2 from 224, then +1 per 112 px. */
export function fontScale(height: number): number {
  return Math.max(1, Math.floor(height / 112));
}

/**
 * Width of the colour bar panel appended to the right of an overlay `height` pixels tall:
 * 20 × fontScale(height) (gap 2, bar 8, gap 2, digit 5, margin 3, in font units). 40 px for 224.
 */
export function colorbarWidth(height: number): number {
  return 20 * fontScale(height);
}

/** Heat opacity over the photo. */
export const OVERLAY_ALPHA = 0.5;

/**
 * The map's colours blended over the photo (alpha composited onto white first), same size as the
 * photo. The map must be on the photo's pixel grid (Explanation.original).
 */
export function heatmapOverlay(photo: RgbaImage, map: SaliencyMap, alpha = OVERLAY_ALPHA, cmap: ColormapName = 'viridis'): RgbaImage {
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`opacity must be in [0, 1], got ${alpha}`);
  const colour = colormap(cmap);
  if (map.width !== photo.width || map.height !== photo.height) {
    throw new RangeError(`map ${map.width}x${map.height} does not match the image ${photo.width}x${photo.height}`);
  }
  const out = blank(photo.width, photo.height);
  for (let i = 0; i < map.width * map.height; i++) {
    const a0 = photo.data[i * 4 + 3]! / 255;
    const [r, g, b] = colour(map.data[i]!);
    const heat = [r, g, b];
    for (let k = 0; k < 3; k++) {
      const p = photo.data[i * 4 + k]! * a0 + 255 * (1 - a0);
      out.data[i * 4 + k] = Math.round(p * (1 - alpha) + heat[k]! * alpha);
    }
    out.data[i * 4 + 3] = 255;
  }
  return out;
}

/** The vertical colour bar panel (1 at the top, 0 at the bottom), white background, black labels. */
export function colorbar(height: number, cmap: ColormapName = 'viridis'): RgbaImage {
  const colour = colormap(cmap);
  const s = fontScale(height);
  const panel = blank(colorbarWidth(height), height);
  const top = 4 * s, bottom = height - 4 * s; // bar rows [top, bottom)
  const barX = 2 * s, barW = 8 * s;
  const span = Math.max(1, bottom - top - 1);
  for (let y = top; y < bottom; y++) fillRect(panel, barX, y, barW, 1, colour(1 - (y - top) / span));
  const labelX = barX + barW + 2 * s;
  const half = Math.floor((GLYPH_H * s) / 2);
  drawText(panel, '1', labelX, Math.max(0, top - half), s, [0, 0, 0]);
  drawText(panel, '0', labelX, Math.min(height - GLYPH_H * s, bottom - 1 - half), s, [0, 0, 0]);
  return panel;
}

/** Overlay with the colour bar on its right: width = photo width + colorbarWidth(height). */
export function overlayWithColorbar(photo: RgbaImage, map: SaliencyMap, alpha = OVERLAY_ALPHA, cmap: ColormapName = 'viridis'): RgbaImage {
  const heat = heatmapOverlay(photo, map, alpha, cmap);
  const out = blank(photo.width + colorbarWidth(photo.height), photo.height);
  blit(out, heat, 0, 0);
  blit(out, colorbar(photo.height, cmap), photo.width, 0);
  return out;
}

/** How {@link overlay} draws. */
export interface OverlayOptions {
  /** Colour map of the heat (default 'viridis'). */
  colormap?: ColormapName;
  /** Opacity of the heat over the photo, 0..1 (default 0.5). */
  opacity?: number;
  /** Append a 0-1 colour bar on the right, colorbarWidth(height) pixels wide (default true). */
  colorbar?: boolean;
}

/**
 * A saliency map over its photo, as RGBA pixels ready for a canvas (`new ImageData(o.data, o.width)`)
 * or a PNG (`encodePng` in 'webgpu-xai/node'). The map must be on the photo's pixel grid: pass
 * `explanation.original` (explainImage fills it), not the model-resolution `explanation.map`.
 */
export function overlay(photo: RgbaImage, map: SaliencyMap, opts: OverlayOptions = {}): RgbaImage {
  const alpha = opts.opacity ?? OVERLAY_ALPHA, cmap = opts.colormap ?? 'viridis';
  return opts.colorbar === false ? heatmapOverlay(photo, map, alpha, cmap) : overlayWithColorbar(photo, map, alpha, cmap);
}

/**
 * Overlays side by side (each the photo's size), a title above each, one shared colour bar on the
 * right. Titles that do not fit their tile are drawn smaller, then clipped.
 */
export function overlayGrid(tiles: { title: string; image: RgbaImage }[]): RgbaImage {
  const W = tiles[0]!.image.width, H = tiles[0]!.image.height;
  const s = fontScale(H);
  const gap = 4 * s, titleH = GLYPH_H * s + 6 * s;
  const bar = colorbar(H);
  const out = blank(tiles.length * W + (tiles.length - 1) * gap + bar.width, titleH + H);
  tiles.forEach((t, i) => {
    const x = i * (W + gap);
    blit(out, t.image, x, titleH);
    let ts = s;
    while (ts > 1 && textWidth(t.title, ts) > W) ts--;
    drawText(out, t.title, x + Math.max(0, Math.floor((W - textWidth(t.title, ts)) / 2)), Math.floor((titleH - GLYPH_H * ts) / 2), ts, [0, 0, 0]);
  });
  blit(out, bar, out.width - bar.width, titleH);
  return out;
}

// ---------------------------------------------------------------- .npy

// The header is ASCII (shape digits and punctuation), so UTF-8 encoding writes the same bytes; no Node Buffer, the web page uses this too.
const ascii = new TextEncoder();

/**
 * A float32 array as NPY format version 1.0: magic, version, little-endian header length, the
 * header dict padded with spaces and ended by '\n' so the data starts at a multiple of 64 bytes.
 */
export function encodeNpyFloat32(data: Float32Array, shape: readonly number[]): Uint8Array {
  if (shape.reduce((a, b) => a * b, 1) !== data.length) throw new RangeError(`shape [${shape}] does not hold ${data.length} values`);
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const pre = 10; // magic (6) + version (2) + header length (2)
  const total = Math.ceil((pre + header.length + 1) / 64) * 64;
  header = header.padEnd(total - pre - 1, ' ') + '\n';
  const out = new Uint8Array(total + data.length * 4);
  out.set([0x93, ...ascii.encode('NUMPY'), 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(ascii.encode(header), pre);
  const dv = new DataView(out.buffer, total);
  for (let i = 0; i < data.length; i++) dv.setFloat32(i * 4, data[i]!, true);
  return out;
}

/** Parses what encodeNpyFloat32 writes (and any little-endian float32 C-order v1/v2 .npy). */
export function decodeNpyFloat32(bytes: Uint8Array): { shape: number[]; data: Float32Array; headerBytes: number } {
  if (bytes[0] !== 0x93 || new TextDecoder('latin1').decode(bytes.subarray(1, 6)) !== 'NUMPY') throw new Error('not an .npy file');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6]!;
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + hlen));
  if (!/'descr':\s*'<f4'/.test(header) || !/'fortran_order':\s*False/.test(header)) throw new Error(`unsupported .npy header ${header}`);
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '').split(',').map((x) => x.trim()).filter(Boolean).map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  const off = start + hlen;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = dv.getFloat32(off + i * 4, true);
  return { shape, data, headerBytes: off };
}
