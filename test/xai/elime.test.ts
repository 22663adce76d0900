/**
 * E-LIME (methods spec 5): the GA's operators and loop on pure host fitness functions (OneMax), the
 * GPU fitness of whole populations against a float64 CPU reference on a tiny linear model with given
 * superpixels, seeded determinism, the known-evidence CNN, cancellation and validation.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GraphBuilder, Rng } from '../../tools/onnx-writer.js';
import { Model } from '../../src/runtime/model.js';
import { GpuCompute } from '../../src/runtime/compute.js';
import { CancelledError, InputError } from '../../src/runtime/errors.js';
import { bitKey, evolve, mutate, onePointCrossover, SeededRng, tournament, uniformCrossover, type GeneticSettings } from '../../src/xai/genetic.js';
import { ELIME_DEFAULTS, elime, elimeParams, type ElimeExplanation } from '../../src/xai/elime.js';
import { testGpu } from '../helpers/gpu.js';
import { EVIDENCE, evidenceImage, evidenceModel, evidenceScore } from '../helpers/evidence-model.js';

const GA: GeneticSettings = { populationSize: 40, maxGenerations: 40, patience: 10, tournamentSize: 2, crossover: 'uniform', crossoverRate: 0.9, mutationRate: 1 / 30, elitism: 2, initProbability: 0.5, seed: 1 };
const oneMax = async (rows: readonly Uint8Array[]) => rows.map((b) => b.reduce((a, v) => a + v, 0));

describe('GA operators', () => {
  it('tournament picks the better of its draws', () => {
    const rng = new SeededRng(3);
    const fit = [0.1, 0.9];
    let wins = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) wins += tournament(fit, 2, rng);
    // Index 1 wins unless both draws are index 0: P = 3/4.
    expect(wins / n).toBeGreaterThan(0.73);
    expect(wins / n).toBeLessThan(0.77);
    // Size 1 is uniform; a huge tournament almost always finds the best of 10.
    const ten = Array.from({ length: 10 }, (_, i) => (i * 7) % 10);
    let top = 0, ones = 0;
    for (let i = 0; i < 2000; i++) { if (tournament(ten, 40, rng) === ten.indexOf(9)) top++; ones += tournament(fit, 1, rng); }
    expect(top / 2000).toBeGreaterThan(0.95);
    expect(ones / 2000).toBeGreaterThan(0.45);
    expect(ones / 2000).toBeLessThan(0.55);
  });

  it('uniform crossover swaps about half the positions and conserves bits; one-point swaps a tail', () => {
    const rng = new SeededRng(4);
    const K = 200;
    const a = Uint8Array.from({ length: K }, (_, i) => i % 2), b = Uint8Array.from(a, (v) => 1 - v);
    let swapped = 0, broken = 0;
    for (let t = 0; t < 50; t++) {
      const [c, d] = uniformCrossover(a, b, rng);
      for (let i = 0; i < K; i++) {
        if (c[i]! + d[i]! !== 1) broken++;
        if (c[i] !== a[i]) swapped++;
      }
    }
    expect(broken).toBe(0);
    expect(swapped / (50 * K)).toBeGreaterThan(0.46);
    expect(swapped / (50 * K)).toBeLessThan(0.54);
    for (let t = 0; t < 20; t++) {
      const [c, d] = onePointCrossover(a, b, rng);
      const cut = c.findIndex((v, i) => v !== a[i]);
      expect(cut).toBeGreaterThan(0);
      expect(Array.from(c)).toEqual(Array.from(a, (v, i) => (i < cut ? v : b[i])));
      expect(Array.from(d)).toEqual(Array.from(b, (v, i) => (i < cut ? v : a[i])));
    }
    // K = 1: nothing to cut.
    const [c1] = onePointCrossover(Uint8Array.of(1), Uint8Array.of(0), rng);
    expect(Array.from(c1)).toEqual([1]);
  });

  it('mutation flips bits at the given rate', () => {
    const rng = new SeededRng(5);
    const K = 100;
    let flips = 0;
    for (let t = 0; t < 400; t++) {
      const b = new Uint8Array(K).fill(1);
      mutate(b, 1 / K, rng);
      flips += K - b.reduce((x, v) => x + v, 0);
    }
    // Expected 400 flips (Binomial(40000, 0.01): sd ≈ 20).
    expect(flips).toBeGreaterThan(320);
    expect(flips).toBeLessThan(480);
    const z = new Uint8Array(K);
    mutate(z, 0, rng);
    expect(z.every((v) => v === 0)).toBe(true);
  });
});

describe('GA loop', () => {
  it('reaches the OneMax optimum, caching every individual once', async () => {
    const seen = new Set<string>();
    let calls = 0;
    const fitness = async (rows: readonly Uint8Array[]) => {
      calls++;
      for (const r of rows) {
        const k = bitKey(r);
        expect(seen.has(k)).toBe(false); // never re-evaluated, never twice in one call
        seen.add(k);
      }
      return oneMax(rows);
    };
    const r = await evolve(30, fitness, { ...GA, maxGenerations: 80, patience: 80 });
    expect(r.bestFitness).toBe(30);
    expect(Array.from(r.best)).toEqual(new Array(30).fill(1));
    expect(calls).toBe(r.history.filter((h) => h.evaluated > 0).length);
    expect(r.evaluations).toBe(seen.size);
    expect(r.evaluations + r.cacheHits).toBe(GA.populationSize * (r.generations + 1));
    expect(r.cacheHits).toBeGreaterThan(2 * r.generations); // at least the elites
    expect(r.history.length).toBe(r.generations + 1);
    // Elitism: the best never gets worse.
    for (let g = 1; g < r.history.length; g++) expect(r.history[g]!.best).toBeGreaterThanOrEqual(r.history[g - 1]!.best);
    expect(r.fitness.length).toBe(40);
    expect(r.cache.size).toBe(seen.size);
  });

  it('elitism keeps the best under destructive mutation, and without it the best can be lost', async () => {
    const destructive = { ...GA, mutationRate: 0.5, maxGenerations: 15, patience: 100 };
    const kept = await evolve(30, oneMax, { ...destructive, elitism: 2 });
    for (let g = 1; g < kept.history.length; g++) expect(kept.history[g]!.best).toBeGreaterThanOrEqual(kept.history[g - 1]!.best);
    const lost = await evolve(30, oneMax, { ...destructive, elitism: 0 });
    expect(lost.history.some((h, g) => g > 0 && h.best < lost.history[g - 1]!.best)).toBe(true);
  });

  it('stops early when the best fitness stalls', async () => {
    const flat = await evolve(12, async (rows) => rows.map(() => 1), { ...GA, patience: 4 });
    expect(flat.stoppedEarly).toBe(true);
    expect(flat.generations).toBe(4);
    expect(flat.history.length).toBe(5);
    // A run that keeps improving is not stopped early; 0 generations evaluates the initial population only.
    const none = await evolve(12, oneMax, { ...GA, maxGenerations: 0 });
    expect(none.generations).toBe(0);
    expect(none.stoppedEarly).toBe(false);
    expect(none.evaluations + none.cacheHits).toBe(40);
  });

  it('is deterministic per seed', async () => {
    const a = await evolve(20, oneMax, { ...GA, maxGenerations: 5 });
    const b = await evolve(20, oneMax, { ...GA, maxGenerations: 5 });
    const c = await evolve(20, oneMax, { ...GA, maxGenerations: 5, seed: 2 });
    expect(a.population.map(bitKey)).toEqual(b.population.map(bitKey));
    expect(a.population.map(bitKey)).not.toEqual(c.population.map(bitKey));
  });
});

// ---- tiny model: Flatten + Gemm, so Ψ(x_b) is a softmax of a linear map, easy on the CPU ----
const C0 = 3, H = 8, W = 6, P = H * W, NC = 4, KS = 7;
const rng = new Rng(41);
const Wg = Float64Array.from({ length: NC * C0 * P }, () => rng.normal() * 0.3);
const Bg = Float64Array.from({ length: NC }, () => rng.normal() * 0.2);
const image = Float32Array.from({ length: C0 * P }, () => rng.normal());
const labels = Int32Array.from({ length: P }, (_, p) => (p < KS ? p : rng.int(KS)));

function tinyModel(): Uint8Array {
  const g = new GraphBuilder('tiny-elime', 13);
  g.input('x', [1, C0, H, W]);
  const f = g.op('Flatten', ['x']);
  g.node('Gemm', [f, g.initializer('w', [NC, C0 * P], Float32Array.from(Wg)), g.initializer('b', [NC], Float32Array.from(Bg))], ['logits'], { transB: 1 });
  g.output('logits');
  return g.toBytes();
}

/** Float64 Ψ_c of the superpixel-masked image for bits b with fill [K, C]. */
function refPsi(b: ArrayLike<number>, fill: Float64Array, cls: number): number {
  const z = Float64Array.from(Bg);
  for (let ch = 0; ch < C0; ch++) {
    for (let p = 0; p < P; p++) {
      const l = labels[p]!;
      const v = b[l] ? image[ch * P + p]! : fill[l * C0 + ch]!;
      for (let k = 0; k < NC; k++) z[k]! += Wg[k * C0 * P + ch * P + p]! * v;
    }
  }
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  return e[cls]! / e.reduce((a, v) => a + v, 0);
}

