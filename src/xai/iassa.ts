/**
 * IASSA — Iterative and Adaptive Sampling with Spatial Attention (Vasu & Long, WACV 2020; methods
 * spec 4, and 6.8 for its sliding-window occlusion), GPU-resident.
 *
 *  1. Occlusion map S from a full grid of w×w windows (stride s): per batch the masks are made on
 *     the GPU from window indices, the masked inputs written into the model's input, the plan
 *     run, Ψ_c read on the GPU and S accumulated on the GPU from the scores and window geometry.
 *  2. LRPF-SA: the feature levels come from ONE forward pass with taps; the attention's R²×R²
 *     affinity is never stored (lrpf-attention.ts). s_att = s·A2 is up-sampled bilinearly and
 *     mixed, S_adj = λS + (1 − λ)S_att; the region is S_adj > min + t·(max − min).
 *  3. Rounds with shrinking windows: the candidate windows of the next grid are tested against the
 *     region on the GPU, only the flag vector is read back, and only the kept masks are run.
 *
 * Rounds (K = `iterations`): the reference calls LRPF-SA K times; after call n it regenerates a
 * grid with window int(w0 − 1.5(n+1)) and stride int(s0 − 0.2n) and recomputes S on the kept
 * windows. The grid made after the LAST call is scored and then thrown away by the reference; this
 * implementation does not run it. So S is computed K times (round 0: the full initial grid; round
 * m = 1..K−1: the grid of reference iteration m−1 filtered by region m−1), LRPF-SA runs K times,
 * and the result is the LAST S_adj (min-max normalised), never a ground-truth-selected iteration.
 * `forwardPasses` counts every forward pass run: the classification, the feature pass and every
 * kept mask.
 *
 * [P] choices (spec 4.2, 4.4, 8.10), each with its alternative as an option:
 *  - keepRule 'window-overlaps-region' (the evident intent; the code's max(M ⊙ R) > 0 is
 *    'reference-parity').
 *  - normalisation 'coverage' with the intended rule: S(p) = Σ Ψ_i M_i(p) / Σ M_i(p). With a
 *    filtered grid, pixels far from the region are occluded by no kept window, and the reference's
 *    (1/N) Σ Ψ_i M_i gives them the largest value of the map (the constant Σ Ψ_i / N), which would
 *    move the next region off the object; per-pixel normalisation (RISE's E[Ψ | p visible]) gives
 *    them the neutral mean instead. 'kept-count' (the reference's 1/N, spec 4.2 B) is the default
 *    with 'reference-parity', whose grids stay nearly complete.
 *  - Sizes other than 224: windows, strides and their per-round shrinkage scale with
 *    f = min(H, W)/224 (45·f, 8·f, 1.5·f, 0.2·f, truncated per round like the code, never below
 *    1 pixel).
 *  - Feature levels: `layers`, default the block outputs of detectBlocks (blocks.ts). On ResNet-50
 *    those are the stem ReLU (112²), layer1..layer4 outputs, where the reference uses the raw conv1
 *    output (before BN/ReLU), the max-pool output, layer2, layer3 and layer4; name those tensors
 *    in `layers` for parity (a folded-BN graph has no pre-BN conv1 tensor).
 *  - Attention grid R = ⌊min(H, W)/2⌋ ('full', 112 at 224 as the reference); 'fast' = ⌊min/4⌋
 *    (the spec's optional 56×56 mode); or a number.
 *  - The second softmax is applied to values in (0, 1] and uses a fixed shift of 0 (no max pass).
 *  - Up-sampling of s_att: bilinear with half-pixel centres, edge-clamped (spec 0.3); the
 *    reference's grid_sample on a linspace grid (zeros padding) is not reproduced.
 *  - A round in which the rule keeps no window leaves S unchanged (its kept count is 0).
 * IASSA has no randomness: `seed` is accepted for the common interface and recorded only.
 */
import type { Model } from '../runtime/model.js';
import type { KernelProgram } from '../kernels/types.js';
import type { ScoreMode } from '../kernels/score.js';
import { maskedInputProgram } from '../kernels/masked-input.js';
import { minMaxNormaliseProgram } from '../kernels/map-ops.js';
import { occlusionAccumulateProgram, occlusionAccumulatorSize, occlusionFinaliseProgram, occlusionGridSize, occlusionMasksProgram, windowKeepProgram,
  type KeepRule, type OcclusionGrid, type OcclusionNormalisation } from '../kernels/occlusion.js';
