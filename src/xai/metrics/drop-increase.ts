/**
 * Drop % and Increase % (Grad-CAM++; SISE's variant; methods spec 7.5) on the GPU, batched over
 * images: Y_i = Ψ_c(x_i), O_i = Ψ_c(x_i ⊙ E_i + b ⊙ (1 − E_i)).
 */
import type { Model } from '../../runtime/model.js';
import { InputError } from '../../runtime/errors.js';
import { SOFT_ROW } from '../../kernels/metrics.js';
import { PerturbationRunner, type PerturbRow, type PlaneSpec, type RunnerOptions } from './perturbed.js';
import { minMaxNormalise, saliencyRanks, topCount } from './order.js';
import { baselinePlane, chunks, mapValues, type MetricItem } from './common.js';

/**
 * 'top': SISE's form, E = binary mask of the top 15% pixels (⌈0.15·H·W⌉, stable order [P]).
 * 'soft': the original Grad-CAM++ form, E = the min-max normalised map (spec 0.3, ε = 1e-6).
 */
export type DropIncreaseForm = 'top' | 'soft';

/** Options of Drop % / Increase % (methods spec 7.5): the form and the score used. */
export interface DropIncreaseOptions extends RunnerOptions {
  /** Forms to compute (default both; the unmasked pass Y is shared). */
  forms?: readonly DropIncreaseForm[];
  /** Fraction kept by the 'top' form (default 0.15). */
  topFraction?: number;
  /**
   * Masking baseline b [P] (spec 0.3): default zeros of the normalised tensor; C values or a full
   * [C, H, W] tensor otherwise (record which).
   */
  baseline?: readonly number[] | Float32Array;
  /** Images whose planes are on the GPU at once (default 32). */
  imagesPerChunk?: number;
}

/** Drop % and Increase % over a set of maps. */
export interface DropIncreaseSummary {
  form: DropIncreaseForm;
  /** Ψ_c on the masked inputs, per image. */
  O: Float32Array;
  /** (100/K) Σ max(0, Y − O)/Y. */
  drop: number;
  /** (100/K) Σ 1[O > Y]: percentage of images whose score rose. */
  increase: number;
}

/** Drop % and Increase % of one map. */
export interface DropIncreaseResult {
  /** Class evaluated per image. */
  classIndices: number[];
  /** Ψ_c on the unmasked inputs, per image. */
  Y: Float32Array;
  top?: DropIncreaseSummary;
  soft?: DropIncreaseSummary;
}

/** Drop % and Increase % from per-image scores (float64). */
export function dropIncreaseFromScores(Y: ArrayLike<number>, O: ArrayLike<number>): { drop: number; increase: number } {
  if (Y.length !== O.length || Y.length === 0) throw new InputError('Y and O must be non-empty and of equal length');
  let d = 0, inc = 0;
  for (let i = 0; i < Y.length; i++) {
    d += Math.max(0, Y[i]! - O[i]!) / Y[i]!;
    if (O[i]! > Y[i]!) inc++;
  }
  return { drop: (100 * d) / Y.length, increase: (100 * inc) / Y.length };
}

/**
 * Drop % and Increase % over images (spec 7.5). Ψ_c: softmax probability by default (the formulas
 * divide by Y, so Ψ should be positive); c: the image's top-1 class unless given.
 */
export async function dropIncrease(model: Model, items: readonly MetricItem[], opts: DropIncreaseOptions = {}): Promise<DropIncreaseResult> {
  if (items.length === 0) throw new InputError('no images to evaluate');
  const forms = opts.forms ?? ['top', 'soft'];
  if (forms.length === 0 || forms.some((f) => f !== 'top' && f !== 'soft')) throw new InputError(`forms must list 'top' and/or 'soft', got [${forms}]`);
  const doTop = forms.includes('top'), doSoft = forms.includes('soft');
  const runner = new PerturbationRunner(model, opts);
  try {
    const P = runner.pixels, C = runner.channels;
    const keep = topCount(opts.topFraction ?? 0.15, P);
    const base = baselinePlane(opts.baseline, C, P);
    const classIndices: number[] = [];
    const Y: number[] = [], Otop: number[] = [], Osoft: number[] = [];
    for (const chunk of chunks(items, opts.imagesPerChunk ?? 32)) {
      // Planes: baseline, then the images. Fields per image: ranks ('top'), normalised map ('soft').
      runner.setPlanes([base, ...chunk.map((it): PlaneSpec => ({ data: it.image }))]);
      const fields: (Uint32Array | Float32Array)[] = [];
      const rankField: number[] = [], softField: number[] = [];
      for (const it of chunk) {
        const v = mapValues(it.map, runner.height, runner.width);
        rankField.push(fields.length); fields.push(saliencyRanks(v));
        if (doSoft) { softField.push(fields.length); fields.push(Float32Array.from(minMaxNormalise(v))); }
      }
      runner.setFields(fields);
      const missing = chunk.map((it, i) => (it.classIndex === undefined ? i : -1)).filter((i) => i >= 0);
      const top = missing.length ? await runner.topClasses(missing.map((i) => i + 1)) : [];
      const classes = chunk.map((it) => it.classIndex ?? -1);
      missing.forEach((i, k) => { classes[i] = top[k]!; });
      const rows: PerturbRow[] = [];
      chunk.forEach((_, i) => {
        const classIndex = classes[i]!;
        if (!Number.isInteger(classIndex) || classIndex < 0) throw new InputError(`class ${classIndex} is not a valid class index`);
        const x = i + 1;
        rows.push({ from: x, to: x, field: rankField[i]!, threshold: 0, classIndex });
        if (doTop) rows.push({ from: 0, to: x, field: rankField[i]!, threshold: keep, classIndex });
        if (doSoft) rows.push({ from: 0, to: x, field: softField[i]!, threshold: SOFT_ROW, classIndex });
      });
      const s = await runner.score(rows);
      const per = 1 + (doTop ? 1 : 0) + (doSoft ? 1 : 0);
      chunk.forEach((_, i) => {
        classIndices.push(classes[i]!);
        Y.push(s[i * per]!);
        if (doTop) Otop.push(s[i * per + 1]!);
        if (doSoft) Osoft.push(s[i * per + per - 1]!);
      });
    }
    const y = Float32Array.from(Y);
    const summary = (form: DropIncreaseForm, o: number[]): DropIncreaseSummary => ({ form, O: Float32Array.from(o), ...dropIncreaseFromScores(y, o) });
    return { classIndices, Y: y, ...(doTop ? { top: summary('top', Otop) } : {}), ...(doSoft ? { soft: summary('soft', Osoft) } : {}) };
  } finally {
    runner.destroy();
  }
}
