/**
 * LIME (methods spec 6.7): the weighted ridge against a direct closed-form float64 solve (intercept
 * column, unpenalised as scikit-learn's), LIME's feature selection, the GPU pipeline's sample scores
 * and local model against a float64 CPU reference on a tiny model, the known-evidence CNN, seeded
 * determinism, cancellation and validation.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GraphBuilder, Rng } from '../../tools/onnx-writer.js';
import { Model } from '../../src/runtime/model.js';
import { GpuCompute } from '../../src/runtime/compute.js';
import { CancelledError, InputError } from '../../src/runtime/errors.js';
import { lime, limeParams, limeSamples, limeWeights } from '../../src/xai/lime.js';
import { ridgeFit, ridgeScore, selectFeatures } from '../../src/xai/ridge.js';
import { testGpu } from '../helpers/gpu.js';
import { EVIDENCE, evidenceImage, evidenceModel, evidenceScore } from '../helpers/evidence-model.js';

// ---- float64 references ----

/** Gaussian elimination with partial pivoting (independent of the Cholesky under test). */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((r, i) => [...r, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    [M[c], M[p]] = [M[p]!, M[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r]![c]! / M[c]![c]!;
      for (let k = c; k <= n; k++) M[r]![k]! -= f * M[c]![k]!;
    }
  }
  return M.map((r, i) => r[n]! / r[i]!);
}

