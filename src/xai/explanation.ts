/**
 * The one result type every explanation method returns, and mapping a map back onto the original
 * image (undoing resize and centre crop).
 */
import type { ImageTransform } from './preprocess.js';
import type { ScoreMode } from '../kernels/score.js';

/** A single-channel map, row-major. */
export interface SaliencyMap { width: number; height: number; data: Float32Array }

/** One layer's map in a multi-layer method (SISE's per-block maps). */
export interface LayerMap {
  /** The tensor the layer map came from. */
  layer: string;
  map: SaliencyMap;
  /** Feature maps used as masks (SISE family). */
  masks?: number;
}

/** What every method returns: the explained class and score, the [0, 1] map, passes and timings. */
export interface Explanation {
  method: string;
  /** The class explained and its score Ψ_c on the unperturbed input. */
  classIndex: number;
  score: number;
  scoreMode: ScoreMode;
  /** The saliency map at model-input resolution, in [0, 1] unless the method documents otherwise. */
  map: SaliencyMap;
  /** The same map on the original image's pixel grid (present when the input came from an image). */
  original?: SaliencyMap;
  /** Per-layer maps where the method has them (SISE, Ada-SISE). */
  layers?: LayerMap[];
  forwardPasses: number;
  backwardPasses: number;
  /** Milliseconds per phase, in the order they ran. */
  timings: Record<string, number>;
  /** The parameters the method ran with (after defaults), for reproducibility. */
  params: Record<string, unknown>;
}

/**
 * Resamples a model-input map onto the original image: each original pixel's centre is mapped
 * through the resize (scale) and crop, then sampled bilinearly; pixels outside the crop get 0.
 */
export function mapToOriginal(map: SaliencyMap, t: ImageTransform): SaliencyMap {
  const { sourceWidth: W, sourceHeight: H } = t;
  const out = new Float32Array(W * H);
  const sx = map.width / t.size, sy = map.height / t.size;
  for (let y = 0; y < H; y++) {
    const ry = (y + 0.5) * t.scale - t.cropY;
    if (ry < 0 || ry > t.size) continue;
    const my = Math.min(Math.max(ry * sy - 0.5, 0), map.height - 1);
    const y0 = Math.floor(my), y1 = Math.min(y0 + 1, map.height - 1), ay = my - y0;
    for (let x = 0; x < W; x++) {
      const rx = (x + 0.5) * t.scale - t.cropX;
      if (rx < 0 || rx > t.size) continue;
      const mx = Math.min(Math.max(rx * sx - 0.5, 0), map.width - 1);
      const x0 = Math.floor(mx), x1 = Math.min(x0 + 1, map.width - 1), ax = mx - x0;
      const v = (r: number, c: number) => map.data[r * map.width + c]!;
      out[y * W + x] = (v(y0, x0) * (1 - ax) + v(y0, x1) * ax) * (1 - ay) + (v(y1, x0) * (1 - ax) + v(y1, x1) * ax) * ay;
    }
  }
  return { width: W, height: H, data: out };
}
