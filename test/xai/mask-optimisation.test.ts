/**
 * Mask optimisation (methods spec 3.2 [P]): the GPU perturbation/up-sampling kernel against a
 * float64 bilinear reference, the GPU SPSA update (SGD and Adam) and whole runs against a float64
 * CPU reference with the same hashed δ on a tiny model whose score is cheap on the CPU, the
 * known-evidence CNN, seeded determinism, cancellation and parameter validation.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GraphBuilder, Rng } from '../../tools/onnx-writer.js';
import { Model } from '../../src/runtime/model.js';
import { GpuCompute } from '../../src/runtime/compute.js';
import { CancelledError, InputError } from '../../src/runtime/errors.js';
import { spsaMasksProgram, spsaUpdateProgram, type SpsaUpdateParams } from '../../src/kernels/spsa.js';
import { maskOptimisation, maskOptimisationParams } from '../../src/xai/mask-optimisation.js';
import { runProgram } from '../helpers/run-program.js';
import { testGpu } from '../helpers/gpu.js';
import { EVIDENCE, evidenceImage, evidenceModel, evidenceScore } from '../helpers/evidence-model.js';

// ---- float64 reference of the hash, the perturbations and the up-sampling ----
function pcgRef(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}
const keyRef = (seed: number, stream: number) => pcgRef((pcgRef(seed) + stream) >>> 0);
const drawRef = (key: number, k: number) => pcgRef((key ^ pcgRef(k)) >>> 0);
/** δ_{t,q} ∈ {±1}^R: the top bit of the hash of (iteration t + 1, q·R + j). */
function deltaRef(seed: number, t: number, q: number, R: number): Float64Array {
  const key = keyRef(seed, t + 1);
  return Float64Array.from({ length: R }, (_, j) => (drawRef(key, q * R + j) >>> 31 ? 1 : -1));
}
function initRef(seed: number, R: number): Float64Array {
  const key = keyRef(seed, 0);
  return Float64Array.from({ length: R }, (_, j) => ((drawRef(key, j) >>> 8) + 0.5) / 2 ** 24);
}
const clip = (v: number) => Math.min(1, Math.max(0, v));

/** PyTorch F.interpolate(bilinear, align_corners=False) of a gh×gw grid to H×W. */
function upsampleRef(g: ArrayLike<number>, gh: number, gw: number, H: number, W: number): Float64Array {
  const axis = (o: number, inSize: number, outSize: number) => {
    const src = Math.max(((o + 0.5) * inSize) / outSize - 0.5, 0);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    return { i0, i1, l: i0 < inSize - 1 ? src - i0 : 0 };
  };
  const out = new Float64Array(H * W);
  for (let y = 0; y < H; y++) {
    const ay = axis(y, gh, H);
    for (let x = 0; x < W; x++) {
      const ax = axis(x, gw, W);
      const v = (r: number, c: number) => g[r * gw + c]!;
      out[y * W + x] = (1 - ay.l) * ((1 - ax.l) * v(ay.i0, ax.i0) + ax.l * v(ay.i0, ax.i1)) + ay.l * ((1 - ax.l) * v(ay.i1, ax.i0) + ax.l * v(ay.i1, ax.i1));
    }
  }
  return out;
}

/** The 2Q clipped perturbed grids of iteration t: rows 0..Q−1 = m + σδ, Q..2Q−1 = m − σδ. */
function perturbedRef(m: ArrayLike<number>, Q: number, sigma: number, seed: number, t: number): Float64Array[] {
  const R = m.length;
  const deltas = Array.from({ length: Q }, (_, q) => deltaRef(seed, t, q, R));
  return Array.from({ length: 2 * Q }, (_, i) => {
    const d = deltas[i % Q]!, s = i < Q ? sigma : -sigma;
    return Float64Array.from({ length: R }, (_, j) => clip(m[j]! + s * d[j]!));
  });
}