/** min Σ w (y − Zθ)² + α‖θ[1:]‖², Z = [1 | X]: θ from (ZᵀWZ + diag(0, α, …)) θ = ZᵀWy. */
function closedForm(X: ArrayLike<number>, n: number, d: number, y: ArrayLike<number>, w: ArrayLike<number>, alpha: number): { intercept: number; coef: number[] } {
  const z = (i: number, k: number) => (k === 0 ? 1 : X[i * d + k - 1]!);
  const A = Array.from({ length: d + 1 }, (_, r) => Array.from({ length: d + 1 }, (_, c) => {
    let s = r === c && r > 0 ? alpha : 0;
    for (let i = 0; i < n; i++) s += w[i]! * z(i, r) * z(i, c);
    return s;
  }));
  const b = Array.from({ length: d + 1 }, (_, r) => { let s = 0; for (let i = 0; i < n; i++) s += w[i]! * z(i, r) * y[i]!; return s; });
  const t = solve(A, b);
  return { intercept: t[0]!, coef: t.slice(1) };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('weighted ridge', () => {
  const rng = new Rng(31);
  const n = 80, d = 6;
  const X = Float64Array.from({ length: n * d }, () => (rng.next() < 0.5 ? 1 : 0));
  const Xr = Float64Array.from({ length: n * d }, () => rng.normal());
  const y = Float64Array.from({ length: n }, (_, i) => 0.7 + 0.5 * X[i * d]! - 0.3 * X[i * d + 3]! + rng.normal() * 0.1);
  const w = Float64Array.from({ length: n }, () => 0.1 + rng.next());

  for (const [name, data] of [['binary', X], ['real', Xr]] as const) {
    for (const alpha of [0, 1, 25]) {
      it(`matches the closed-form solve (${name} X, α = ${alpha})`, () => {
        const fit = ridgeFit({ data, rows: n, cols: d }, y, w, alpha);
        const ref = closedForm(data, n, d, y, w, alpha);
        expect(maxAbsDiff(fit.coef, ref.coef)).toBeLessThan(1e-9);
        expect(Math.abs(fit.intercept - ref.intercept)).toBeLessThan(1e-9);
      });
    }
  }

  it('does not penalise the intercept (scikit-learn semantics)', () => {
    const D = { data: X, rows: n, cols: d };
    // A huge α drives β to 0 and the intercept to the weighted mean of y, not to 0.
    const big = ridgeFit(D, y, w, 1e12);
    let sw = 0, ym = 0;
    for (let i = 0; i < n; i++) { sw += w[i]!; ym += w[i]! * y[i]!; }
    expect(Math.max(...Array.from(big.coef, Math.abs))).toBeLessThan(1e-9);
    expect(big.intercept).toBeCloseTo(ym / sw, 9);
    // Shifting y moves only the intercept.
    const a = ridgeFit(D, y, w, 1), b = ridgeFit(D, y.map((v) => v + 10), w, 1);
    expect(maxAbsDiff(a.coef, b.coef)).toBeLessThan(1e-9);
    expect(b.intercept - a.intercept).toBeCloseTo(10, 9);
    // A penalised intercept column (the naive alternative) would give a different answer.
    const penalised = solve(
      Array.from({ length: d + 1 }, (_, r) => Array.from({ length: d + 1 }, (_, c) => {
        let s = r === c ? 1 : 0;
        for (let i = 0; i < n; i++) s += w[i]! * (r ? X[i * d + r - 1]! : 1) * (c ? X[i * d + c - 1]! : 1);
        return s;
      })),
      Array.from({ length: d + 1 }, (_, r) => { let s = 0; for (let i = 0; i < n; i++) s += w[i]! * (r ? X[i * d + r - 1]! : 1) * y[i]!; return s; }));
    expect(Math.abs(penalised[0]! - a.intercept)).toBeGreaterThan(1e-3);
  });

  it('scores a fit with the weighted R²', () => {
    const D = { data: X, rows: n, cols: d };
    const fit = ridgeFit(D, y, w, 1);
    let sw = 0, ym = 0;
    for (let i = 0; i < n; i++) { sw += w[i]!; ym += w[i]! * y[i]!; }
    ym /= sw;
    let num = 0, den = 0;
    for (let i = 0; i < n; i++) {
      let p = fit.intercept;
      for (let k = 0; k < d; k++) p += fit.coef[k]! * X[i * d + k]!;
      num += w[i]! * (y[i]! - p) ** 2; den += w[i]! * (y[i]! - ym) ** 2;
    }
    expect(ridgeScore(D, y, w, fit)).toBeCloseTo(1 - num / den, 12);
    expect(ridgeScore(D, y, w, fit)).toBeGreaterThan(0.8);
    // A column subset fits only those columns.
    const sub = ridgeFit(D, y, w, 1, [3, 0]);
    const ref = closedForm(Float64Array.from({ length: n * 2 }, (_, j) => X[Math.floor(j / 2) * d + (j % 2 ? 0 : 3)]!), n, 2, y, w, 1);
    expect(maxAbsDiff(sub.coef, ref.coef)).toBeLessThan(1e-9);
  });

  it('selects features as lime_base does', () => {
    const D = { data: X, rows: n, cols: d };
    // Forward selection finds the two informative columns first, strongest first.
    expect(selectFeatures(D, y, w, 2, 'forward_selection')).toEqual([0, 3]);
    expect(selectFeatures(D, y, w, 2, 'auto')).toEqual([0, 3]);
    expect(selectFeatures(D, y, w, 3, 'none')).toEqual([0, 1, 2, 3, 4, 5]);
    // Highest weights: |coef · x₀| of a Ridge(0.01) fit, descending.
    const c = ridgeFit(D, y, w, 0.01).coef;
    const expected = [0, 1, 2, 3, 4, 5].sort((a, b) => Math.abs(c[b]! * X[b]!) - Math.abs(c[a]! * X[a]!));
    expect(selectFeatures(D, y, w, 7, 'auto')).toEqual(expected);
    expect(selectFeatures(D, y, w, 7, 'highest_weights').slice(0, 4)).toEqual(expected.slice(0, 4));
  });
});

// ---- tiny model: Flatten + Gemm, Ψ of a superpixel-masked input easy on the CPU. Not a global
// average: that is blind to LIME's default mean-colour fill (a superpixel's mean replaces it
// without changing the image mean).
const C0 = 3, H = 12, W = 10, KC = 5, P = H * W;
const rng = new Rng(4242);
const Wg = Float64Array.from({ length: KC * C0 * P }, () => rng.normal() * 0.15);
const Bg = Float64Array.from({ length: KC }, () => rng.normal() * 0.5);
const image = Float32Array.from({ length: C0 * P }, () => rng.normal());
// Six superpixels: a 3 × 2 grid of 4 × 5 blocks, labels in raster order of the blocks.
const grid = Int32Array.from({ length: P }, (_, p) => Math.floor(Math.floor(p / W) / 4) * 2 + Math.floor((p % W) / 5));

function tinyModel(): Uint8Array {
  const g = new GraphBuilder('tiny-lime', 13);
  g.input('x', [1, C0, H, W]);
  const f = g.op('Flatten', ['x']);
  g.node('Gemm', [f, g.initializer('w', [KC, C0 * P], Float32Array.from(Wg)), g.initializer('b', [KC], Float32Array.from(Bg))], ['logits'], { transB: 1 });
  g.output('logits');
  return g.toBytes();
}

/** Ψ_c (softmax) of each sample's masked image, hidden superpixels filled per `fill(k, c)`. */
function refScores(bits: Uint8Array, K: number, cls: number, fill: (k: number, c: number) => number): Float64Array {
  const N = bits.length / K;
  const out = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    const z = Float64Array.from(Bg);
    for (let c = 0; c < C0; c++) {
      for (let p = 0; p < P; p++) {
        const v = bits[i * K + grid[p]!] ? image[c * P + p]! : fill(grid[p]!, c);
        for (let k = 0; k < KC; k++) z[k]! += Wg[(k * C0 + c) * P + p]! * v;
      }
    }
    const mx = Math.max(...z);
    const e = z.map((v) => Math.exp(v - mx));
    out[i] = e[cls]! / e.reduce((a, b) => a + b, 0);
  }
  return out;
}

