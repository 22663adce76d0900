/** Pieces shared by the GPU metrics: input items, baselines, chunking. */
import { InputError } from '../../runtime/errors.js';
import type { PlaneSpec } from './perturbed.js';
import { valuesOf, type MapLike } from './order.js';

/** One image to evaluate with its saliency map. */
export interface MetricItem {
  /** The preprocessed model input [1, C, H, W] (what the explanation was computed on). */
  image: Float32Array;
  /** The saliency map at model-input resolution (H·W values, row-major). */
  map: MapLike;
  /** Class to evaluate; default the model's top-1 class on `image` (spec 7 common rules). */
  classIndex?: number;
}

/**
 * The masking baseline as a plane: default zeros of the normalised tensor (spec 0.3 [P]: the
 * dataset mean colour, as the PyTorch references); C values (one per channel, e.g. pixel-space
 * black after normalisation) or a full [C, H, W] tensor (blurred image, any image).
 */
export function baselinePlane(b: readonly number[] | Float32Array | undefined, channels: number, pixels: number): PlaneSpec {
  if (b === undefined) return { perChannel: new Float32Array(channels) };
  if (b.length === channels) return { perChannel: b };
  if (b.length === channels * pixels) return { data: Float32Array.from(b) };
  throw new InputError(`a baseline needs ${channels} values (per channel) or ${channels * pixels} (a [${channels}, H, W] tensor), got ${b.length}`);
}

/** The map's values after checking it has the model input's size. */
export function mapValues(map: MapLike, height: number, width: number): ArrayLike<number> {
  const v = valuesOf(map);
  const dims = 'width' in map && 'data' in map ? [map.height, map.width] : undefined;
  if (v.length !== height * width || (dims && (dims[0] !== height || dims[1] !== width))) {
    throw new InputError(`a saliency map is ${dims ? `${dims[0]}×${dims[1]}` : `${v.length} pixels`}; the model input needs ${height}×${width} (resize it bilinearly first)`);
  }
  return v;
}

/** Consecutive slices of at most `size` items. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new InputError(`imagesPerChunk must be a positive integer, got ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