interface StepRef { m: Float64Array; a: Float64Array; v: Float64Array; meanJ: number }
/** One SPSA step from the 2Q row scores Ψ (float64). */
function stepRef(m: ArrayLike<number>, psi: ArrayLike<number>, o: { Q: number; sigma: number; lambda: number; eta: number; seed: number; t: number; adam?: { a: ArrayLike<number>; v: ArrayLike<number> } }): StepRef {
  const R = m.length;
  const rows = perturbedRef(m, o.Q, o.sigma, o.seed, o.t);
  const J = rows.map((r, i) => psi[i]! - o.lambda * (r.reduce((s, x) => s + x, 0) / R));
  const g = new Float64Array(R);
  for (let q = 0; q < o.Q; q++) {
    const d = deltaRef(o.seed, o.t, q, R);
    for (let j = 0; j < R; j++) g[j]! += ((J[q]! - J[o.Q + q]!) / (2 * o.sigma)) * d[j]!;
  }
  const a = new Float64Array(R), v = new Float64Array(R);
  const next = Float64Array.from({ length: R }, (_, j) => {
    let step = g[j]! / o.Q;
    if (o.adam) {
      a[j] = 0.9 * o.adam.a[j]! + 0.1 * step;
      v[j] = 0.999 * o.adam.v[j]! + 0.001 * step * step;
      step = a[j]! / (1 - 0.9 ** (o.t + 1)) / (Math.sqrt(v[j]! / (1 - 0.999 ** (o.t + 1))) + 1e-8);
    }
    return clip(m[j]! + o.eta * step);
  });
  return { m: next, a, v, meanJ: J.reduce((s, x) => s + x, 0) / J.length };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let mx = 0;
  for (let i = 0; i < a.length; i++) mx = Math.max(mx, Math.abs(a[i]! - b[i]!));
  return mx;
}
function minMax(v: ArrayLike<number>): Float64Array {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < v.length; i++) { lo = Math.min(lo, v[i]!); hi = Math.max(hi, v[i]!); }
  return Float64Array.from(v, (x) => (x - lo) / (hi - lo + 1e-6));
}
const u32Word = (t: number) => new Float32Array(Uint32Array.of(t, 0, 0, 0).buffer);

