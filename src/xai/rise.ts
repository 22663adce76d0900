/**
 * RISE (Petsiuk et al., BMVC 2018; methods spec 6.1), GPU-resident. Per batch: seeded random
 * masks are generated on the GPU (kernels/rise-masks.ts), the masked inputs written straight into
 * the model's input, the forward plan run, Ψ read on the GPU for the wanted classes, and
 * S[c] += Ψ_c · M accumulated for all those classes at once (a GEMM over the batch). Only the
 * final maps are read back. S = (1/(N·p)) Σ_i Ψ(x ⊙ M_i) · M_i.
 */
import type { Model } from '../runtime/model.js';
import type { GpuTensor } from '../runtime/plan.js';
import type { KernelProgram } from '../kernels/types.js';
import type { ScoreMode } from '../kernels/score.js';
import { checkRiseMaskParams, riseAccumulateProgram, riseCellSize, riseClassChunks, riseMasksProgram } from '../kernels/rise-masks.js';
import { maskedInputProgram } from '../kernels/masked-input.js';
import { mapDistanceProgram, minMaxNormaliseProgram } from '../kernels/map-ops.js';
import { GraphError, InputError } from '../runtime/errors.js';
import { tensorByteLimit } from '../runtime/device.js';
import { ExplainSession, type CommonOptions } from './session.js';
import type { Explanation } from './explanation.js';

/** RISE options: masks, grid size, keep probability, seed, early stop. */
export interface RiseOptions extends CommonOptions {
  /**
   * Hyper-parameter presets: 'paper' (default: N = 4000, s = 7, p = 0.5, softmax scores) or
   * 'torchray' (N = 8000, s = 7, p = 0.5, sigmoid scores, TorchRay's defaults). Explicit options
   * override the preset. The mask generator is this engine's own (seeded hash), not TorchRay's RNG.
   */
  preset?: 'paper' | 'torchray';
  /** Number of masks N. */
  masks?: number;
  /** Grid size s (cells per axis). */
  gridSize?: number;
  /** Cell probability p ∈ (0, 1]. */
  probability?: number;
  /** u32 seed of the mask sequence; the same seed gives the same maps on the same device. Default 0. */
  seed?: number;
  /**
   * Accumulate maps for every class and return them in `classMaps` ([K, H, W], unnormalised S).
   * For 1000 classes at 224² that is 200 MB of GPU memory and read-back.
   */
  allClasses?: boolean;
  /** Extra classes whose unnormalised maps to return in `classMaps` (the explained class comes first). */
  classes?: readonly number[];
  /** Baseline per channel (spec 0.3); default zeros, i.e. masking in normalised space. */
  baseline?: readonly number[] | Float32Array;
  /**
   * Early stop, an addition of this engine (the paper always runs N masks, and so does the default,
   * which leaves this unset). A split-half estimate of the map's Monte-Carlo error: the explained
   * class is also accumulated in two halves, even and odd batches (nA and nB masks), and at each
   * check the GPU measures d = mean |N(A) − N(B)| per pixel on the min-max normalised halves. Masks
   * are independent, so the full map's error against infinitely many masks is about d·√(nA·nB)/n
   * (d/2 for equal halves). The run stops once that is below `tolerance` (mean absolute error on
   * the [0, 1] map, e.g. 0.02) and `params.masksUsed` says how many masks it took; `masks` stays
   * the cap. The result is exactly RISE with `masks` = masksUsed: masks are drawn by index, and S
   * is rescaled by N/used. Why split halves: a change between consecutive checks measured on a
   * few hundred masks swung 3x from check to check on SqueezeNet (rare high-score masks dominate).
   * The estimate is optimistic before about a thousand masks (bench:rise-stop: the stopped map was
   * up to 2.5x further from the 4000-mask map than estimated); 0.03 or less is the safe side.
   */
  tolerance?: number;
  /**
   * Masks between two checks of `tolerance`: a check runs at the first batch boundary at or past
   * each multiple of it. Default 500. `params.checkedAt` and `params.errorEstimates` record every check.
   */
  checkEvery?: number;
}

/** RISE's result: the map plus the masks used and, with early stopping, the error estimates. */
export interface RiseExplanation extends Explanation {
  /** Unnormalised saliency S [classMapClasses.length, H, W], when `allClasses` or `classes` was given. */
  classMaps?: Float32Array;
  /** The class of each row of `classMaps` (0..K−1 with `allClasses`). */
  classMapClasses?: number[];
}

/** RISE's hyper-parameters after preset and defaults. */
export interface RiseParams {
  preset: 'paper' | 'torchray';
  masks: number;
  gridSize: number;
  probability: number;
  seed: number;
  batchSize: number;
  scoreMode: ScoreMode;
  /** Early-stop threshold, when set (see RiseOptions.tolerance). */
  tolerance?: number;
  checkEvery: number;
}

