/**
 * Ground-truth-based metrics (methods spec 7.1-7.4) on host arrays, in float64: pointing game,
 * energy-based pointing game, Bbox and top-20% IoU. A ground-truth mask is a Uint8Array of the
 * map's size (row-major, non-zero = inside); {@link boxesToMask} builds one from boxes.
 */
import { InputError } from '../../runtime/errors.js';
import { saliencyOrder, topCount, valuesOf, type MapLike } from './order.js';

/** An annotation box in pixel coordinates, both corners inclusive (ImageNet / PASCAL VOC XML). */
export interface Box { xmin: number; ymin: number; xmax: number; ymax: number }

/**
 * The union of boxes as a [height, width] mask. `origin` is the coordinate of the first pixel:
 * 0 (default) or 1 (VOC/ImageNet XML files count from 1; TorchRay subtracts 1). Boxes are clipped
 * to the image; an empty or inverted box adds nothing.
 */
export function boxesToMask(boxes: readonly Box[], width: number, height: number, opts: { origin?: 0 | 1 } = {}): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new InputError(`mask size must be positive integers, got ${width}×${height}`);
  const o = opts.origin ?? 0;
  const m = new Uint8Array(width * height);
  for (const b of boxes) {
    const x0 = Math.max(0, Math.ceil(b.xmin - o)), x1 = Math.min(width - 1, Math.floor(b.xmax - o));
    const y0 = Math.max(0, Math.ceil(b.ymin - o)), y1 = Math.min(height - 1, Math.floor(b.ymax - o));
    for (let y = y0; y <= y1; y++) m.fill(1, y * width + x0, x1 >= x0 ? y * width + x1 + 1 : y * width + x0);
  }
  return m;
}

function check(v: ArrayLike<number>, mask: ArrayLike<number>): void {
  if (v.length !== mask.length) throw new InputError(`the map has ${v.length} pixels, the ground-truth mask ${mask.length}`);
}

function widthOf(map: MapLike, width?: number): number {
  const w = 'width' in map && 'data' in map ? map.width : width;
  if (w === undefined || !Number.isInteger(w) || w < 1) throw new InputError('the map width is needed (pass a SaliencyMap or the width)');
  return w;
}

/**
 * Pointing-game point: the arg-max pixel, first in row-major order on ties (spec 7.1).
 * Returns [x, y].
 */
export function pointOf(map: MapLike, width?: number): [number, number] {
  const v = valuesOf(map);
  const w = widthOf(map, width);
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return [best % w, Math.floor(best / w)];
}

/**
 * One pointing-game trial (spec 7.1, TorchRay): hit iff a ground-truth pixel lies at squared
 * Euclidean distance strictly below tolerance² from the arg-max pixel. Default tolerance 15 px.
 */
export function pointingHit(map: MapLike, mask: ArrayLike<number>, opts: { tolerance?: number; width?: number } = {}): boolean {
  const v = valuesOf(map);
  check(v, mask);
  const w = widthOf(map, opts.width);
  const t = opts.tolerance ?? 15;
  const [px, py] = pointOf(map, w);
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    const dx = (i % w) - px, dy = Math.floor(i / w) - py;
    if (dx * dx + dy * dy < t * t) return true;
  }
  return false;
}

/** One image–class pair of a ground-truth evaluation. */
export interface GroundTruthPair {
  /** Class (any key); the pointing game averages per class. */
  classId: number | string;
  map: MapLike;
  mask: ArrayLike<number>;
  /** Map width when `map` is a flat array. */
  width?: number;
}

/** Pointing game hits and accuracy over a set of maps. */
export interface PointingGameResult {
  perClass: Map<number | string, { hits: number; misses: number; accuracy: number }>;
  /** Mean of the per-class accuracies (spec 7.1: over classes, not pairs), in [0, 1]. */
  mean: number;
}

/**
 * The pointing game over image–class pairs (spec 7.1): per-class accuracy hits/(hits + misses),
 * then their mean. Pairs to skip (VOC all-difficult) are the caller's to leave out.
 */