describe('SPSA kernels', () => {
  for (const g of [{ H: 13, W: 9, gh: 4, gw: 3, Q: 3, t: 5, row0: 1, n: 4, sigma: 0.1, seed: 7 }, { H: 8, W: 8, gh: 8, gw: 8, Q: 2, t: 0, row0: 0, n: 4, sigma: 0.3, seed: 0xfffffff0 },
    { H: 11, W: 16, gh: 5, gw: 7, Q: 4, t: 2, row0: 0, n: 1, sigma: 0, seed: 3 }]) {
    it(`perturbed masks match the float64 bilinear reference (${g.H}x${g.W} from ${g.gh}x${g.gw}, σ=${g.sigma})`, async () => {
      const rng = new Rng(g.seed);
      const R = g.gh * g.gw;
      // Values near 0 and 1 make the clipping matter.
      const m = Float32Array.from({ length: R }, (_, j) => (j % 5 === 0 ? 0.02 : j % 5 === 1 ? 0.97 : rng.next()));
      const [out] = await runProgram((ctx) => spsaMasksProgram(ctx, { height: g.H, width: g.W, gridH: g.gh, gridW: g.gw, pairs: g.Q, sigma: g.sigma, seed: g.seed }, g.row0, g.n), [m, u32Word(g.t)], [g.n * g.H * g.W]);
      const rows = perturbedRef(m, g.Q, g.sigma, g.seed, g.t);
      const ref = new Float64Array(g.n * g.H * g.W);
      for (let i = 0; i < g.n; i++) ref.set(upsampleRef(rows[g.row0 + i]!, g.gh, g.gw, g.H, g.W), i * g.H * g.W);
      expect(maxAbsDiff(out!, ref)).toBeLessThan(1e-5);
      if (g.sigma === 0) expect(maxAbsDiff(out!, upsampleRef(m, g.gh, g.gw, g.H, g.W))).toBeLessThan(1e-5);
    });
  }

  it('δ signs are balanced and differ between pairs and iterations', () => {
    const a = deltaRef(1, 0, 0, 4000), b = deltaRef(1, 0, 1, 4000), c = deltaRef(1, 1, 0, 4000);
    const mean = a.reduce((s, x) => s + x, 0) / a.length;
    expect(Math.abs(mean)).toBeLessThan(0.06);
    const agree = (x: Float64Array, y: Float64Array) => x.reduce((s, v, i) => s + (v === y[i] ? 1 : 0), 0) / x.length;
    expect(agree(a, b)).toBeGreaterThan(0.45); expect(agree(a, b)).toBeLessThan(0.55);
    expect(agree(a, c)).toBeGreaterThan(0.45); expect(agree(a, c)).toBeLessThan(0.55);
  });

  it('init and SGD/Adam updates match the float64 step', async () => {
    const gpu = await testGpu();
    const c = new GpuCompute(gpu);
    try {
      const Q = 5, R = 150, T = 4, seed = 21;
      const rng = new Rng(4);
      for (const optimiser of ['sgd', 'adam'] as const) {
        const p: SpsaUpdateParams = { cells: R, pairs: Q, seed, sigma: 0.08, lambda: 0.15, learningRate: optimiser === 'sgd' ? 0.3 : 0.05, optimiser, traceLength: T };
        const scores = c.alloc([2 * Q]);
        const m = c.alloc([R]); c.fill(m, NaN);
        const state = c.upload(Uint32Array.of(99, 0, 0, 0), [4]);
        const moments = c.alloc([2, R]); c.fill(moments, NaN);
        const trace = c.alloc([T]); c.fill(trace, NaN);
        const io = { inputs: [scores], outputs: [m, state, moments, trace] };
        c.run(spsaUpdateProgram(c.ctx, p, true), io);
        const m0 = await c.read(m);
        expect(maxAbsDiff(m0, initRef(seed, R))).toBeLessThan(1e-7);
        expect(Array.from(await c.read(moments)).every((x) => x === 0)).toBe(true);
        let ref = Float64Array.from(m0);
        let a: ArrayLike<number> = new Float64Array(R), v: ArrayLike<number> = new Float64Array(R);
        const update = spsaUpdateProgram(c.ctx, p);
        for (let t = 0; t < 3; t++) {
          const psi = Float32Array.from({ length: 2 * Q }, () => rng.next());
          c.write(scores, psi);
          c.run(update, io);
          const st = stepRef(ref, psi, { Q, sigma: p.sigma, lambda: p.lambda, eta: p.learningRate, seed, t, adam: optimiser === 'adam' ? { a, v } : undefined });
          const got = await c.read(m);
          expect(maxAbsDiff(got, st.m)).toBeLessThan(1e-5);
          expect((await c.read(trace))[t]).toBeCloseTo(st.meanJ, 5);
          // The steps really move m (not a no-op that passes by accident).
          expect(maxAbsDiff(got, ref)).toBeGreaterThan(1e-3);
          ref = Float64Array.from(got);
          a = st.a; v = st.v;
        }
        expect(new Uint32Array((await c.read(state)).buffer)[0]).toBe(3);
        expect(Number.isNaN((await c.read(trace))[3])).toBe(true);
      }
    } finally {
      c.destroy();
    }
  });
});

// ---- tiny model: GlobalAveragePool + Gemm, so Ψ(x ⊙ M) is easy on the CPU ----
const C0 = 3, H = 12, W = 10, K = 5;
const rng = new Rng(31);
const Wg = Float64Array.from({ length: K * C0 }, () => rng.normal() * 3);
const Bg = Float64Array.from({ length: K }, () => rng.normal() * 0.5);
const image = Float32Array.from({ length: C0 * H * W }, () => rng.normal() + 0.5);

function tinyModel(): Uint8Array {
  const g = new GraphBuilder('tiny-mask-opt', 13);
  g.input('x', [1, C0, H, W]);
  const gap = g.op('GlobalAveragePool', ['x']);
  const f = g.op('Flatten', [gap]);
  g.node('Gemm', [f, g.initializer('w', [K, C0], Float32Array.from(Wg)), g.initializer('b', [K], Float32Array.from(Bg))], ['logits'], { transB: 1 });
  g.output('logits');
  return g.toBytes();
}