import { attentionMixProgram, regionThresholdProgram } from '../kernels/spatial-attention.js';
import { InputError } from '../runtime/errors.js';
import { detectBlocks } from './blocks.js';
import { LongRangeAttention } from './lrpf-attention.js';
import { ExplainSession, type CommonOptions } from './session.js';
import type { Explanation, SaliencyMap } from './explanation.js';

/** IASSA options; every default is the reference code's (spec 4.3) unless marked [P] above. */
export interface IassaOptions extends CommonOptions {
  /** K: LRPF-SA calls (= occlusion maps computed). Default 5. */
  iterations?: number;
  /** Initial window side and stride in model-input pixels. Default 45·f and 8·f, f = min(H, W)/224. */
  window?: number;
  stride?: number;
  /** Per-round shrinkage of window and stride (before truncation). Default 1.5·f and 0.2·f. */
  windowShrink?: number;
  strideShrink?: number;
  /** λ of S_adj = λS + (1 − λ)S_att. Default 0.5. */
  lambda?: number;
  /** Region threshold t, a share of S_adj's range. Default 0.3. */
  threshold?: number;
  /** Attention grid side R: 'full' (default, ⌊min(H, W)/2⌋), 'fast' (⌊min(H, W)/4⌋) or a number. */
  attentionResolution?: number | 'full' | 'fast';
  /** Feature levels (tensor names); default the detected block outputs. */
  layers?: readonly string[];
  /** Which candidate windows a round keeps; default 'window-overlaps-region'. */
  keepRule?: KeepRule;
  /** Normalisation of S; default 'coverage' with the intended keep rule, 'kept-count' with parity. */
  normalisation?: OcclusionNormalisation;
  /** Accepted for the common interface; IASSA is deterministic. Default 0. */
  seed?: number;
  /** Baseline per channel (spec 0.3); default zeros, i.e. masking in normalised space. */
  baseline?: readonly number[] | Float32Array;
}

/** One occlusion round: its grid, candidate windows and the windows actually run. */
export interface IassaRound { window: number; stride: number; candidates: number; kept: number }

/** IASSA's result: the last adjusted map (`map`), plus the final region and the per-round counts. */
export interface IassaExplanation extends Explanation {
  /** The final region (S_adj > min + t·range of the returned map), 0/1 at model-input resolution. */
  region: SaliencyMap;
  /** Per occlusion round (round 0 = the full initial grid). */
  rounds: IassaRound[];
  /** Kept (= run) masks per round, the same as rounds[i].kept. */
  keptMasks: number[];
}

/** IASSA's hyper-parameters after defaults, for an H×W input. */
export interface IassaParams {
  iterations: number;
  window: number;
  stride: number;
  windowShrink: number;
  strideShrink: number;
  lambda: number;
  threshold: number;
  attentionResolution: number;
  keepRule: KeepRule;
  normalisation: OcclusionNormalisation;
  seed: number;
  batchSize: number;
  scoreMode: ScoreMode;
  /** Window and stride of each occlusion round (length `iterations`). */
  schedule: { window: number; stride: number }[];
}

/** The reference code's defaults at 224×224 (spec 4.3). */
export const IASSA_DEFAULTS = { iterations: 5, window: 45, stride: 8, windowShrink: 1.5, strideShrink: 0.2, lambda: 0.5, threshold: 0.3 } as const;

const trunc = (v: number) => Math.floor(v + 1e-9);

