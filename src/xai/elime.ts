/**
 * E-LIME (Wang, Pei, Xue, Zhang, arXiv 2211.15143; methods spec 5): a genetic algorithm searches
 * for the set of superpixels that, shown alone, maximises the model's probability for the class.
 * The GA itself is host code (genetic.ts); each generation's unseen individuals are evaluated in
 * one batched GPU pass: the superpixel-masked inputs are made on the GPU from the bit vectors
 * (kernels/superpixel-mask.ts) straight into the plan's input, the plan runs, Ψ_c is read on the GPU,
 * and only the P fitness values of the generation come back to the host.
 */
import type { Model } from '../runtime/model.js';
import type { GpuTensor } from '../runtime/plan.js';
import type { KernelProgram } from '../kernels/types.js';
import type { ScoreMode } from '../kernels/score.js';
import { superpixelMaskedInputProgram } from '../kernels/superpixel-mask.js';
import { InputError } from '../runtime/errors.js';
import { ExplainSession, type CommonOptions } from './session.js';
import type { ScoringPass } from './scoring.js';
import type { Explanation, SaliencyMap } from './explanation.js';
import { paintSegments, superpixelsFor, type SuperpixelOptions } from './superpixels.js';
import { quickshiftParams } from './quickshift.js';
import { bitKey, evolve, type GenerationStats, type GeneticSettings } from './genetic.js';

/** E-LIME options: superpixels and the genetic search (population, generations, elitism, seed). */
export interface ElimeOptions extends CommonOptions, SuperpixelOptions {
  /** u32 seed of the GA (initial population, selection, crossover, mutation). Default 0. */
  seed?: number;
  /** Baseline per channel, used when `hide` is 'baseline' (spec 0.3); default zeros. */
  baseline?: readonly number[] | Float32Array;
  /** Individuals per generation [P]: default 40 (spec 30–50). */
  populationSize?: number;
  /** Generations after the random initial one [P]: default 40 (spec 20–50). */
  maxGenerations?: number;
  /** Early stop when the best fitness has not improved for this many generations [P]: default 10. */
  patience?: number;
  /** Tournament size [P]: default 2 (binary tournament; spec 2–3). */
  tournamentSize?: number;
  /** Crossover operator [P]: 'uniform' (default) or 'one-point'. */
  crossover?: 'uniform' | 'one-point';
  /** Crossover probability per pair [P]: default 0.9. */
  crossoverRate?: number;
  /** Bit-flip probability per bit [P]: default 1/K. */
  mutationRate?: number;
  /** Best individuals copied unchanged into the next generation [P]: default 2. */
  elitism?: number;
  /** Probability of a 1 in the random initial population [P]: default 0.5. */
  initProbability?: number;
  /**
   * λ in F(b) = Ψ_c(x_b) − λ·|b|/K [P]: a tie-break toward fewer superpixels so equally good
   * selections are sparse. Default 1e-4; 0 turns it off.
   */
  sparsityTieBreak?: number;
  /**
   * The graded map [P] (spec 5.2 step 6 offers both): 'removal-drop' (default: Ψ_c(best) −
   * Ψ_c(best without j) for each selected superpixel j, 0 for unselected ones; one extra batched
   * pass) or 'frequency' (each superpixel's selection frequency across the final population).
   * Removal-drop is the default because neutral superpixels drift to frequency 1 as well, so the
   * frequency map is nearly flat over everything the class does not mind.
   */
  graded?: 'frequency' | 'removal-drop';
}