function psiRef(M: ArrayLike<number>, cls: number, baseline: readonly number[]): number {
  const P = H * W;
  const z = Float64Array.from(Bg);
  for (let c = 0; c < C0; c++) {
    let mean = 0;
    for (let q = 0; q < P; q++) mean += image[c * P + q]! * M[q]! + baseline[c]! * (1 - M[q]!);
    mean /= P;
    for (let k = 0; k < K; k++) z[k]! += Wg[k * C0 + c]! * mean;
  }
  const mx = Math.max(...z);
  const e = z.map((v) => Math.exp(v - mx));
  return e[cls]! / e.reduce((a, b) => a + b, 0);
}

/** The whole optimisation in float64: mask, normalised map and objective trace. */
function runRef(o: { r: [number, number]; Q: number; T: number; sigma: number; lambda: number; eta: number; seed: number; cls: number; baseline: number[]; adam?: boolean }) {
  const [gh, gw] = o.r;
  let m = initRef(o.seed, gh * gw);
  let a: ArrayLike<number> = new Float64Array(m.length), v: ArrayLike<number> = new Float64Array(m.length);
  const objective: number[] = [];
  for (let t = 0; t < o.T; t++) {
    const psi = perturbedRef(m, o.Q, o.sigma, o.seed, t).map((row) => psiRef(upsampleRef(row, gh, gw, H, W), o.cls, o.baseline));
    const st = stepRef(m, psi, { Q: o.Q, sigma: o.sigma, lambda: o.lambda, eta: o.eta, seed: o.seed, t, adam: o.adam ? { a, v } : undefined });
    m = st.m; a = st.a; v = st.v;
    objective.push(st.meanJ);
  }
  return { m, map: minMax(upsampleRef(m, gh, gw, H, W)), objective };
}