/** Resolves defaults for an H×W model input and validates them (throws InputError). */
export function iassaParams(opts: IassaOptions = {}, height = 224, width = 224): IassaParams {
  const f = Math.min(height, width) / 224;
  const keepRule = opts.keepRule ?? 'window-overlaps-region';
  if (keepRule !== 'window-overlaps-region' && keepRule !== 'reference-parity') throw new InputError(`keepRule must be 'window-overlaps-region' or 'reference-parity', got '${String(keepRule)}'`);
  const normalisation = opts.normalisation ?? (keepRule === 'reference-parity' ? 'kept-count' : 'coverage');
  if (normalisation !== 'kept-count' && normalisation !== 'coverage') throw new InputError(`normalisation must be 'kept-count' or 'coverage', got '${String(normalisation)}'`);
  const ar = opts.attentionResolution ?? 'full';
  let attentionResolution: number;
  if (ar === 'full') attentionResolution = Math.max(1, Math.floor(Math.min(height, width) / 2));
  else if (ar === 'fast') attentionResolution = Math.max(1, Math.floor(Math.min(height, width) / 4));
  else if (typeof ar === 'number' && Number.isInteger(ar) && ar >= 1) attentionResolution = ar;
  else throw new InputError(`attentionResolution must be 'full', 'fast' or a positive integer, got ${String(ar)}`);
  const p: IassaParams = {
    iterations: opts.iterations ?? IASSA_DEFAULTS.iterations,
    window: opts.window ?? IASSA_DEFAULTS.window * f,
    stride: opts.stride ?? IASSA_DEFAULTS.stride * f,
    windowShrink: opts.windowShrink ?? IASSA_DEFAULTS.windowShrink * f,
    strideShrink: opts.strideShrink ?? IASSA_DEFAULTS.strideShrink * f,
    lambda: opts.lambda ?? IASSA_DEFAULTS.lambda,
    threshold: opts.threshold ?? IASSA_DEFAULTS.threshold,
    attentionResolution, keepRule, normalisation,
    seed: opts.seed ?? 0,
    batchSize: opts.batchSize ?? 32,
    scoreMode: opts.scoreMode ?? 'softmax',
    schedule: [],
  };
  for (const k of ['iterations', 'batchSize'] as const) {
    if (!Number.isInteger(p[k]) || p[k] < 1) throw new InputError(`${k} must be a positive integer, got ${p[k]}`);
  }
  for (const k of ['window', 'stride'] as const) if (!(Number.isFinite(p[k]) && p[k] > 0)) throw new InputError(`${k} must be a positive number of pixels, got ${p[k]}`);
  for (const k of ['windowShrink', 'strideShrink'] as const) if (!(Number.isFinite(p[k]) && p[k] >= 0)) throw new InputError(`${k} must be a non-negative number, got ${p[k]}`);
  for (const k of ['lambda', 'threshold'] as const) if (!(p[k] >= 0 && p[k] <= 1)) throw new InputError(`${k} must be in [0, 1], got ${p[k]}`);
  if (!Number.isInteger(p.seed) || p.seed < 0 || p.seed > 0xffffffff) throw new InputError(`seed must be an integer in [0, 2^32), got ${p.seed}`);
  // Never below one pixel: small inputs scale the 224-pixel stride below 1.
  const at = (v: number) => Math.max(1, trunc(v));
  p.schedule.push({ window: at(p.window), stride: at(p.stride) });
  for (let m = 1; m < p.iterations; m++) p.schedule.push({ window: at(p.window - p.windowShrink * m), stride: at(p.stride - p.strideShrink * (m - 1)) });
  return p;
}