function meanFill(): Float64Array {
  const sum = new Float64Array(KS * C0), cnt = new Float64Array(KS);
  for (let p = 0; p < P; p++) { cnt[labels[p]!]!++; for (let ch = 0; ch < C0; ch++) sum[labels[p]! * C0 + ch]! += image[ch * P + p]!; }
  return sum.map((v, i) => v / cnt[Math.floor(i / C0)]!);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function refMinMax(v: ArrayLike<number>): Float64Array {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < v.length; i++) { lo = Math.min(lo, v[i]!); hi = Math.max(hi, v[i]!); }
  return Float64Array.from(v, (x) => (hi > lo ? (x - lo) / (hi - lo + 1e-6) : 0));
}

/** Checks every GPU fitness of the final population, the history's last entry and the maps. */
function checkAgainstReference(e: ElimeExplanation, fill: Float64Array, lambda: number): void {
  const ref = e.population.map((b) => refPsi(b, fill, e.classIndex) - (lambda * b.reduce((a, v) => a + v, 0)) / KS);
  expect(maxAbsDiff(e.populationFitness, ref)).toBeLessThan(2e-6);
  const last = e.history.at(-1)!;
  expect(last.best).toBeCloseTo(Math.max(...ref), 5);
  expect(last.mean).toBeCloseTo(ref.reduce((a, v) => a + v, 0) / ref.length, 5);
  expect(e.bestScore).toBeCloseTo(refPsi(e.bestBits, fill, e.classIndex), 5);
  expect(e.bestFitness).toBeCloseTo(Math.max(...ref), 5);
  expect(Array.from(e.bestMask.data)).toEqual(Array.from(labels, (l) => e.bestBits[l]));
}

