/**
 * Deletion and insertion (RISE "causal metrics", methods spec 7.6) on the GPU, batched across
 * steps and images.
 */
import type { Model } from '../../runtime/model.js';
import { InputError } from '../../runtime/errors.js';
import { riseBlurKernel } from '../../kernels/metrics.js';
import { PerturbationRunner, type PerturbRow, type PlaneSpec, type RunnerOptions } from './perturbed.js';
import { saliencyRanks, type MapLike } from './order.js';
import { baselinePlane, chunks, mapValues, type MetricItem } from './common.js';

/** Which causal metric: deleting the most salient pixels first, or inserting them into a blurred image. */
export type CausalMetric = 'deletion' | 'insertion';

/** Options of the deletion/insertion metrics (RISE, methods spec 7.6). */
export interface CausalOptions extends RunnerOptions {
  /** Pixels changed per step (spec 7.6: 224, one row of a 224² image). */
  step?: number;
  /** Curves to compute; default both. Both curves of an image share its batches. */
  metrics?: readonly CausalMetric[];
  /**
   * Deletion substrate: default zeros of the normalised tensor (RISE's `zeros_like`); C values or a
   * full [C, H, W] tensor otherwise.
   */
  baseline?: readonly number[] | Float32Array;
  /** Insertion substrate blur: RISE's `gkern(size, sigma)` (default 11, 5), zero padding size/2. */
  blur?: { size?: number; sigma?: number };
  /** Images whose planes are on the GPU at once (bounds memory; default 8). */
  imagesPerChunk?: number;
}

/** One deletion or insertion curve: the class score at each step and its area. */
export interface CausalCurve {
  /** Ψ_c after 0, 1, ..., n steps (n = ⌈H·W/step⌉, n + 1 values). */
  scores: Float32Array;
  auc: number;
}

/** Deletion and insertion curves and areas of one map. */
export interface CausalResult {
  classIndex: number;
  deletion?: CausalCurve;
  insertion?: CausalCurve;
}

/** Trapezoid area under a curve sampled at n + 1 evenly spaced points of [0, 1]: (Σ s_i − s_0/2 − s_n/2)/n. */
export function causalAuc(scores: ArrayLike<number>): number {
  const n = scores.length - 1;
  if (n < 1) throw new InputError('a causal curve needs at least two points');
  let s = 0;
  for (let i = 0; i <= n; i++) s += scores[i]!;
  return (s - scores[0]! / 2 - scores[n]! / 2) / n;
}

/** Deletion/insertion of one image; see {@link deletionInsertionBatch}. */
export async function deletionInsertion(model: Model, image: Float32Array, map: MapLike, opts: CausalOptions & { classIndex?: number } = {}): Promise<CausalResult> {
  const [r] = await deletionInsertionBatch(model, [{ image, map, classIndex: opts.classIndex }], opts);
  return r!;
}

/**
 * Deletion and insertion curves and AUCs (spec 7.6) for several images, their steps sharing
 * forward-pass batches. Pixel order: stable sort on (−value, index) [P] (RISE reverses numpy's
 * argsort); pixel p is changed after s steps iff its rank < s·step. Deletion starts from the image
 * and moves to the substrate (default zeros in normalised space); insertion starts from RISE's
 * blurred image (computed on the GPU) and moves to the image. Ψ_c is the softmax probability by
 * default (a model ending in Softmax is read as is); c defaults to the top-1 class of the image.
 */
export async function deletionInsertionBatch(model: Model, items: readonly MetricItem[], opts: CausalOptions = {}): Promise<CausalResult[]> {
  const metrics = opts.metrics ?? ['deletion', 'insertion'];
  if (metrics.length === 0 || metrics.some((m) => m !== 'deletion' && m !== 'insertion')) throw new InputError(`metrics must list 'deletion' and/or 'insertion', got [${metrics}]`);
  const doDel = metrics.includes('deletion'), doIns = metrics.includes('insertion');
  const runner = new PerturbationRunner(model, opts);
  try {
    const P = runner.pixels, C = runner.channels;
    const step = opts.step ?? 224;
    if (!Number.isInteger(step) || step < 1) throw new InputError(`step must be a positive integer, got ${step}`);
    const n = Math.ceil(P / step);
    const kernel = doIns ? riseBlurKernel(opts.blur?.size ?? 11, opts.blur?.sigma ?? 5) : undefined;
    const base = doDel ? baselinePlane(opts.baseline, C, P) : undefined;
    const results: CausalResult[] = [];
    for (const chunk of chunks(items, opts.imagesPerChunk ?? 8)) {
      // Planes: [baseline], then per image: x, [blur(x)].
      const planes: PlaneSpec[] = base ? [base] : [];
      const xIdx: number[] = [], blurIdx: number[] = [];
      for (const it of chunk) {
        xIdx.push(planes.length);
        planes.push({ data: it.image });
        if (kernel) { blurIdx.push(planes.length); planes.push({ blurOf: planes.length - 1, kernel }); }
      }
      runner.setPlanes(planes);
      runner.setFields(chunk.map((it) => saliencyRanks(mapValues(it.map, runner.height, runner.width))));
      const missing = chunk.map((it, i) => (it.classIndex === undefined ? i : -1)).filter((i) => i >= 0);
      const top = missing.length ? await runner.topClasses(missing.map((i) => xIdx[i]!)) : [];
      const classes = chunk.map((it) => it.classIndex ?? -1);
      missing.forEach((i, k) => { classes[i] = top[k]!; });
      const rows: PerturbRow[] = [];
      chunk.forEach((_, i) => {
        const classIndex = classes[i]!;
        if (!Number.isInteger(classIndex) || classIndex < 0) throw new InputError(`class ${classIndex} is not a valid class index`);
        for (let s = 0; s <= n; s++) {
          const threshold = Math.min(s * step, P);
          if (doDel) rows.push({ from: xIdx[i]!, to: 0, field: i, threshold, classIndex });
          if (doIns) rows.push({ from: blurIdx[i]!, to: xIdx[i]!, field: i, threshold, classIndex });
        }
      });
      const scores = await runner.score(rows);
      const per = (doDel ? 1 : 0) + (doIns ? 1 : 0);
      chunk.forEach((_, i) => {
        const curve = (offset: number): CausalCurve => {
          const s = Float32Array.from({ length: n + 1 }, (_, k) => scores[(i * (n + 1) + k) * per + offset]!);
          return { scores: s, auc: causalAuc(s) };
        };
        results.push({ classIndex: classes[i]!, ...(doDel ? { deletion: curve(0) } : {}), ...(doIns ? { insertion: curve(doDel ? 1 : 0) } : {}) });
      });
    }
    return results;
  } finally {
    runner.destroy();
  }
}