/** IASSA saliency for the explained class; see the module comment and {@link IassaOptions}. */
export async function iassa(model: Model, image: Float32Array, opts: IassaOptions = {}): Promise<IassaExplanation> {
  const s = new ExplainSession(model, image, opts);
  try {
    const prm = iassaParams(opts, s.height, s.width);
    const { scoreMode: mode, attentionResolution: R } = prm;
    const batch = s.batchFor(prm.batchSize);
    const base = baselineOf(opts.baseline, s.channels);
    const { classIndex, score } = await s.classify(mode);
    const layers = detectBlocks(model, { layers: opts.layers });
    s.phase('classify');

    // LRPF-SA set-up: one forward with taps, packed features, passes 1-2 (once per image).
    const c = s.compute;
    const H = s.height, W = s.width, P = s.pixels;
    const feat = await s.forwardPass(1, layers.map((l) => l.name));
    const e0 = s.command().copy(s.image, feat.input);
    feat.record(e0);
    const attention = new LongRangeAttention(c, layers.map((l) => ({ tensor: feat.tensor(l.name), channels: l.shape[1]!, height: l.shape[2]!, width: l.shape[3]! })), { resolution: R }, e0);
    e0.submitNow();
    s.forwardPasses++;
    await c.device.queue.onSubmittedWorkDone();
    s.phase('attention set-up');

    // Masked forward passes.
    const pass = await s.scoringPass({ batch, mode, classes: [classIndex] });
    const masks = c.alloc([batch, H, W], 'iassa-masks');
    const baseT = c.upload(base, [s.channels], 'baseline');
    const acc = c.alloc([occlusionAccumulatorSize({ height: H, width: W })], 'iassa-occlusion-stats');
    const S = c.alloc([H, W], 'iassa-S');
    const adj = c.alloc([H, W], 'iassa-S-adj');
    const region = c.alloc([H, W], 'iassa-region');
    const stats = c.alloc([4], 'iassa-region-stats');
    const att = c.alloc([R, R], 'iassa-S-att');
    const perN = new Map<number, KernelProgram>();
    const programFor = (n: number): KernelProgram => {
      let p = perN.get(n);
      if (!p) perN.set(n, p = maskedInputProgram(c.ctx, { n, channels: s.channels, pixels: P, baseline: 'channel' }));
      return p;
    };
    const finalise = occlusionFinaliseProgram(c.ctx, P, prm.normalisation);
    const mix = attentionMixProgram(c.ctx, { height: H, width: W, gridH: R, gridW: R, lambda: prm.lambda });
    const threshold = regionThresholdProgram(c.ctx, P, prm.threshold);
    const K1 = prm.iterations;

    /** Scores the windows in `list` of `grid` and writes S; the masks are made per batch. */
    const occlusionRound = async (m: number, grid: OcclusionGrid, list: Uint32Array): Promise<void> => {
      const listT = c.upload(list, [list.length], 'iassa-windows');
      c.fill(acc, 0);
      const N = list.length;
      const phase = `round ${m + 1} of ${K1}: masked forward passes`;
      for (let start = 0; start < N; start += batch) {
        const n = Math.min(batch, N - start);
        const maskProg = occlusionMasksProgram(c.ctx, grid, start, n);
        const accProg = occlusionAccumulateProgram(c.ctx, grid, start, n);
        await pass.step(n, (cmd) => {
          cmd.run(maskProg, { inputs: [listT], outputs: [masks] });
          cmd.run(programFor(n), { inputs: [s.image, masks, baseT], outputs: [pass.input] });
        }, (cmd) => cmd.run(accProg, { inputs: [pass.scores, listT], outputs: [acc] }));
        c.forget(maskProg); c.forget(accProg);
        s.forwardPasses += n;
        s.progress(phase, start + n, N);
      }
      c.run(finalise, { inputs: [acc], outputs: [S] });
      await c.drain();
      c.release(listT);
      s.phase('masked passes');
    };

    const rounds: IassaRound[] = [];
    const grid0: OcclusionGrid = { height: H, width: W, ...prm.schedule[0]! };
    const n0 = occlusionGridSize(grid0).count;
    await occlusionRound(0, grid0, Uint32Array.from({ length: n0 }, (_, i) => i));
    rounds.push({ ...prm.schedule[0]!, candidates: n0, kept: n0 });
    for (let m = 1; ; m++) {
      // LRPF-SA on the current S.
      const e = s.command();
      attention.encodeProduct(S, H, W, att, e);
      e.run(mix, { inputs: [S, att], outputs: [adj] }).run(threshold, { inputs: [adj], outputs: [region, stats] }).submitNow();
      await c.device.queue.onSubmittedWorkDone();
      s.phase('attention');
      s.progress('rounds', m, K1);
      if (m === K1) break;
      // Keep test on the GPU; only the flag vector comes back.
      const grid: OcclusionGrid = { height: H, width: W, ...prm.schedule[m]! };
      const count = occlusionGridSize(grid).count;
      const flags = c.alloc([count], 'iassa-keep-flags');
      const keep = windowKeepProgram(c.ctx, grid, prm.keepRule);
      c.run(keep, { inputs: [region, stats], outputs: [flags] });
      const f = await c.read(flags);
      c.forget(keep); c.release(flags);
      const list: number[] = [];
      for (let i = 0; i < count; i++) if (f[i]! > 0.5) list.push(i);
      s.phase('keep rule');
      rounds.push({ ...prm.schedule[m]!, candidates: count, kept: list.length });
      if (list.length > 0) await occlusionRound(m, grid, Uint32Array.from(list));
    }

    // The last S_adj, min-max normalised; the last region.
    const mapT = c.alloc([H, W], 'iassa-map');
    s.command().copy(adj, mapT, { count: P }).run(minMaxNormaliseProgram(c.ctx, 1, P), { inputs: [], outputs: [mapT] }).submitNow();
    const map = await s.readMap(mapT);
    const regionMap = await s.readMap(region);
    s.phase('read-back');
    const { schedule, ...rest } = prm;
    return {
      method: 'iassa', classIndex, score, scoreMode: mode, map, region: regionMap, rounds, keptMasks: rounds.map((r) => r.kept),
      forwardPasses: s.forwardPasses, backwardPasses: 0, timings: s.timings,
      params: { ...rest, schedule, layers: layers.map((l) => l.name), gramLevels: attention.gramLevels },
    };
  } finally {
    s.destroy();
  }
}

function baselineOf(b: readonly number[] | Float32Array | undefined, channels: number): Float32Array {
  if (b === undefined) return new Float32Array(channels);
  if (b.length !== channels) throw new InputError(`baseline needs ${channels} values (one per channel), got ${b.length}`);
  return Float32Array.from(b);
}