const PRESETS: Record<RiseParams['preset'], Omit<RiseParams, 'preset' | 'seed' | 'batchSize' | 'tolerance' | 'checkEvery'>> = {
  paper: { masks: 4000, gridSize: 7, probability: 0.5, scoreMode: 'softmax' },
  torchray: { masks: 8000, gridSize: 7, probability: 0.5, scoreMode: 'sigmoid' },
};

/** Resolves preset and defaults and validates them (throws InputError). */
export function riseParams(opts: RiseOptions = {}): RiseParams {
  const preset = opts.preset ?? 'paper';
  const base = PRESETS[preset];
  if (!base) throw new InputError(`unknown RISE preset '${String(preset)}' (available: ${Object.keys(PRESETS).join(', ')})`);
  const p: RiseParams = {
    preset, masks: opts.masks ?? base.masks, gridSize: opts.gridSize ?? base.gridSize, probability: opts.probability ?? base.probability,
    seed: opts.seed ?? 0, batchSize: opts.batchSize ?? 32, scoreMode: opts.scoreMode ?? base.scoreMode, checkEvery: opts.checkEvery ?? 500,
  };
  if (opts.tolerance !== undefined) {
    if (!(opts.tolerance > 0 && opts.tolerance < 1)) throw new InputError(`tolerance must be in (0, 1), got ${opts.tolerance}`);
    p.tolerance = opts.tolerance;
  }
  for (const k of ['masks', 'gridSize', 'batchSize', 'checkEvery'] as const) {
    if (!Number.isInteger(p[k]) || p[k] < 1) throw new InputError(`${k} must be a positive integer, got ${p[k]}`);
  }
  if (!(p.probability > 0 && p.probability <= 1)) throw new InputError(`probability must be in (0, 1], got ${p.probability}`);
  if (!Number.isInteger(p.seed) || p.seed < 0 || p.seed > 0xffffffff) throw new InputError(`seed must be an integer in [0, 2^32), got ${p.seed}`);
  return p;
}