function segmentMean(k: number, c: number): number {
  let s = 0, n = 0;
  for (let p = 0; p < P; p++) if (grid[p] === k) { s += image[c * P + p]!; n++; }
  return s / n;
}

describe('LIME', () => {
  afterEach(() => { vi.restoreAllMocks(); });

  it('sample scores, weights and local model match a float64 reference', async () => {
    const gpu = await testGpu();
    const model = await Model.load(tinyModel(), { gpu });
    try {
      const progress: number[] = [];
      const e = await lime(model, image, { segments: grid, samples: 50, batchSize: 16, seed: 9, classIndex: 2, returnSamples: true, onProgress: (p) => progress.push(p.done) });
      const K = 6;
      expect(e.method).toBe('lime');
      expect(e.segmentCount).toBe(K);
      expect(Array.from(e.segments)).toEqual(Array.from(grid));
      expect(e.forwardPasses).toBe(51);
      expect(progress).toEqual([16, 32, 48, 50]);
      const { bits, scores, weights } = e.samples!;
      expect(Array.from(bits.subarray(0, K))).toEqual([1, 1, 1, 1, 1, 1]);
      expect(Array.from(bits)).toEqual(Array.from(limeSamples(50, K, 9)));
      const ref = refScores(bits, K, 2, segmentMean);
      expect(maxAbsDiff(scores, ref)).toBeLessThan(2e-6);
      expect(scores[0]).toBeCloseTo(e.score, 5);
      // Kernel weights from the generic cosine distance (sklearn: an all-zero row is distance 1).
      const wRef = Array.from({ length: 50 }, (_, i) => {
        let dot = 0, nz = 0;
        for (let j = 0; j < K; j++) { dot += bits[i * K + j]!; nz += bits[i * K + j]! ** 2; }
        const dist = nz === 0 ? 1 : 1 - dot / (Math.sqrt(nz) * Math.sqrt(K));
        return Math.sqrt(Math.exp(-(dist ** 2) / 0.25 ** 2));
      });
      expect(maxAbsDiff(weights, wRef)).toBeLessThan(1e-12);
      // The local model: Ridge(1) on all six bits (auto → highest weights, all kept).
      const fit = closedForm(Float64Array.from(bits), 50, K, ref, wRef, 1);
      expect(maxAbsDiff(e.coefficients, fit.coef)).toBeLessThan(1e-5);
      expect(Math.abs(e.intercept - fit.intercept)).toBeLessThan(1e-5);
      expect(e.usedFeatures.slice().sort()).toEqual([0, 1, 2, 3, 4, 5]);
      expect(e.r2).toBeGreaterThan(0);
      expect(e.r2).toBeLessThanOrEqual(1);
      expect(e.localPrediction).toBeCloseTo(fit.intercept + fit.coef.reduce((a, b) => a + b, 0), 4);
      // The map paints each superpixel with its coefficient, min-max normalised.
      const lo = Math.min(...fit.coef), hi = Math.max(...fit.coef);
      expect(maxAbsDiff(e.map.data, Array.from(grid, (k) => (fit.coef[k]! - lo) / (hi - lo + 1e-6)))).toBeLessThan(1e-3);
      expect(e.timings).toHaveProperty('segmentation');
      expect(e.timings).toHaveProperty('masked passes');
      expect(e.params).toMatchObject({ samples: 50, kernelWidth: 0.25, alpha: 1, numFeatures: 100000, featureSelection: 'auto', hide: 'mean', segmentation: 'given', seed: 9, batchSize: 16 });

      // Baseline fill and forward selection of 2 features.
      const b = await lime(model, image, { segments: grid, samples: 40, batchSize: 40, seed: 1, classIndex: 0, hide: 'baseline', baseline: [0.5, -1, 2], numFeatures: 2, returnSamples: true });
      const refB = refScores(b.samples!.bits, K, 0, (_k, c) => [0.5, -1, 2][c]!);
      expect(maxAbsDiff(b.samples!.scores, refB)).toBeLessThan(2e-6);
      expect(b.usedFeatures).toHaveLength(2);
      expect(Array.from(b.coefficients).filter((v) => v !== 0)).toHaveLength(2);
      const sel = selectFeatures({ data: b.samples!.bits, rows: 40, cols: K }, refB, b.samples!.weights, 2, 'forward_selection');
      expect(b.usedFeatures).toEqual(sel);
    } finally {
      model.destroy();
    }
  });

  it('is deterministic per seed and independent of the batch size', async () => {
    const gpu = await testGpu();
    const model = await Model.load(tinyModel(), { gpu });
    try {
      const opts = { segments: grid, samples: 60, classIndex: 1 };
      const a = await lime(model, image, { ...opts, seed: 5, batchSize: 16 });
      const b = await lime(model, image, { ...opts, seed: 5, batchSize: 16 });
      expect(Array.from(b.map.data)).toEqual(Array.from(a.map.data));
      const c = await lime(model, image, { ...opts, seed: 5, batchSize: 7 });
      expect(maxAbsDiff(c.coefficients, a.coefficients)).toBeLessThan(1e-5);
      const d = await lime(model, image, { ...opts, seed: 6, batchSize: 16 });
      expect(maxAbsDiff(d.coefficients, a.coefficients)).toBeGreaterThan(1e-6);
      expect(maxAbsDiff(d.map.data, a.map.data)).toBeGreaterThan(1e-3);
      // Bits are fair coins after the all-ones row.
      const bits = limeSamples(2001, 10, 3);
      const ones = bits.subarray(10).reduce((s, v) => s + v, 0) / 20000;
      expect(ones).toBeGreaterThan(0.48);
      expect(ones).toBeLessThan(0.52);
      expect(Array.from(limeWeights(Uint8Array.of(1, 1, 0, 0), 2, 2, 0.25))).toEqual([1, Math.exp(-8)]);
    } finally {
      model.destroy();
    }
  });

  // Hidden superpixels take the background level (-1): with LIME's default mean fill a uniform
  // square hidden by its own mean colour would not change at all, so nothing could be attributed.
  // LIME's quickshift settings leave a 32 × 32 image one segment, so the quickshift case uses a
  // finer kernel (12 segments, the square one of them).
  for (const seg of ['grid', 'quickshift'] as const) {
    it(`finds the known evidence (bright square), ${seg} superpixels`, async () => {
      const gpu = await testGpu();
      const model = await Model.load(evidenceModel(), { gpu });
      try {
        const S = EVIDENCE.size;
        const cells = Int32Array.from({ length: S * S }, (_, p) => Math.floor(Math.floor(p / S) / 4) * 8 + Math.floor((p % S) / 4));
        const e = await lime(model, evidenceImage(), { classIndex: 0, samples: 300, batchSize: 50, hide: 'baseline', baseline: [-1, -1, -1],
          ...(seg === 'grid' ? { segments: cells } : { segmentation: { kernelSize: 2, maxDist: 10, ratio: 0.5 } }) });
        expect(e.map.data.every(Number.isFinite)).toBe(true);
        expect(Math.max(...e.map.data)).toBeCloseTo(1, 3);
        const r = evidenceScore(e.map.data);
        expect(r.peakInside).toBe(true);
        expect(r.energyInside).toBeGreaterThan(r.areaShare);
        // The superpixel with the largest coefficient lies mostly inside the square.
        const best = e.coefficients.indexOf(Math.max(...e.coefficients));
        const q = EVIDENCE.square;
        let inside = 0, size = 0;
        e.segments.forEach((l, p) => {
          if (l !== best) return;
          size++;
          const x = p % S, y = Math.floor(p / S);
          if (x >= q.x0 && x < q.x1 && y >= q.y0 && y < q.y1) inside++;
        });
        expect(inside / size).toBeGreaterThan(0.5);
        if (seg === 'quickshift') expect(e.segmentCount).toBeGreaterThan(4);
      } finally {
        model.destroy();
      }
    });
  }

  it('cancels mid-run with CancelledError and frees its GPU memory', async () => {
    const gpu = await testGpu();
    const model = await Model.load(tinyModel(), { gpu });
    const destroy = vi.spyOn(GpuCompute.prototype, 'destroy');
    try {
      const ac = new AbortController();
      let calls = 0;
      const run = lime(model, image, { segments: grid, samples: 400, batchSize: 8, signal: ac.signal, onProgress: () => { if (++calls === 2) ac.abort(); } });
      await expect(run).rejects.toBeInstanceOf(CancelledError);
      expect(calls).toBe(2);
      expect(destroy).toHaveBeenCalledTimes(1);
    } finally {
      model.destroy();
    }
  });

  it('resolves defaults and rejects bad parameters', async () => {
    expect(limeParams()).toEqual({ samples: 1000, kernelWidth: 0.25, alpha: 1, numFeatures: 100000, featureSelection: 'auto', hide: 'mean',
      segmentation: { kernelSize: 4, maxDist: 200, ratio: 0.2, seed: 0 }, seed: 0, batchSize: 32, scoreMode: 'softmax' });
    expect(() => limeParams({ samples: 1 })).toThrow(InputError);
    expect(() => limeParams({ kernelWidth: 0 })).toThrow(InputError);
    expect(() => limeParams({ alpha: -1 })).toThrow(InputError);
    expect(() => limeParams({ numFeatures: 0 })).toThrow(InputError);
    expect(() => limeParams({ featureSelection: 'lasso_path' as never })).toThrow(InputError);
    expect(() => limeParams({ hide: 'black' as never })).toThrow(InputError);
    expect(() => limeParams({ seed: -1 })).toThrow(InputError);
    expect(() => limeParams({ segmentation: { kernelSize: 0 } })).toThrow(InputError);
    const gpu = await testGpu();
    const model = await Model.load(tinyModel(), { gpu });
    try {
      await expect(lime(model, image, { segments: grid.subarray(3), samples: 10 })).rejects.toBeInstanceOf(InputError);
      await expect(lime(model, image, { segments: grid, samples: 10, hide: 'baseline', baseline: [1] })).rejects.toBeInstanceOf(InputError);
      await expect(lime(model, image, { samples: 10, segmentationImage: new Float32Array(5) })).rejects.toBeInstanceOf(InputError);
    } finally {
      model.destroy();
    }
  });
});
