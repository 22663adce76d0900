/**
 * LIME for images (Ribeiro, Singh, Guestrin, KDD 2016; methods spec 6.7; marcotcr/lime
 * `lime_image.py` + `lime_base.py`). The image is cut into superpixels (quickshift, LIME's
 * settings); N random bit vectors switch superpixels on and off (the first keeps all); each
 * perturbed image is made on the GPU from its bits (kernels/superpixel-mask.ts) straight into the
 * batched model input, the plan runs, Ψ_c is read on the GPU into one [N] buffer, read back once.
 * On the host: cosine distance of each bit vector to all-ones, kernel sqrt(exp(−d²/w²)) (w = 0.25),
 * LIME's feature selection, and a weighted Ridge(α = 1) on the bits (ridge.ts); the map paints each
 * superpixel with its coefficient.
 */
import type { Model } from '../runtime/model.js';
import type { ScoreMode } from '../kernels/score.js';
import type { KernelProgram } from '../kernels/types.js';
import { superpixelMaskedInputProgram } from '../kernels/superpixel-mask.js';
import { InputError } from '../runtime/errors.js';
import { ExplainSession, type CommonOptions } from './session.js';
import type { Explanation } from './explanation.js';
import { paintSegments, superpixelsFor, type SuperpixelOptions } from './superpixels.js';
import { quickshiftParams, type QuickshiftParams } from './quickshift.js';
import { ridgeFit, ridgePredict, ridgeScore, selectFeatures, type FeatureSelection } from './ridge.js';

/** LIME options: superpixels, samples, kernel width, ridge alpha, seed. */
export interface LimeOptions extends CommonOptions, SuperpixelOptions {
  /** Number of samples N, the all-ones sample included (LIME's num_samples). Default 1000. */
  samples?: number;
  /** Width of the exponential kernel on the cosine distance (lime_image's kernel_width). Default 0.25. */
  kernelWidth?: number;
  /** Penalty α of the local Ridge model. Default 1 (sklearn Ridge(alpha=1), LIME's model_regressor). */
  alpha?: number;
  /** How many superpixels the local model may use (LIME's num_features). Default 100000, i.e. all. */
  numFeatures?: number;
  /** LIME's feature_selection: 'auto' (default), 'none', 'highest_weights', 'forward_selection'. */
  featureSelection?: FeatureSelection;
  /** u32 seed of the random bit vectors; same seed, same map on the same device. Default 0. */
  seed?: number;
  /** Baseline per channel, used when `hide` is 'baseline' (spec 0.3); default zeros. */
  baseline?: readonly number[] | Float32Array;
  /** Also return the bit vectors, their scores and kernel weights (`samples` in the result). */
  returnSamples?: boolean;
}

/** LIME's result: the map plus the ridge fit's coefficients per superpixel. */
export interface LimeExplanation extends Explanation {
  /** The local model's coefficient per superpixel [K] (0 for superpixels feature selection dropped). */
  coefficients: Float64Array;
  intercept: number;
  /** The superpixels the local model used, in feature-selection order. */
  usedFeatures: number[];
  /** The local model's weighted R² on the samples (lime's `score`). */
  r2: number;
  /** The local model's prediction for the unperturbed image (lime's `local_pred`). */
  localPrediction: number;
  /** Superpixel label per pixel (0..K−1) and K. */
  segments: Int32Array;
  segmentCount: number;
  /** With `returnSamples`: bits [N, K] (row-major, 0/1), Ψ_c per sample [N], kernel weights [N]. */
  samples?: { bits: Uint8Array; scores: Float32Array; weights: Float64Array };
}

/** LIME's parameters after defaults. */
export interface LimeParams {
  samples: number;
  kernelWidth: number;
  alpha: number;
  numFeatures: number;
  featureSelection: FeatureSelection;
  hide: 'mean' | 'baseline';
  segmentation: QuickshiftParams | 'given';
  seed: number;
  batchSize: number;
  scoreMode: ScoreMode;
}

/** marcotcr/lime's defaults (LimeImageExplainer + explain_instance), except the batch size. */
export const LIME_DEFAULTS = Object.freeze({
  samples: 1000, kernelWidth: 0.25, alpha: 1, numFeatures: 100000, featureSelection: 'auto' as FeatureSelection,
  hide: 'mean' as const, seed: 0, batchSize: 32, scoreMode: 'softmax' as ScoreMode,
});