describe('mask optimisation', () => {
  afterEach(() => { vi.restoreAllMocks(); });

  it('whole runs match the float64 reference (one batch, split batches, Adam, a baseline)', async () => {
    const gpu = await testGpu();
    const model = await Model.load(tinyModel(), { gpu });
    try {
      const base = { resolution: 4, pairs: 4, iterations: 3, sigma: 0.1, sparsity: 0.1, learningRate: 0.5, seed: 9, classIndex: 2 };
      const ref = runRef({ r: [4, 4], Q: 4, T: 3, sigma: 0.1, lambda: 0.1, eta: 0.5, seed: 9, cls: 2, baseline: [0, 0, 0] });
      const progress: number[] = [];
      const e = await maskOptimisation(model, image, { ...base, onProgress: (p) => progress.push(p.done) });
      expect(e.method).toBe('mask-opt');
      expect(e.mask.width).toBe(4);
      expect(maxAbsDiff(e.mask.data, ref.m)).toBeLessThan(1e-4);
      expect(maxAbsDiff(e.map.data, ref.map)).toBeLessThan(1e-4);
      expect(maxAbsDiff(e.objective, ref.objective)).toBeLessThan(1e-5);
      expect(maxAbsDiff(e.mask.data, initRef(9, 16))).toBeGreaterThan(1e-2);
      expect(e.forwardPasses).toBe(2 * 4 * 3 + 1);
      expect(progress).toEqual([1, 2, 3]);
      expect(e.params).toMatchObject({ resolution: 4, pairs: 4, iterations: 3, seed: 9, grid: [4, 4], optimiser: 'sgd' });
      // 2Q = 8 rows split into batches of 3, 3, 2: the same result.
      const split = await maskOptimisation(model, image, { ...base, batchSize: 3 });
      expect(maxAbsDiff(split.mask.data, e.mask.data)).toBeLessThan(1e-6);
      // Adam, a per-channel baseline and a grid clipped to the input (r = 50 → 12 × 10).
      const bl = [0.3, -0.4, 0.8];
      const adam = await maskOptimisation(model, image, { ...base, resolution: 50, optimiser: 'adam', learningRate: 0.05, baseline: bl, iterations: 2 });
      const refA = runRef({ r: [12, 10], Q: 4, T: 2, sigma: 0.1, lambda: 0.1, eta: 0.05, seed: 9, cls: 2, baseline: bl, adam: true });
      expect([adam.mask.height, adam.mask.width]).toEqual([12, 10]);
      expect(maxAbsDiff(adam.mask.data, refA.m)).toBeLessThan(1e-4);
      expect(maxAbsDiff(adam.map.data, refA.map)).toBeLessThan(1e-4);
    } finally {
      model.destroy();
    }
  });

  it('finds the known evidence (bright square): J rises and the map peaks inside', async () => {
    const gpu = await testGpu();
    const model = await Model.load(evidenceModel(), { gpu });
    try {
      const e = await maskOptimisation(model, evidenceImage(), { classIndex: 0, resolution: 8, iterations: 50, sparsity: 1, learningRate: 0.5, seed: 1 });
      expect(e.map.data.every(Number.isFinite)).toBe(true);
      expect(e.map.width).toBe(EVIDENCE.size);
      const avg = (from: number, to: number) => e.objective.slice(from, to).reduce((a, b) => a + b, 0) / (to - from);
      expect(avg(40, 50)).toBeGreaterThan(avg(0, 10) + 0.05);
      const r = evidenceScore(e.map.data);
      expect(r.peakInside).toBe(true);
      expect(r.energyInside).toBeGreaterThan(2 * r.areaShare);
      expect(e.forwardPasses).toBe(32 * 50 + 1);
    } finally {
      model.destroy();
    }
  });

  it('is deterministic per seed', async () => {
    const gpu = await testGpu();
    const model = await Model.load(tinyModel(), { gpu });
    try {
      const opts = { resolution: 5, pairs: 6, iterations: 4, classIndex: 1 };
      const a = await maskOptimisation(model, image, { ...opts, seed: 5 });
      const b = await maskOptimisation(model, image, { ...opts, seed: 5 });
      expect(Array.from(b.map.data)).toEqual(Array.from(a.map.data));
      expect(Array.from(b.objective)).toEqual(Array.from(a.objective));
      const d = await maskOptimisation(model, image, { ...opts, seed: 6 });
      expect(maxAbsDiff(d.map.data, a.map.data)).toBeGreaterThan(1e-2);
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
      const run = maskOptimisation(model, image, { resolution: 4, pairs: 4, iterations: 500, signal: ac.signal, onProgress: () => { if (++calls === 2) ac.abort(); } });
      await expect(run).rejects.toBeInstanceOf(CancelledError);
      expect(calls).toBe(2);
      expect(destroy).toHaveBeenCalledTimes(1);
    } finally {
      model.destroy();
    }
  });

  it('resolves defaults and rejects bad parameters', async () => {
    expect(maskOptimisationParams()).toEqual({ resolution: 28, pairs: 16, sigma: 0.1, learningRate: 0.2, sparsity: 0.1, iterations: 200, optimiser: 'sgd', seed: 0, batchSize: 32, scoreMode: 'softmax' });
    expect(maskOptimisationParams({ optimiser: 'adam' }).learningRate).toBe(0.05);
    expect(maskOptimisationParams({ resolution: 'input' }).resolution).toBe('input');
    for (const bad of [{ resolution: 0 }, { resolution: 2.5 }, { pairs: 0 }, { pairs: 129 }, { sigma: 0 }, { sigma: 0.7 }, { learningRate: -1 }, { sparsity: -0.1 },
      { iterations: 0 }, { seed: -1 }, { seed: 2 ** 32 }, { batchSize: 0 }, { optimiser: 'lbfgs' as never }]) {
      expect(() => maskOptimisationParams(bad), JSON.stringify(bad)).toThrow(InputError);
    }
    const gpu = await testGpu();
    const model = await Model.load(tinyModel(), { gpu });
    try {
      await expect(maskOptimisation(model, image, { baseline: [1, 2] })).rejects.toBeInstanceOf(InputError);
      await expect(maskOptimisation(model, image.subarray(1))).rejects.toBeInstanceOf(InputError);
    } finally {
      model.destroy();
    }
  });
});