/** RISE saliency for the explained class (and optionally every class); see {@link RiseOptions}. */
export async function rise(model: Model, image: Float32Array, opts: RiseOptions = {}): Promise<RiseExplanation> {
  const prm = riseParams(opts);
  const s = new ExplainSession(model, image, opts);
  try {
    const { masks: N, scoreMode: mode } = prm;
    const geo = { height: s.height, width: s.width, gridSize: prm.gridSize, probability: prm.probability, seed: prm.seed };
    try { checkRiseMaskParams(geo); } catch (e) { throw e instanceof GraphError ? new InputError(e.message) : e; }
    const { classIndex, score, scores: out } = await s.classify(mode);
    const K = out.length;
    let classes: number[];
    if (opts.allClasses) {
      classes = Array.from({ length: K }, (_, c) => c);
    } else {
      for (const c of opts.classes ?? []) if (!Number.isInteger(c) || c < 0 || c >= K) throw new InputError(`class ${c} is out of range (the model has ${K} classes)`);
      classes = [...new Set([classIndex, ...(opts.classes ?? [])])];
    }
    const k = classes.length;
    s.phase('classify');
    // Rows of the [batch, k] score matrix are the one own tensor that may outgrow the input's.
    const batch = s.batchFor(prm.batchSize, [4 * k]);

    const P = s.pixels;
    const scale = 1 / (N * prm.probability);
    const pass = await s.scoringPass({ batch, mode, classes, scale });
    if (pass.outputs !== K) throw new InputError(`the score tensor has ${pass.outputs} values per row; the model output has ${K}`);
    const c = s.compute;
    const masks = c.alloc([batch, s.height, s.width], 'rise-masks');
    const base = c.upload(baselineOf(opts.baseline, s.channels), [s.channels], 'baseline');
    const limit = tensorByteLimit(c.gpu);
    const chunks = riseClassChunks(k, P, limit).map((ch) => {
      const acc = c.alloc([ch.kc, s.height, s.width], 'rise-saliency');
      c.fill(acc, 0);
      return { ...ch, acc };
    });
    const progs = new Map<number, KernelProgram[]>();
    const programsFor = (n: number): KernelProgram[] => {
      let p = progs.get(n);
      if (!p) {
        p = [
          maskedInputProgram(c.ctx, { n, channels: s.channels, pixels: P, baseline: 'channel' }),
          ...chunks.map((ch) => riseAccumulateProgram(c.ctx, { n, pixels: P, k, c0: ch.c0, kc: ch.kc })),
        ];
        progs.set(n, p);
      }
      return p;
    };

    // The explained class is classes[0] (allClasses: row classIndex).
    const row = opts.allClasses ? classIndex : 0;
    const home = chunks.find((ch) => row >= ch.c0 && row < ch.c0 + ch.kc)!;
    const early = prm.tolerance === undefined ? undefined : {
      halves: [c.alloc([P], 'rise-half-a'), c.alloc([P], 'rise-half-b')] as const, counts: [0, 0], info: c.alloc([4], 'rise-half-distance'),
      next: prm.checkEvery, errors: [] as number[], checkedAt: [] as number[],
      halfAccumulate: new Map<number, KernelProgram>(), distance: mapDistanceProgram(c.ctx, P),
    };
    if (early) for (const h of early.halves) c.fill(h, 0);

    let used = N;
    for (let start = 0; start < N; start += batch) {
      const n = Math.min(batch, N - start);
      const [maskedInput, ...accs] = programsFor(n);
      const maskProg = riseMasksProgram(c.ctx, geo, start, n);
      await pass.step(n, (cmd) => {
        cmd.run(maskProg, { inputs: [], outputs: [masks] });
        cmd.run(maskedInput!, { inputs: [s.image, masks, base], outputs: [pass.input] });
      }, (cmd) => {
        accs.forEach((prog, j) => cmd.run(prog, { inputs: [pass.scores, masks], outputs: [chunks[j]!.acc] }));
        if (early) {
          let prog = early.halfAccumulate.get(n);
          if (!prog) early.halfAccumulate.set(n, prog = riseAccumulateProgram(c.ctx, { n, pixels: P, k, c0: row, kc: 1 }));
          const h = (start / batch) % 2;
          cmd.run(prog, { inputs: [pass.scores, masks], outputs: [h === 0 ? early.halves[0] : early.halves[1]] });
          early.counts[h]! += n;
        }
      });
      c.forget(maskProg);
      s.forwardPasses += n;
      s.progress('masked forward passes', start + n, N);
      const done = start + n;
      if (early && done >= early.next && done < N && early.counts[1]! > 0) {
        // One float comes back per check; the drain it costs is one batch's overlap every checkEvery masks.
        await s.command().run(early.distance, { inputs: [...early.halves], outputs: [early.info] }).submit();
        const d = (await c.read(early.info))[0]!;
        s.checkCancelled();
        // Checks at the first batch boundary at or past each multiple of checkEvery.
        early.next = (Math.floor(done / prm.checkEvery) + 1) * prm.checkEvery;
        const error = d * Math.sqrt(early.counts[0]! * early.counts[1]!) / done;
        early.errors.push(error); early.checkedAt.push(done);
        if (error < prm.tolerance!) { used = done; break; }
      }
    }
    await c.drain();
    s.phase('masked passes');

    // Copy the explained class's row out and min-max it.
    const mapT = c.alloc([s.height, s.width], 'rise-map');
    s.command().copy(home.acc, mapT, { from: (row - home.c0) * P, count: P })
      .run(minMaxNormaliseProgram(c.ctx, 1, P), { inputs: [], outputs: [mapT] }).submitNow();
    const map = await s.readMap(mapT);
    let classMaps: Float32Array | undefined;
    if (opts.allClasses || opts.classes) {
      classMaps = new Float32Array(k * P);
      for (const ch of chunks) classMaps.set((await c.read(ch.acc)).subarray(0, ch.kc * P), ch.c0 * P);
      // The accumulation scaled by 1/(N·p); an early stop used fewer masks.
      if (used < N) for (let i = 0; i < classMaps.length; i++) classMaps[i]! *= N / used;
    }
    s.phase('read-back');
    const result: RiseExplanation = {
      method: 'rise', classIndex, score, scoreMode: mode, map, forwardPasses: s.forwardPasses, backwardPasses: 0, timings: s.timings,
      params: { preset: prm.preset, masks: N, gridSize: prm.gridSize, probability: prm.probability, seed: prm.seed, batchSize: batch,
        cellSize: Object.values(riseCellSize(geo)), allClasses: opts.allClasses === true, classes: opts.allClasses ? 'all' : classes,
        ...(early ? { tolerance: prm.tolerance, checkEvery: prm.checkEvery, masksUsed: used, checkedAt: early.checkedAt, errorEstimates: early.errors } : {}) },
    };
    if (classMaps) { result.classMaps = classMaps; result.classMapClasses = classes; }
    return result;
  } finally {
    s.destroy();
  }
}

function baselineOf(b: readonly number[] | Float32Array | undefined, channels: number): Float32Array {
  if (b === undefined) return new Float32Array(channels);
  if (b.length !== channels) throw new InputError(`baseline needs ${channels} values (one per channel), got ${b.length}`);
  return Float32Array.from(b);
}