const SELECTIONS: readonly FeatureSelection[] = ['auto', 'none', 'highest_weights', 'forward_selection'];

/** Resolves defaults and validates them (throws InputError). */
export function limeParams(opts: LimeOptions = {}): LimeParams {
  let segmentation: LimeParams['segmentation'] = 'given';
  if (!opts.segments) {
    try { segmentation = quickshiftParams(opts.segmentation); } catch (e) { throw e instanceof RangeError ? new InputError(e.message) : e; }
  }
  const p: LimeParams = {
    samples: opts.samples ?? LIME_DEFAULTS.samples, kernelWidth: opts.kernelWidth ?? LIME_DEFAULTS.kernelWidth,
    alpha: opts.alpha ?? LIME_DEFAULTS.alpha, numFeatures: opts.numFeatures ?? LIME_DEFAULTS.numFeatures,
    featureSelection: opts.featureSelection ?? LIME_DEFAULTS.featureSelection, hide: opts.hide ?? LIME_DEFAULTS.hide,
    segmentation, seed: opts.seed ?? 0, batchSize: opts.batchSize ?? LIME_DEFAULTS.batchSize, scoreMode: opts.scoreMode ?? LIME_DEFAULTS.scoreMode,
  };
  for (const k of ['samples', 'numFeatures', 'batchSize'] as const) {
    if (!Number.isInteger(p[k]) || p[k] < 1) throw new InputError(`${k} must be a positive integer, got ${p[k]}`);
  }
  // The local model needs more than the all-ones sample to fit anything.
  if (p.samples < 2) throw new InputError(`samples must be at least 2, got ${p.samples}`);
  if (!(p.kernelWidth > 0 && Number.isFinite(p.kernelWidth))) throw new InputError(`kernelWidth must be a positive number, got ${p.kernelWidth}`);
  if (!(p.alpha >= 0 && Number.isFinite(p.alpha))) throw new InputError(`alpha must be a finite number ≥ 0, got ${p.alpha}`);
  if (!SELECTIONS.includes(p.featureSelection)) throw new InputError(`featureSelection must be one of ${SELECTIONS.join(', ')}, got '${String(p.featureSelection)}'`);
  if (p.hide !== 'mean' && p.hide !== 'baseline') throw new InputError(`hide must be 'mean' or 'baseline', got '${String(p.hide)}'`);
  if (!Number.isInteger(p.seed) || p.seed < 0 || p.seed > 0xffffffff) throw new InputError(`seed must be an integer in [0, 2^32), got ${p.seed}`);
  return p;
}

/**
 * LIME's neighbourhood: N bit vectors over K superpixels, row 0 all ones, the rest independent fair
 * bits (lime_image's randint(0, 2)), from a seeded splitmix32 stream (not numpy's generator).
 */
export function limeSamples(n: number, k: number, seed: number): Uint8Array {
  const bits = new Uint8Array(n * k);
  bits.fill(1, 0, k);
  let s = (seed ^ 0x6c8e9cf5) >>> 0, word = 0, left = 0;
  for (let i = k; i < n * k; i++) {
    if (left === 0) {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      word = (z ^ (z >>> 16)) >>> 0;
      left = 32;
    }
    bits[i] = word & 1;
    word >>>= 1;
    left--;
  }
  return bits;
}

/**
 * LIME's sample weights: cosine distance of each bit vector to all-ones (sklearn's, which makes an
 * all-zero row distance 1), through sqrt(exp(−d²/w²)).
 */
export function limeWeights(bits: Uint8Array, n: number, k: number, kernelWidth: number): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let m = 0;
    for (let j = 0; j < k; j++) m += bits[i * k + j]!;
    // z·1 / (‖z‖·‖1‖) = m / (√m·√K) = √(m/K) for a 0/1 vector.
    const d = m === 0 ? 1 : 1 - Math.sqrt(m / k);
    w[i] = Math.sqrt(Math.exp(-(d * d) / (kernelWidth * kernelWidth)));
  }
  return w;
}