/** E-LIME's result: the map plus the best superpixel selection the genetic search found. */
export interface ElimeExplanation extends Explanation {
  /** The best individual: bit j = 1 keeps superpixel j. */
  bestBits: Uint8Array;
  /** Its fitness F (with the tie-break) and its score Ψ_c alone. */
  bestFitness: number;
  bestScore: number;
  /** Ψ_c of the unmasked image (= `score`), for the paper's "the explanation raises confidence" check. */
  originalScore: number;
  /** 1 on the best individual's superpixels, 0 elsewhere, at model-input resolution. */
  bestMask: SaliencyMap;
  /** Superpixel label per pixel (0..K−1) and K. */
  segments: Int32Array;
  segmentCount: number;
  /** The per-superpixel values painted into `map` before min-max normalisation. */
  superpixelValues: Float64Array;
  /** Generations run after the initial one, and whether the stall rule stopped the run. */
  generations: number;
  stoppedEarly: boolean;
  /** Fitness lookups answered by the cache (no forward pass). */
  cacheHits: number;
  /** Best and mean fitness per generation (the initial one first) and how many were evaluated. */
  history: GenerationStats[];
  /** The final population and its fitness. */
  population: Uint8Array[];
  populationFitness: Float64Array;
  /** Host time of the GA's own work (selection, crossover, mutation, cache), ms: a small share. */
  gaHostMs: number;
}

/** E-LIME's hyper-parameters after defaults (mutationRate 'auto' = 1/K, resolved after segmentation). */
export interface ElimeParams {
  populationSize: number;
  maxGenerations: number;
  patience: number;
  tournamentSize: number;
  crossover: 'uniform' | 'one-point';
  crossoverRate: number;
  mutationRate: number | 'auto';
  elitism: number;
  initProbability: number;
  sparsityTieBreak: number;
  graded: 'frequency' | 'removal-drop';
  hide: 'mean' | 'baseline';
  seed: number;
  batchSize: number;
  scoreMode: ScoreMode;
}

/** The [P] defaults of spec 5.2 (the choices named in {@link ElimeOptions}). */
export const ELIME_DEFAULTS: Readonly<ElimeParams> = Object.freeze({
  populationSize: 40, maxGenerations: 40, patience: 10, tournamentSize: 2, crossover: 'uniform', crossoverRate: 0.9,
  mutationRate: 'auto', elitism: 2, initProbability: 0.5, sparsityTieBreak: 1e-4, graded: 'removal-drop', hide: 'mean',
  seed: 0, batchSize: 64, scoreMode: 'softmax',
});

/** Resolves defaults and validates them (throws InputError). */
export function elimeParams(opts: ElimeOptions = {}): ElimeParams {
  const d = ELIME_DEFAULTS;
  const p: ElimeParams = {
    populationSize: opts.populationSize ?? d.populationSize, maxGenerations: opts.maxGenerations ?? d.maxGenerations,
    patience: opts.patience ?? d.patience, tournamentSize: opts.tournamentSize ?? d.tournamentSize,
    crossover: opts.crossover ?? d.crossover, crossoverRate: opts.crossoverRate ?? d.crossoverRate,
    mutationRate: opts.mutationRate ?? d.mutationRate, elitism: opts.elitism ?? d.elitism,
    initProbability: opts.initProbability ?? d.initProbability, sparsityTieBreak: opts.sparsityTieBreak ?? d.sparsityTieBreak,
    graded: opts.graded ?? d.graded, hide: opts.hide ?? d.hide, seed: opts.seed ?? d.seed,
    batchSize: opts.batchSize ?? d.batchSize, scoreMode: opts.scoreMode ?? d.scoreMode,
  };
  const int = (k: 'populationSize' | 'maxGenerations' | 'patience' | 'tournamentSize' | 'elitism' | 'batchSize', min: number) => {
    if (!Number.isInteger(p[k]) || p[k] < min) throw new InputError(`${k} must be an integer ≥ ${min}, got ${p[k]}`);
  };
  int('populationSize', 2); int('maxGenerations', 0); int('patience', 1); int('tournamentSize', 1); int('elitism', 0); int('batchSize', 1);
  if (p.elitism >= p.populationSize) throw new InputError(`elitism must be below populationSize (${p.populationSize}), got ${p.elitism}`);
  const unit = (k: 'crossoverRate' | 'initProbability', v: number) => {
    if (!(v >= 0 && v <= 1)) throw new InputError(`${k} must be in [0, 1], got ${v}`);
  };
  unit('crossoverRate', p.crossoverRate); unit('initProbability', p.initProbability);
  if (p.mutationRate !== 'auto' && !(p.mutationRate >= 0 && p.mutationRate <= 1)) throw new InputError(`mutationRate must be in [0, 1], got ${p.mutationRate}`);
  if (!(Number.isFinite(p.sparsityTieBreak) && p.sparsityTieBreak >= 0)) throw new InputError(`sparsityTieBreak must be a finite number ≥ 0, got ${p.sparsityTieBreak}`);
  if (p.crossover !== 'uniform' && p.crossover !== 'one-point') throw new InputError(`crossover must be 'uniform' or 'one-point', got '${String(p.crossover)}'`);
  if (p.graded !== 'frequency' && p.graded !== 'removal-drop') throw new InputError(`graded must be 'frequency' or 'removal-drop', got '${String(p.graded)}'`);
  if (p.hide !== 'mean' && p.hide !== 'baseline') throw new InputError(`hide must be 'mean' or 'baseline', got '${String(p.hide)}'`);
  if (!Number.isInteger(p.seed) || p.seed < 0 || p.seed > 0xffffffff) throw new InputError(`seed must be an integer in [0, 2^32), got ${p.seed}`);
  return p;
}

