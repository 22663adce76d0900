/**
 * RISE (methods spec 6.1): the GPU mask generator against a float64 CPU reference of the same
 * generator, the saliency of every class against a float64 reference on a tiny model whose scores
 * are easy on the CPU, the early stop against the same reference, seeded determinism, the
 * known-evidence CNN, and cancellation.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GraphBuilder, Rng } from '../../tools/onnx-writer.js';
import { Model } from '../../src/runtime/model.js';
import { GpuCompute } from '../../src/runtime/compute.js';
import { CancelledError, InputError } from '../../src/runtime/errors.js';
import { riseClassChunks, riseMasksProgram } from '../../src/kernels/rise-masks.js';
import { rise, riseParams } from '../../src/xai/rise.js';
import { METHODS } from '../../src/xai/explain.js';
import { runProgram } from '../helpers/run-program.js';
import { testGpu } from '../helpers/gpu.js';
import { evidenceImage, evidenceModel, evidenceScore } from '../helpers/evidence-model.js';

// ---- float64 reference of the generator ----
function pcgRef(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** Mask i of the sequence, as scikit-image would make it from the hashed grid and shifts. */
function refMask(H: number, W: number, s: number, p: number, seed: number, i: number): Float64Array {
  const key = (pcgRef(seed) + i) >>> 0;
  const k = pcgRef(key);
  const draw = (slot: number) => pcgRef((k ^ pcgRef(slot)) >>> 0);
  const thr = Math.floor(p * 2 ** 24);
  const grid = new Float64Array(s * s);
  for (let j = 0; j < s * s; j++) grid[j] = (draw(2 + j) >>> 8) < thr ? 1 : 0;
  const cH = Math.ceil(H / s), cW = Math.ceil(W / s);
  const dy = draw(0) % cH, dx = draw(1) % cW;
  // scipy.ndimage.zoom(grid_mode=True, mode='mirror') = skimage resize(order=1, mode='reflect'):
  // source coordinate of output index r, linear taps, out-of-range taps mirrored (-1 → 1, s → s-2).
  const mirror = (q: number) => (s === 1 ? 0 : q < 0 ? -q : q > s - 1 ? 2 * (s - 1) - q : q);
  const axis = (r: number, up: number) => {
    const src = ((r + 0.5) * s) / up - 0.5;
    const f = Math.floor(src);
    return { a: mirror(f), b: mirror(f + 1), t: src - f };
  };
  const out = new Float64Array(H * W);
  for (let y = 0; y < H; y++) {
    const ay = axis(y + dy, (s + 1) * cH);
    for (let x = 0; x < W; x++) {
      const ax = axis(x + dx, (s + 1) * cW);
      const g = (r: number, c: number) => grid[r * s + c]!;
      out[y * W + x] = (1 - ay.t) * ((1 - ax.t) * g(ay.a, ax.a) + ax.t * g(ay.a, ax.b)) + ay.t * ((1 - ax.t) * g(ay.b, ax.a) + ax.t * g(ay.b, ax.b));
    }
  }
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('RISE masks', () => {
  for (const g of [{ H: 13, W: 9, s: 4, p: 0.4, seed: 7, start: 5, n: 6 }, { H: 16, W: 16, s: 7, p: 0.5, seed: 0xfffffff0, start: 0, n: 3 }, { H: 8, W: 8, s: 1, p: 1, seed: 3, start: 2, n: 2 }]) {
    it(`match the float64 generator (${g.H}x${g.W}, s=${g.s}, p=${g.p})`, async () => {
      const [m] = await runProgram((ctx) => riseMasksProgram(ctx, { height: g.H, width: g.W, gridSize: g.s, probability: g.p, seed: g.seed }, g.start, g.n), [], [g.n * g.H * g.W]);
      const ref = new Float64Array(g.n * g.H * g.W);
      for (let i = 0; i < g.n; i++) ref.set(refMask(g.H, g.W, g.s, g.p, g.seed, g.start + i), i * g.H * g.W);
      expect(maxAbsDiff(m!, ref)).toBeLessThan(1e-5);
      // Masks are genuinely mixed (not all one value) unless p = 1.
      if (g.p < 1) expect(new Set(Array.from(m!, (v) => v.toFixed(3))).size).toBeGreaterThan(3);
    });
  }

  it('cell frequency follows p', () => {
    let ones = 0;
    const n = 400;
    for (let i = 0; i < n; i++) {
      const m = refMask(7, 7, 7, 0.3, 1, i);
      // With H = s, cell size 1: pixel values are grid cells blended with neighbours; count the mean.
      ones += m.reduce((a, b) => a + b, 0) / m.length;
    }
    expect(ones / n).toBeGreaterThan(0.25);
    expect(ones / n).toBeLessThan(0.35);
  });
});

// ---- tiny model: GlobalAveragePool + Gemm, so Ψ(x ⊙ M) is easy on the CPU ----
const C0 = 3, H = 12, W = 10, K = 5;
const rng = new Rng(99);
const Wg = Float64Array.from({ length: K * C0 }, () => rng.normal() * 3);
const Bg = Float64Array.from({ length: K }, () => rng.normal() * 0.5);
const image = Float32Array.from({ length: C0 * H * W }, () => rng.normal());

function tinyModel(): Uint8Array {
  const g = new GraphBuilder('tiny-rise', 13);
  g.input('x', [1, C0, H, W]);
  const gap = g.op('GlobalAveragePool', ['x']);
  const f = g.op('Flatten', [gap]);
  g.node('Gemm', [f, g.initializer('w', [K, C0], Float32Array.from(Wg)), g.initializer('b', [K], Float32Array.from(Bg))], ['logits'], { transB: 1 });
  g.output('logits');
  return g.toBytes();
}

/** S over masks first .. first+N−1 of the sequence, scaled by 1/(N·p). */
function refSaliency(N: number, s: number, p: number, seed: number, first = 0): Float64Array {
  const P = H * W;
  const S = new Float64Array(K * P);
  for (let i = first; i < first + N; i++) {
    const m = refMask(H, W, s, p, seed, i);
    const z = Float64Array.from(Bg);
    for (let c = 0; c < C0; c++) {
      let mean = 0;
      for (let q = 0; q < P; q++) mean += image[c * P + q]! * m[q]!;
      mean /= P;
      for (let k = 0; k < K; k++) z[k]! += Wg[k * C0 + c]! * mean;
    }
    const mx = Math.max(...z);
    const e = z.map((v) => Math.exp(v - mx));
    const sum = e.reduce((a, b) => a + b, 0);
    for (let k = 0; k < K; k++) for (let q = 0; q < P; q++) S[k * P + q]! += (e[k]! / sum) * m[q]!;
  }
  return S.map((v) => v / (N * p));
}

function minMax(v: ArrayLike<number>): Float64Array {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < v.length; i++) { lo = Math.min(lo, v[i]!); hi = Math.max(hi, v[i]!); }
  return Float64Array.from(v, (x) => (x - lo) / (hi - lo + 1e-6));
}