export function pointingGame(pairs: readonly GroundTruthPair[], opts: { tolerance?: number } = {}): PointingGameResult {
  const perClass = new Map<number | string, { hits: number; misses: number; accuracy: number }>();
  for (const p of pairs) {
    const r = perClass.get(p.classId) ?? { hits: 0, misses: 0, accuracy: 0 };
    if (pointingHit(p.map, p.mask, { tolerance: opts.tolerance, width: p.width })) r.hits++; else r.misses++;
    r.accuracy = r.hits / (r.hits + r.misses);
    perClass.set(p.classId, r);
  }
  let s = 0;
  for (const r of perClass.values()) s += r.accuracy;
  return { perClass, mean: perClass.size ? s / perClass.size : NaN };
}

/**
 * Energy-based pointing game (spec 7.2): Σ S·G / Σ S, in [0, 1]. [P] S is min-max normalised first
 * (spec 7 common rules; the ratio does not depend on ε, only on the shift to min 0); a constant
 * map scores 0.
 */
export function energyPointingGame(map: MapLike, mask: ArrayLike<number>): number {
  const v = valuesOf(map);
  check(v, mask);
  let lo = Infinity;
  for (let i = 0; i < v.length; i++) lo = Math.min(lo, v[i]!);
  let inside = 0, total = 0;
  for (let i = 0; i < v.length; i++) {
    const e = v[i]! - lo;
    total += e;
    if (mask[i]) inside += e;
  }
  return total > 0 ? inside / total : 0;
}

/**
 * Bbox metric (spec 7.3): with n ground-truth pixels, the fraction of the n most salient pixels
 * (stable order on (−value, index) [P], exactly n) inside the mask. Throws on an empty mask.
 */
export function bboxScore(map: MapLike, mask: ArrayLike<number>): number {
  const v = valuesOf(map);
  check(v, mask);
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) n++;
  if (n === 0) throw new InputError('Bbox needs a non-empty ground-truth mask');
  const order = saliencyOrder(v);
  let hit = 0;
  for (let k = 0; k < n; k++) if (mask[order[k]!]) hit++;
  return hit / n;
}

/**
 * IoU of the top fraction of pixels with the mask (spec 7.4, SISE's mIoU per pair): B = the
 * ⌈fraction·P⌉ most salient pixels (stable order [P]), IoU = |B ∩ G| / |B ∪ G|. Default 0.2.
 */
export function topFractionIoU(map: MapLike, mask: ArrayLike<number>, fraction = 0.2): number {
  const v = valuesOf(map);
  check(v, mask);
  const k = topCount(fraction, v.length);
  const order = saliencyOrder(v);
  let g = 0, inter = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) g++;
  for (let j = 0; j < k; j++) if (mask[order[j]!]) inter++;
  const union = k + g - inter;
  return union > 0 ? inter / union : 0;
}

/** Means of the ground-truth metrics (pointing game, energy, Bbox, IoU) over a set of maps. */
export interface GroundTruthSummary {
  /** Means over pairs, in percent (spec 7.2-7.4). */
  ebpg: number;
  bbox: number;
  miou: number;
  /** Pointing game (spec 7.1), class-mean, in percent. */
  pointing: number;
  pairs: number;
}

/** EBPG, Bbox, top-20% mIoU and the pointing game over image–class pairs, in percent. */
export function groundTruthMetrics(pairs: readonly GroundTruthPair[], opts: { tolerance?: number; iouFraction?: number } = {}): GroundTruthSummary {
  if (pairs.length === 0) throw new InputError('no image–class pairs to evaluate');
  let e = 0, b = 0, m = 0;
  for (const p of pairs) { e += energyPointingGame(p.map, p.mask); b += bboxScore(p.map, p.mask); m += topFractionIoU(p.map, p.mask, opts.iouFraction); }
  const K = pairs.length;
  return { ebpg: (100 * e) / K, bbox: (100 * b) / K, miou: (100 * m) / K, pointing: 100 * pointingGame(pairs, opts).mean, pairs: K };
}
