/**
 * Superpixels shared by LIME and E-LIME (methods spec 5.2 step 1, 6.7): the segmentation (given
 * labels, or quickshift on an RGB view of the image) and the fill of hidden superpixels. Host-side:
 * it runs once per explanation and its time is reported by the caller.
 */
import { quickshift, type QuickshiftOptions } from './quickshift.js';
import { InputError } from '../runtime/errors.js';

/** Options LIME and E-LIME share. */
export interface SuperpixelOptions {
  /** Quickshift settings (LIME's defaults: kernelSize 4, maxDist 200, ratio 0.2). */
  segmentation?: QuickshiftOptions;
  /**
   * RGB in [0,1], H*W*3 interleaved, at model-input resolution, used only for segmentation.
   * explainImage supplies it; without it the input tensor is min-max scaled per channel and read as
   * R,G,B.
   */
  segmentationImage?: Float32Array;
  /** Caller-supplied superpixel labels (0..K-1, H*W), skipping quickshift. */
  segments?: Int32Array;
  /**
   * Fill of hidden superpixels [P]: 'mean' (LIME's hide_color=None: each superpixel's own mean
   * colour, default) or 'baseline' (the per-channel baseline option, zeros = dataset mean in
   * normalised space).
   */
  hide?: 'mean' | 'baseline';
}

/**
 * The RGB image quickshift segments: `given` when supplied (checked), else the model input
 * [C, H, W] min-max scaled per channel to [0,1] (normalisation is per-channel affine, so this
 * recovers the pixel image up to each channel's range). One channel is repeated as grey; only the
 * first three of more channels are used.
 */
export function segmentationRgb(image: Float32Array, channels: number, height: number, width: number, given?: Float32Array): Float32Array {
  const P = height * width;
  if (given) {
    if (given.length !== P * 3) throw new InputError(`segmentationImage needs ${P * 3} values (${width}×${height} RGB), got ${given.length}`);
    if (!given.every((v) => Number.isFinite(v))) throw new InputError('segmentationImage contains NaN or infinite values');
    return given;
  }
  const out = new Float32Array(P * 3);
  for (let k = 0; k < 3; k++) {
    const c = Math.min(k, channels - 1);
    const src = image.subarray(c * P, (c + 1) * P);
    let lo = Infinity, hi = -Infinity;
    for (const v of src) { if (v < lo) lo = v; if (v > hi) hi = v; }
    const scale = hi > lo ? 1 / (hi - lo) : 0;
    for (let p = 0; p < P; p++) out[3 * p + k] = (src[p]! - lo) * scale;
  }
  return out;
}

/** Mean of each superpixel per channel in the model's input space: [K, C] row-major. */
export function segmentMeans(image: Float32Array, channels: number, labels: Int32Array, segments: number): Float32Array {
  const P = labels.length;
  const sum = new Float64Array(segments * channels);
  const count = new Float64Array(segments);
  for (let p = 0; p < P; p++) count[labels[p]!]!++;
  for (let c = 0; c < channels; c++) {
    for (let p = 0; p < P; p++) sum[labels[p]! * channels + c]! += image[c * P + p]!;
  }
  const out = new Float32Array(segments * channels);
  for (let k = 0; k < segments; k++) {
    for (let c = 0; c < channels; c++) out[k * channels + c] = count[k]! > 0 ? sum[k * channels + c]! / count[k]! : 0;
  }
  return out;
}

/**
 * Resolves segmentation (given labels or quickshift), timing it; returns labels, K and the [K, C]
 * fill for hidden superpixels.
 */
export function superpixelsFor(image: Float32Array, channels: number, height: number, width: number,
  opts: SuperpixelOptions & { baseline?: readonly number[] | Float32Array }): { labels: Int32Array; segments: number; fill: Float32Array; ms: number } {
  const t0 = performance.now();
  const P = height * width;
  const hide = opts.hide ?? 'mean';
  if (hide !== 'mean' && hide !== 'baseline') throw new InputError(`hide must be 'mean' or 'baseline', got '${String(hide)}'`);
  let labels: Int32Array, segments: number;
  if (opts.segments) {
    labels = opts.segments;
    if (labels.length !== P) throw new InputError(`segments needs ${P} labels (${width}×${height}), got ${labels.length}`);
    let max = -1;
    for (const l of labels) {
      if (l < 0) throw new InputError(`segment labels must be ≥ 0, got ${l}`);
      if (l > max) max = l;
    }
    segments = max + 1;
    const seen = new Uint8Array(segments);
    for (const l of labels) seen[l] = 1;
    if (seen.includes(0)) throw new InputError(`segment labels must be 0..K−1 with every label used (label ${seen.indexOf(0)} is missing)`);
  } else {
    const rgb = segmentationRgb(image, channels, height, width, opts.segmentationImage);
    try {
      ({ labels, segments } = quickshift(rgb, width, height, opts.segmentation));
    } catch (e) {
      throw e instanceof RangeError ? new InputError(e.message) : e;
    }
  }
  let fill: Float32Array;
  if (hide === 'mean') {
    fill = segmentMeans(image, channels, labels, segments);
  } else {
    const b = opts.baseline ?? new Float32Array(channels);
    if (b.length !== channels) throw new InputError(`baseline needs ${channels} values (one per channel), got ${b.length}`);
    fill = new Float32Array(segments * channels);
    for (let k = 0; k < segments; k++) for (let c = 0; c < channels; c++) fill[k * channels + c] = b[c]!;
  }
  return { labels, segments, fill, ms: performance.now() - t0 };
}

/** A per-pixel map painting superpixel j with values[j]. */
export function paintSegments(labels: Int32Array, values: ArrayLike<number>): Float32Array {
  const out = new Float32Array(labels.length);
  for (let p = 0; p < labels.length; p++) out[p] = values[labels[p]!]!;
  return out;
}