describe('RISE saliency', () => {
  afterEach(() => { vi.restoreAllMocks(); });

  it('every class at once matches the float64 reference', async () => {
    const gpu = await testGpu();
    const model = await Model.load(tinyModel(), { gpu });
    try {
      const opts = { masks: 70, gridSize: 3, probability: 0.4, seed: 11, batchSize: 16, classIndex: 2 };
      const progress: number[] = [];
      const e = await rise(model, image, { ...opts, allClasses: true, onProgress: (p) => progress.push(p.done) });
      const ref = refSaliency(70, 3, 0.4, 11);
      expect(e.classMaps).toBeDefined();
      expect(e.classMapClasses).toEqual([0, 1, 2, 3, 4]);
      expect(maxAbsDiff(e.classMaps!, ref)).toBeLessThan(1e-4);
      const P = H * W;
      expect(maxAbsDiff(e.map.data, minMax(ref.subarray(2 * P, 3 * P)))).toBeLessThan(1e-4);
      expect(e.forwardPasses).toBe(71);
      expect(progress).toEqual([16, 32, 48, 64, 70]);
      expect(e.params).toMatchObject({ masks: 70, gridSize: 3, probability: 0.4, seed: 11, batchSize: 16, cellSize: [4, 4] });
      // Only the requested classes: the same rows.
      const sub = await rise(model, image, { ...opts, classes: [4, 0] });
      expect(sub.classMapClasses).toEqual([2, 4, 0]);
      const rows = [2, 4, 0].map((c) => ref.subarray(c * P, (c + 1) * P));
      rows.forEach((r, j) => expect(maxAbsDiff(sub.classMaps!.subarray(j * P, (j + 1) * P), r)).toBeLessThan(1e-4));
      expect(maxAbsDiff(sub.map.data, e.map.data)).toBeLessThan(1e-6);
      // Default: only the explained class, no class maps.
      const one = await rise(model, image, opts);
      expect(one.classMaps).toBeUndefined();
      expect(maxAbsDiff(one.map.data, e.map.data)).toBeLessThan(1e-6);
    } finally {
      model.destroy();
    }
  });

  it('splits a large accumulator into binding-sized class chunks', async () => {
    expect(riseClassChunks(1000, 224 * 224, 128 * 2 ** 20)).toEqual([{ c0: 0, kc: 668 }, { c0: 668, kc: 332 }]);
    expect(riseClassChunks(3, 10, 1)).toEqual([{ c0: 0, kc: 1 }, { c0: 1, kc: 1 }, { c0: 2, kc: 1 }]);
    // A device whose binding limit holds three class maps (and the batch-1 input): chunks of 3, 2.
    const gpu = await testGpu();
    const small = { ...gpu, traits: { ...gpu.traits, maxStorageBufferBindingSize: 3 * H * W * 4 } };
    const model = await Model.load(tinyModel(), { gpu: small });
    try {
      const e = await rise(model, image, { masks: 20, gridSize: 3, probability: 0.4, seed: 11, batchSize: 1, allClasses: true });
      expect(maxAbsDiff(e.classMaps!, refSaliency(20, 3, 0.4, 11))).toBeLessThan(1e-4);
    } finally {
      model.destroy();
    }
  });

  it('is deterministic per seed, independent of the batch size', async () => {
    const gpu = await testGpu();
    const model = await Model.load(tinyModel(), { gpu });
    try {
      const opts = { masks: 48, gridSize: 4, classIndex: 1, classes: [] };
      const a = await rise(model, image, { ...opts, seed: 5, batchSize: 16 });
      const b = await rise(model, image, { ...opts, seed: 5, batchSize: 16 });
      expect(Array.from(b.map.data)).toEqual(Array.from(a.map.data));
      expect(Array.from(b.classMaps!)).toEqual(Array.from(a.classMaps!));
      const c = await rise(model, image, { ...opts, seed: 5, batchSize: 7 });
      expect(maxAbsDiff(c.classMaps!, a.classMaps!)).toBeLessThan(1e-6);
      const d = await rise(model, image, { ...opts, seed: 6, batchSize: 16 });
      expect(maxAbsDiff(d.map.data, a.map.data)).toBeGreaterThan(1e-2);
    } finally {
      model.destroy();
    }
  });

  it('finds the known evidence (bright square) with N=500, s=4', async () => {
    const gpu = await testGpu();
    const model = await Model.load(evidenceModel(), { gpu });
    try {
      const e = await METHODS.rise!(model, evidenceImage(), { classIndex: 0, masks: 500, gridSize: 4, batchSize: 50 } as never);
      expect(e.method).toBe('rise');
      expect(e.map.data.every(Number.isFinite)).toBe(true);
      expect(Math.max(...e.map.data)).toBeCloseTo(1, 3);
      const r = evidenceScore(e.map.data);
      expect(r.peakInside).toBe(true);
      expect(r.energyInside).toBeGreaterThan(r.areaShare);
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
      const run = rise(model, image, { masks: 400, gridSize: 3, batchSize: 8, signal: ac.signal, onProgress: () => { if (++calls === 2) ac.abort(); } });
      await expect(run).rejects.toBeInstanceOf(CancelledError);
      expect(calls).toBe(2);
      expect(destroy).toHaveBeenCalledTimes(1);
    } finally {
      model.destroy();
    }
  });

  it('stops early once the split-half error estimate is below the tolerance, with the result of RISE at the masks it used', async () => {
    const gpu = await testGpu();
    const model = await Model.load(tinyModel(), { gpu });
    try {
      // Reference: class row over even and odd batches of 8 masks, at each check (every 16 masks).
      const P = H * W, cls = 2, every = 16, batch = 8, N = 320;
      const halfSum = (from: number, to: number, parity: number) => {
        const acc = new Float64Array(P);
        for (let b = from; b < to; b += batch) {
          if ((b / batch) % 2 !== parity) continue;
          const S = refSaliency(batch, 3, 0.4, 11, b);
          for (let q = 0; q < P; q++) acc[q]! += S[cls * P + q]!;
        }
        return acc;
      };
      const refErrors: number[] = [];
      const A = new Float64Array(P), B = new Float64Array(P);
      for (let n = every; n < N; n += every) {
        A.set(A.map((v, q) => v + halfSum(n - every, n, 0)[q]!)); B.set(B.map((v, q) => v + halfSum(n - every, n, 1)[q]!));
        const d = minMax(A).reduce((acc, v, q) => acc + Math.abs(v - minMax(B)[q]!), 0) / P;
        refErrors.push(d * Math.sqrt((n / 2) * (n / 2)) / n);
      }
      // A tolerance that the j-th estimate clears with margin and every earlier one misses with margin.
      const j = refErrors.findIndex((v, i) => i >= 1 && v < 0.8 * Math.min(...refErrors.slice(0, i)));
      expect(j).toBeGreaterThan(0);
      const tolerance = refErrors[j]! * 1.1;
      const used = every * (j + 1);
      const opts = { masks: N, gridSize: 3, probability: 0.4, seed: 11, batchSize: batch, classIndex: cls, classes: [] };
      const e = await rise(model, image, { ...opts, tolerance, checkEvery: every });
      expect(e.params).toMatchObject({ masksUsed: used, tolerance, checkEvery: every });
      expect(e.params.checkedAt).toEqual(Array.from({ length: j + 1 }, (_, i) => every * (i + 1)));
      const errors = e.params.errorEstimates as number[];
      expect(errors).toHaveLength(j + 1);
      errors.forEach((v, i) => expect(Math.abs(v - refErrors[i]!)).toBeLessThan(1e-4));
      expect(e.forwardPasses).toBe(used + 1);
      // Rescaled to S over the masks it used, so it is RISE with masks = used.
      const ref = refSaliency(used, 3, 0.4, 11).subarray(cls * P, (cls + 1) * P);
      expect(maxAbsDiff(e.classMaps!, ref)).toBeLessThan(1e-4);
      expect(maxAbsDiff(e.map.data, minMax(ref))).toBeLessThan(1e-4);
      // A tolerance never reached runs all N masks.
      const all = await rise(model, image, { ...opts, masks: 64, tolerance: 1e-9, checkEvery: every });
      expect(all.params).toMatchObject({ masksUsed: 64 });
      expect(all.forwardPasses).toBe(65);
      expect(maxAbsDiff(all.classMaps!, refSaliency(64, 3, 0.4, 11).subarray(cls * P, (cls + 1) * P))).toBeLessThan(1e-4);
      const plain = await rise(model, image, { ...opts, masks: 64 });
      expect(plain.params.masksUsed).toBeUndefined();
    } finally {
      model.destroy();
    }
  });

  it('resolves presets and rejects bad parameters', () => {
    expect(riseParams()).toEqual({ preset: 'paper', masks: 4000, gridSize: 7, probability: 0.5, seed: 0, batchSize: 32, scoreMode: 'softmax', checkEvery: 500 });
    expect(riseParams({ preset: 'torchray' })).toEqual({ preset: 'torchray', masks: 8000, gridSize: 7, probability: 0.5, seed: 0, batchSize: 32, scoreMode: 'sigmoid', checkEvery: 500 });
    expect(riseParams({ tolerance: 0.01 }).tolerance).toBe(0.01);
    expect(() => riseParams({ tolerance: 0 })).toThrow(InputError);
    expect(() => riseParams({ checkEvery: 0 })).toThrow(InputError);
    expect(riseParams({ preset: 'torchray', masks: 10, scoreMode: 'softmax' })).toMatchObject({ masks: 10, scoreMode: 'softmax' });
    expect(() => riseParams({ probability: 0 })).toThrow(InputError);
    expect(() => riseParams({ masks: 1.5 })).toThrow(InputError);
    expect(() => riseParams({ seed: -1 })).toThrow(InputError);
  });
});
