/** Host helpers shared by the metrics: the saliency pixel order, top-k masks, min-max. */
import { InputError } from '../../runtime/errors.js';
import type { SaliencyMap } from '../explanation.js';

/** The values of a map (a SaliencyMap or a flat row-major array). */
export type MapLike = SaliencyMap | ArrayLike<number>;

export function valuesOf(map: MapLike): ArrayLike<number> {
  return 'data' in map && 'width' in map ? map.data : map;
}

function checkFinite(v: ArrayLike<number>): void {
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) throw new InputError(`saliency map value ${i} is ${v[i]}; maps must be finite`);
}

/**
 * Pixel indices by decreasing saliency. [P] spec 7.6: a stable sort on (−value, index), i.e. ties
 * in row-major order (RISE reverses numpy's argsort, which orders ties differently).
 */
export function saliencyOrder(map: MapLike): Uint32Array {
  const v = valuesOf(map);
  checkFinite(v);
  const order = Uint32Array.from({ length: v.length }, (_, i) => i);
  order.sort((a, b) => (v[b]! - v[a]!) || (a - b));
  return order;
}

/** rank[p] = position of pixel p in {@link saliencyOrder} (0 = most salient). */
export function saliencyRanks(map: MapLike): Uint32Array {
  const order = saliencyOrder(map);
  const rank = new Uint32Array(order.length);
  order.forEach((p, k) => { rank[p] = k; });
  return rank;
}

/**
 * The number of pixels in the "top fraction" of P pixels: ⌈fraction·P⌉ [P], with a 1e-9 slack so
 * that products like 0.15·P that are integers in exact arithmetic are not rounded up by float error.
 */
export function topCount(fraction: number, pixels: number): number {
  if (!(fraction >= 0 && fraction <= 1)) throw new InputError(`fraction must be in [0, 1], got ${fraction}`);
  return Math.min(pixels, Math.ceil(fraction * pixels - 1e-9));
}

/** Binary mask of the `count` most salient pixels (stable order, exactly `count` ones). */
export function topMask(map: MapLike, count: number): Uint8Array {
  const order = saliencyOrder(map);
  const m = new Uint8Array(order.length);
  for (let k = 0; k < Math.min(count, order.length); k++) m[order[k]!] = 1;
  return m;
}

/**
 * Min-max normalisation of spec 0.3, N(v) = (v − min)/(max − min + ε), ε = 1e-6, in float64;
 * a constant map becomes all zeros.
 */
export function minMaxNormalise(map: MapLike, eps = 1e-6): Float64Array {
  const v = valuesOf(map);
  checkFinite(v);
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < v.length; i++) { lo = Math.min(lo, v[i]!); hi = Math.max(hi, v[i]!); }
  const out = new Float64Array(v.length);
  if (!(hi > lo)) return out;
  for (let i = 0; i < v.length; i++) out[i] = (v[i]! - lo) / (hi - lo + eps);
  return out;
}