describe('E-LIME on the GPU', () => {
  afterEach(() => { vi.restoreAllMocks(); });

  it('population fitness matches the float64 reference, one batched pass per generation', async () => {
    const gpu = await testGpu();
    const model = await Model.load(tinyModel(), { gpu });
    try {
      const progress: number[] = [];
      const opts = { segments: labels, classIndex: 2, populationSize: 12, maxGenerations: 6, seed: 3, graded: 'frequency' as const };
      const e = await elime(model, image, { ...opts, onProgress: (p) => progress.push(p.done) });
      expect(e.method).toBe('e-lime');
      expect(e.segmentCount).toBe(KS);
      checkAgainstReference(e, meanFill(), 1e-4);
      const evaluated = e.history.reduce((a, h) => a + h.evaluated, 0);
      expect(e.forwardPasses).toBe(1 + evaluated);
      expect(e.cacheHits + evaluated).toBe(12 * (e.generations + 1));
      expect(progress.length).toBe(e.history.filter((h) => h.evaluated > 0).length);
      expect(e.originalScore).toBeCloseTo(refPsi(new Array(KS).fill(1), meanFill(), 2), 5);
      expect(e.params).toMatchObject({ populationSize: 12, maxGenerations: 6, seed: 3, mutationRate: 1 / KS, sparsityTieBreak: 1e-4, graded: 'frequency', hide: 'mean', segmentCount: KS });
      // Graded map: selection frequency in the final population, min-max normalised.
      const freq = Array.from({ length: KS }, (_, j) => e.population.reduce((a, b) => a + b[j]!, 0) / e.population.length);
      expect(maxAbsDiff(e.superpixelValues, freq)).toBe(0);
      expect(maxAbsDiff(e.map.data, refMinMax(Array.from(labels, (l) => freq[l]!)))).toBeLessThan(1e-6);
      expect(e.timings).toHaveProperty('segmentation');
      expect(e.gaHostMs).toBeLessThanOrEqual(e.timings.evolution!);

      // Split batches (batchSize 5 < population) give the same fitness; progress is per batch.
      const split: number[] = [];
      const f = await elime(model, image, { ...opts, batchSize: 5, onProgress: (p) => split.push(p.done) });
      expect(f.population.map(bitKey)).toEqual(e.population.map(bitKey));
      expect(maxAbsDiff(f.populationFitness, e.populationFitness)).toBeLessThan(1e-6);
      expect(split.length).toBe(f.history.reduce((a, h) => a + Math.ceil(h.evaluated / 5), 0));
    } finally {
      model.destroy();
    }
  });

  it('baseline fill, no tie-break, and the removal-drop map match the reference', async () => {
    const gpu = await testGpu();
    const model = await Model.load(tinyModel(), { gpu });
    try {
      const baseline = [0.3, -0.2, 0.1];
      const e = await elime(model, image, { segments: labels, classIndex: 1, populationSize: 10, maxGenerations: 4, seed: 9, hide: 'baseline', baseline, sparsityTieBreak: 0, graded: 'removal-drop', crossover: 'one-point', batchSize: 4 });
      const fill = Float64Array.from({ length: KS * C0 }, (_, i) => baseline[i % C0]!);
      checkAgainstReference(e, fill, 0);
      const best = e.bestBits;
      const psiBest = refPsi(best, fill, 1);
      const drops = Array.from({ length: KS }, (_, j) => {
        if (!best[j]) return 0;
        const r = Array.from(best); r[j] = 0;
        return psiBest - refPsi(r, fill, 1);
      });
      expect(maxAbsDiff(e.superpixelValues, drops)).toBeLessThan(1e-6);
      expect(maxAbsDiff(e.map.data, refMinMax(Array.from(labels, (l) => drops[l]!)))).toBeLessThan(1e-3);
      expect(e.timings).toHaveProperty('removal drops');
      const evaluated = e.history.reduce((a, h) => a + h.evaluated, 0);
      expect(e.forwardPasses).toBeGreaterThanOrEqual(1 + evaluated);
      expect(e.forwardPasses).toBeLessThanOrEqual(1 + evaluated + best.reduce((a, v) => a + v, 0));
    } finally {
      model.destroy();
    }
  });

  it('is deterministic per seed; another seed gives another map', async () => {
    const gpu = await testGpu();
    const model = await Model.load(tinyModel(), { gpu });
    try {
      const opts = { segments: labels, classIndex: 0, populationSize: 10, maxGenerations: 3 };
      const a = await elime(model, image, { ...opts, seed: 5 });
      const b = await elime(model, image, { ...opts, seed: 5 });
      expect(Array.from(b.map.data)).toEqual(Array.from(a.map.data));
      expect(Array.from(b.populationFitness)).toEqual(Array.from(a.populationFitness));
      const c = await elime(model, image, { ...opts, seed: 6 });
      expect(maxAbsDiff(c.map.data, a.map.data)).toBeGreaterThan(1e-2);
    } finally {
      model.destroy();
    }
  });

  it('finds the known evidence (bright square) on 4×4-pixel grid superpixels and raises the confidence', async () => {
    const gpu = await testGpu();
    const model = await Model.load(evidenceModel(), { gpu });
    try {
      // Hidden cells take the baseline (0 = dataset mean): the mean-colour fill of a cell inside a
      // uniform square is the square's own colour, which would hide nothing.
      const { size: S, square: q } = EVIDENCE;
      const cell = 4, n = S / cell;
      const seg = Int32Array.from({ length: S * S }, (_, p) => Math.floor(Math.floor(p / S) / cell) * n + Math.floor((p % S) / cell));
      const inside: number[] = [];
      for (let cy = 0; cy < n; cy++) for (let cx = 0; cx < n; cx++) {
        if (cx * cell >= q.x0 && (cx + 1) * cell <= q.x1 && cy * cell >= q.y0 && (cy + 1) * cell <= q.y1) inside.push(cy * n + cx);
      }
      expect(inside.length).toBe(4);
      const opts = { classIndex: 0, segments: seg, hide: 'baseline' as const };
      const e = await elime(model, evidenceImage(), { ...opts, graded: 'frequency' });
      expect(inside.map((j) => e.bestBits[j])).toEqual([1, 1, 1, 1]);
      expect(e.bestScore).toBeGreaterThan(e.originalScore);
      expect(e.forwardPasses).toBeLessThan(40 * 41 + 1);
      // Selection frequency: the square's cells are kept by the whole final population; neutral
      // background cells drift, so the frequency map is flat outside and only mildly concentrated.
      for (const j of inside) expect(e.superpixelValues[j]).toBeGreaterThanOrEqual(0.9);
      const r = evidenceScore(e.map.data);
      expect(r.energyInside).toBeGreaterThan(r.areaShare);
      // Removal drop (same seed, same GA run): the square's cells carry the evidence; the peak is inside.
      const drop = await elime(model, evidenceImage(), opts); // the default graded map
      expect(Array.from(drop.bestBits)).toEqual(Array.from(e.bestBits));
      const rd = evidenceScore(drop.map.data);
      expect(rd.peakInside).toBe(true);
      expect(rd.energyInside).toBeGreaterThan(0.5);
    } finally {
      model.destroy();
    }
  });

  it('segments with quickshift (LIME defaults) when no segments are given', async () => {
    const gpu = await testGpu();
    const model = await Model.load(tinyModel(), { gpu });
    try {
      const e = await elime(model, image, { populationSize: 6, maxGenerations: 2, classIndex: 3 });
      expect(e.params.segmentation).toEqual({ kernelSize: 4, maxDist: 200, ratio: 0.2, seed: 0 });
      expect(e.segments.length).toBe(P);
      expect(Math.max(...e.segments) + 1).toBe(e.segmentCount);
      expect(e.timings.segmentation).toBeGreaterThan(0);
      expect(e.map.data.every((v) => v >= 0 && v <= 1)).toBe(true);
      expect(e.population.every((b) => b.length === e.segmentCount)).toBe(true);
    } finally {
      model.destroy();
    }
  });

  it('cancels mid-run with CancelledError and frees its GPU memory', async () => {
    const gpu = await testGpu();
    const model = await Model.load(tinyModel(), { gpu });
    const destroy = vi.spyOn(GpuCompute.prototype, 'destroy');
    try {
      const ac = new AbortController();
      let calls = 0;
      const run = elime(model, image, { segments: labels, populationSize: 10, maxGenerations: 30, patience: 30, signal: ac.signal, onProgress: () => { if (++calls === 2) ac.abort(); } });
      await expect(run).rejects.toBeInstanceOf(CancelledError);
      expect(calls).toBe(2);
      expect(destroy).toHaveBeenCalledTimes(1);
    } finally {
      model.destroy();
    }
  });

  it('resolves defaults and rejects bad parameters', async () => {
    expect(elimeParams()).toEqual({ ...ELIME_DEFAULTS });
    expect(elimeParams()).toMatchObject({ populationSize: 40, maxGenerations: 40, patience: 10, tournamentSize: 2, crossover: 'uniform', crossoverRate: 0.9, mutationRate: 'auto', elitism: 2, initProbability: 0.5, sparsityTieBreak: 1e-4, graded: 'removal-drop', hide: 'mean', seed: 0, batchSize: 64, scoreMode: 'softmax' });
    for (const bad of [{ populationSize: 1 }, { maxGenerations: -1 }, { patience: 0 }, { tournamentSize: 1.5 }, { elitism: 40 }, { crossoverRate: 1.1 }, { mutationRate: -0.1 },
      { initProbability: Number.NaN }, { sparsityTieBreak: -1 }, { crossover: 'two-point' as never }, { graded: 'shap' as never }, { hide: 'blur' as never }, { seed: 2 ** 32 }, { batchSize: 0 }]) {
      expect(() => elimeParams(bad), JSON.stringify(bad)).toThrow(InputError);
    }
    const gpu = await testGpu();
    const model = await Model.load(tinyModel(), { gpu });
    try {
      await expect(elime(model, image, { segments: labels.subarray(1) })).rejects.toThrow(InputError);
      await expect(elime(model, image, { segments: labels, classIndex: NC })).rejects.toThrow(InputError);
      await expect(elime(model, image, { segments: labels, hide: 'baseline', baseline: [1, 2] })).rejects.toThrow(InputError);
    } finally {
      model.destroy();
    }
  });
});