/** One batch size's plan and the programs that feed and read it. */
interface Bucket { size: number; pass: ScoringPass; mask: KernelProgram }

/** E-LIME explanation of one image; see {@link ElimeOptions} for the [P] choices and defaults. */
export async function elime(model: Model, image: Float32Array, opts: ElimeOptions = {}): Promise<ElimeExplanation> {
  const prm = elimeParams(opts);
  const s = new ExplainSession(model, image, opts);
  try {
    const { scoreMode: mode } = prm;
    const { classIndex, score, scores: out } = await s.classify(mode);
    s.phase('classify');
    const sp = superpixelsFor(image, s.channels, s.height, s.width, { ...opts, hide: prm.hide });
    const { labels, segments: K, fill } = sp;
    s.phase('segmentation');

    const c = s.compute;
    const B = Math.min(s.batchFor(prm.batchSize, [4 * K]), prm.populationSize);
    const labelsT = c.upload(Uint32Array.from(labels), [s.pixels], 'elime-labels');
    const fillT = c.upload(fill, [K, s.channels], 'elime-fill');
    const bitsT = c.alloc([B, K], 'elime-bits');
    const genScores = c.alloc([prm.populationSize], 'elime-generation-scores');
    // Plans for B and its halves, so late generations with few uncached individuals run small passes.
    const sizes = [...new Set([B, Math.ceil(B / 2), Math.ceil(B / 4)])].filter((n, i) => i === 0 || n >= 8);
    const buckets = new Map<number, Bucket>();
    const bucketFor = async (n: number): Promise<Bucket> => {
      const size = sizes.filter((m) => m >= n).pop()!;
      let b = buckets.get(size);
      if (!b) {
        const pass = await s.scoringPass({ batch: size, mode, classes: [classIndex] });
        if (pass.outputs !== out.length) throw new InputError(`the score tensor has ${pass.outputs} values per row; the model output has ${out.length}`);
        b = { size, pass, mask: superpixelMaskedInputProgram(c.ctx, { n: size, channels: s.channels, pixels: s.pixels, segments: K }) };
        buckets.set(size, b);
      }
      return b;
    };

    // Ψ_c of every row into `target`, in batches of at most B, with one read-back of the rows at the end.
    let progressPhase = 'evolution', progressDone = 0, progressTotal = prm.maxGenerations + 1;
    const psi = new Map<string, number>();
    const scoreRows = async (rows: readonly Uint8Array[], target: GpuTensor): Promise<Float64Array> => {
      for (let start = 0; start < rows.length; start += B) {
        const n = Math.min(B, rows.length - start);
        const bk = await bucketFor(n);
        const bits = new Float32Array(n * K);
        for (let i = 0; i < n; i++) bits.set(rows[start + i]!, i * K);
        c.write(bitsT, bits);
        await bk.pass.step(n, (cmd) => cmd.run(bk.mask, { inputs: [s.image, labelsT, bitsT, fillT], outputs: [bk.pass.input] }),
          (cmd) => bk.pass.keepScores(cmd, target, start, n));
        s.forwardPasses += n;
        s.progress(progressPhase, progressDone, progressTotal);
      }
      const r = (await c.read(target)).subarray(0, rows.length);
      rows.forEach((b, i) => psi.set(bitKey(b), r[i]!));
      return Float64Array.from(r);
    };
    const ones = (b: Uint8Array) => b.reduce((a, v) => a + v, 0);
    const lambda = prm.sparsityTieBreak;
    const mutationRate = prm.mutationRate === 'auto' ? 1 / K : prm.mutationRate;
    const settings: GeneticSettings = { ...prm, mutationRate };
    const ga = await evolve(K, async (rows) => {
      const r = await scoreRows(rows, genScores);
      return rows.map((b, i) => r[i]! - (lambda * ones(b)) / K);
    }, settings, (g) => { progressDone = g + 1; });
    s.phase('evolution');
    const gaHostMs = Math.max(0, (s.timings.evolution ?? 0) - ga.fitnessMs);

    const best = ga.best;
    const bestScore = psi.get(bitKey(best))!;
    let values: Float64Array;
    let cacheHits = ga.cacheHits;
    if (prm.graded === 'frequency') {
      values = new Float64Array(K);
      for (const b of ga.population) for (let j = 0; j < K; j++) values[j]! += b[j]!;
      values = values.map((v) => v / ga.population.length);
    } else {
      const removed: Uint8Array[] = [];
      const selected: number[] = [];
      for (let j = 0; j < K; j++) if (best[j]) { const r = Uint8Array.from(best); r[j] = 0; removed.push(r); selected.push(j); }
      const todo = [...new Map(removed.filter((r) => !psi.has(bitKey(r))).map((r) => [bitKey(r), r])).values()];
      cacheHits += removed.length - todo.length;
      progressPhase = 'removal drops'; progressDone = 0; progressTotal = 1;
      if (todo.length) await scoreRows(todo, c.alloc([todo.length], 'elime-drop-scores'));
      values = new Float64Array(K);
      selected.forEach((j, i) => { values[j] = bestScore - psi.get(bitKey(removed[i]!))!; });
      s.phase('removal drops');
    }
    const map = { width: s.width, height: s.height, data: minMaxNormalise(paintSegments(labels, values)) };
    const bestMask = { width: s.width, height: s.height, data: paintSegments(labels, best) };
    s.phase('graded map');

    return {
      method: 'e-lime', classIndex, score, scoreMode: mode, map, forwardPasses: s.forwardPasses, backwardPasses: 0, timings: s.timings,
      params: { ...prm, mutationRate, segmentCount: K, segmentation: opts.segments ? 'given' : quickshiftParams(opts.segmentation) },
      bestBits: best, bestFitness: ga.bestFitness, bestScore, originalScore: score, bestMask, segments: labels, segmentCount: K,
      superpixelValues: values, generations: ga.generations, stoppedEarly: ga.stoppedEarly, cacheHits, history: ga.history,
      population: ga.population, populationFitness: ga.fitness, gaHostMs,
    };
  } finally {
    s.destroy();
  }
}

/** Spec 0.3 min-max (ε = 1e-6); a constant map becomes all zeros. */
function minMaxNormalise(v: Float32Array): Float32Array {
  let lo = Infinity, hi = -Infinity;
  for (const x of v) { if (x < lo) lo = x; if (x > hi) hi = x; }
  return hi > lo ? v.map((x) => (x - lo) / (hi - lo + 1e-6)) : new Float32Array(v.length);
}