/** LIME saliency for the explained class; see {@link LimeOptions}. */
export async function lime(model: Model, image: Float32Array, opts: LimeOptions = {}): Promise<LimeExplanation> {
  const prm = limeParams(opts);
  const s = new ExplainSession(model, image, opts);
  try {
    const { samples: N, scoreMode: mode } = prm;
    const { classIndex, score, scores: out } = await s.classify(mode);
    const Kout = out.length;
    s.phase('classify');

    const sp = superpixelsFor(image, s.channels, s.height, s.width, opts);
    const K = sp.segments;
    s.phase('segmentation');
    // A plan wider than the sample count would only cost memory; [batch, K] bits are an own tensor too.
    const batch = Math.min(s.batchFor(prm.batchSize, [4 * K]), N);

    const P = s.pixels;
    const pass = await s.scoringPass({ batch, mode, classes: [classIndex] });
    if (pass.outputs !== Kout) throw new InputError(`the score tensor has ${pass.outputs} values per row; the model output has ${Kout}`);
    const c = s.compute;
    const bitsHost = limeSamples(N, K, prm.seed);
    const labelsT = c.upload(Uint32Array.from(sp.labels), [P], 'lime-labels');
    const fillT = c.upload(sp.fill, [K, s.channels], 'lime-fill');
    const bitsT = c.alloc([batch, K], 'lime-bits');
    const allScores = c.alloc([N], 'lime-scores');
    // Poisoned so a sample whose score was never copied shows up as NaN in the fit, not as 0.
    c.fill(allScores, Number.NaN);
    const progs = new Map<number, KernelProgram>();
    const programFor = (n: number): KernelProgram => {
      let p = progs.get(n);
      if (!p) progs.set(n, p = superpixelMaskedInputProgram(c.ctx, { n, channels: s.channels, pixels: P, segments: K }));
      return p;
    };
    const bitsF = new Float32Array(batch * K);
    for (let start = 0; start < N; start += batch) {
      const n = Math.min(batch, N - start);
      for (let i = 0; i < n * K; i++) bitsF[i] = bitsHost[start * K + i]!;
      // Queue writes are ordered with submits, so this batch's bits land after the last batch ran.
      c.write(bitsT, bitsF.subarray(0, n * K));
      await pass.step(n, (cmd) => cmd.run(programFor(n), { inputs: [s.image, labelsT, bitsT, fillT], outputs: [pass.input] }),
        (cmd) => pass.keepScores(cmd, allScores, start, n));
      s.forwardPasses += n;
      s.progress('masked forward passes', start + n, N);
    }
    const y = (await c.read(allScores)).slice(0, N);
    s.phase('masked passes');

    const X = { data: bitsHost, rows: N, cols: K };
    const weights = limeWeights(bitsHost, N, K, prm.kernelWidth);
    const used = selectFeatures(X, y, weights, prm.numFeatures, prm.featureSelection);
    const fit = ridgeFit(X, y, weights, prm.alpha, used);
    const r2 = ridgeScore(X, y, weights, fit, used);
    const localPrediction = ridgePredict(X, fit, 0, used);
    const coefficients = new Float64Array(K);
    used.forEach((f, k) => { coefficients[f] = fit.coef[k]!; });
    s.phase('local model');

    const map = minMax(paintSegments(sp.labels, coefficients));
    s.phase('map');
    const result: LimeExplanation = {
      method: 'lime', classIndex, score, scoreMode: mode, map: { width: s.width, height: s.height, data: map },
      forwardPasses: s.forwardPasses, backwardPasses: 0, timings: s.timings,
      params: { ...prm, segmentCount: K },
      coefficients, intercept: fit.intercept, usedFeatures: used, r2, localPrediction, segments: sp.labels, segmentCount: K,
    };
    if (opts.returnSamples) result.samples = { bits: bitsHost, scores: y, weights };
    return result;
  } finally {
    s.destroy();
  }
}

/** Spec 0.3 min-max normalisation (ε = 1e-6); a constant map becomes zeros. */
function minMax(v: Float32Array): Float32Array {
  let lo = Infinity, hi = -Infinity;
  for (const x of v) { if (x < lo) lo = x; if (x > hi) hi = x; }
  if (!(hi > lo)) return new Float32Array(v.length);
  const inv = 1 / (hi - lo + 1e-6);
  return v.map((x) => (x - lo) * inv);
}
