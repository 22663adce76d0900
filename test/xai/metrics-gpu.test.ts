/**
 * GPU metrics (methods spec 7.5, 7.6): the blur and perturbed-row kernels, deletion/insertion and
 * Drop/Increase, against hand-computed values on a model that is linear in its input and against a
 * float64 reference of a small CNN written here (ranks by counting, blur from scipy's numbers).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder, Rng } from '../../tools/onnx-writer.js';
import { Model } from '../../src/runtime/model.js';
import { GpuCompute } from '../../src/runtime/compute.js';
import type { GpuContext } from '../../src/runtime/device.js';
import { blurProgram, perturbRowsProgram, riseBlurKernel, SOFT_ROW } from '../../src/kernels/metrics.js';
import { causalAuc, deletionInsertion, deletionInsertionBatch, dropIncrease } from '../../src/xai/metrics/index.js';
import { testGpu } from '../helpers/gpu.js';

// scipy.ndimage.gaussian_filter1d of a centred impulse (mode 'reflect', truncate 4).
const SCIPY_11_5 = [0.08795814577727815, 0.08889611977709484, 0.09047419654910865, 0.09219111781938806, 0.09348938844291409,
  0.09398206326843249, 0.09348938844291409, 0.09219111781938806, 0.09047419654910865, 0.08889611977709484, 0.08795814577727815];
const SCIPY_5_15 = [0.14533552302823932, 0.2206541518130863, 0.26802065031734873, 0.2206541518130863, 0.14533552302823932];

let gpu: GpuContext;
let gc: GpuCompute;
beforeAll(async () => { gpu = await testGpu(); gc = new GpuCompute(gpu); });
afterAll(() => gc?.destroy());

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-4, what = ''): void {
  expect(got.length, what).toBe(want.length);
  let worst = 0, at = -1;
  for (let i = 0; i < got.length; i++) {
    const e = Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!));
    if (!(e <= worst)) { worst = e; at = i; }
  }
  expect(worst, `${what} worst error at ${at}: got ${got[at]}, want ${want[at]}`).toBeLessThanOrEqual(tol);
}

function blurRef(x: ArrayLike<number>, C: number, H: number, W: number, k1: readonly number[]): Float64Array {
  const r = (k1.length - 1) / 2;
  const out = new Float64Array(C * H * W);
  for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) {
    let s = 0;
    for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) {
      const yy = y + dy, xs = xx + dx;
      if (yy >= 0 && yy < H && xs >= 0 && xs < W) s += k1[dy + r]! * k1[dx + r]! * x[(c * H + yy) * W + xs]!;
    }
    out[(c * H + y) * W + xx] = s;
  }
  return out;
}

function rankRef(v: ArrayLike<number>): number[] {
  return Array.from({ length: v.length }, (_, p) => {
    let r = 0;
    for (let q = 0; q < v.length; q++) if (v[q]! > v[p]! || (v[q] === v[p] && q < p)) r++;
    return r;
  });
}

describe('kernels', () => {
  it("riseBlurKernel matches scipy's gaussian_filter of an impulse", () => {
    const k = riseBlurKernel(11, 5);
    for (let y = 0; y < 11; y++) for (let x = 0; x < 11; x++) expect(k[y * 11 + x]).toBeCloseTo(SCIPY_11_5[y]! * SCIPY_11_5[x]!, 14);
    expect(k.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    const k5 = riseBlurKernel(5, 1.5);
    for (let x = 0; x < 5; x++) expect(k5[2 * 5 + x]).toBeCloseTo(SCIPY_5_15[2]! * SCIPY_5_15[x]!, 14);
  });

  it('blur: per-channel 11×11 correlation with zero padding, with offsets', async () => {
    const rng = new Rng(3);
    const C = 2, H = 9, W = 13, per = C * H * W;
    const x = Float32Array.from({ length: 2 * per }, () => rng.normal());
    const src = gc.upload(x);
    const k = gc.upload(Float32Array.from(riseBlurKernel()));
    const out = gc.alloc([per + 7]);
    gc.fill(out, NaN);
    gc.run(blurProgram(gc.ctx, { channels: C, h: H, w: W, radius: 5, inOffset: per, outOffset: 7 }), { inputs: [src, k], outputs: [out] });
    const got = await gc.read(out);
    expect(Number.isNaN(got[6])).toBe(true);
    expectClose(got.slice(7), blurRef(x.subarray(per), C, H, W, SCIPY_11_5), 1e-5);
  });

  it('perturbed rows: rank thresholds and soft masks', async () => {
    const rng = new Rng(4);
    const Q = 3, C = 2, P = 30, per = C * P;
    const planes = Float32Array.from({ length: Q * per }, () => rng.normal());
    const ranks = Uint32Array.from(rankRef(Float32Array.from({ length: P }, () => rng.normal())));
    const soft = Float32Array.from({ length: P }, () => rng.uniform(0, 1));
    const fields = new Uint32Array(2 * P);
    fields.set(ranks); fields.set(new Uint32Array(soft.buffer), P);
    const rows = [[0, 1, 0, 0], [0, 1, 0, 7], [2, 0, 0, 30], [1, 2, 1, SOFT_ROW], [2, 2, 0, 12]];
    const out = gc.alloc([rows.length, C, P]);
    gc.fill(out, NaN);
    gc.run(perturbRowsProgram(gc.ctx, { n: rows.length, channels: C, pixels: P }),
      { inputs: [gc.upload(planes), gc.upload(fields), gc.upload(Uint32Array.from(rows.flat()))], outputs: [out] });
    const want = new Float64Array(rows.length * per);
    rows.forEach(([a, b, , t], i) => {
      for (let c = 0; c < C; c++) for (let p = 0; p < P; p++) {
        const A = planes[a! * per + c * P + p]!, B = planes[b! * per + c * P + p]!;
        want[i * per + c * P + p] = t === SOFT_ROW ? A * (1 - soft[p]!) + B * soft[p]! : ranks[p]! < t! ? B : A;
      }
    });
    expectClose(await gc.read(out), want, 1e-6);
  });
});

// ---- a model linear in its input: logits = W · GAP(x) + b ----
function linearModel(C: number, W: number[][], b: number[], softmax = false): Uint8Array {
  const g = new GraphBuilder('linear', 13);
  g.input('x', [1, C, 2, 2]);
  const gap = g.op('GlobalAveragePool', ['x']);
  const f = g.op('Flatten', [gap]);
  const K = W.length;
  g.node('Gemm', [f, g.initializer('w', [K, C], Float32Array.from(W.flat())), g.initializer('b', [K], Float32Array.from(b))], [softmax ? 'z' : 'out'], { transB: 1 });
  if (softmax) g.node('Softmax', ['z'], ['out'], { axis: 1 });
  g.output('out');
  return g.toBytes();
}
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

describe('hand-computed values on a linear model', () => {
  // 2×2 image, one channel, x = [4, 3, 2, 1]; map order 1, 2, 3, 0. Class 0 logit = mean(x).
  const x = Float32Array.of(4, 3, 2, 1);
  const map = Float32Array.of(0.1, 0.4, 0.3, 0.2);

  it('deletion: step 1 → scores 2.5, 1.75, 1.25, 1, 0 and AUC 1.3125; step 3 (partial last step) → AUC 1.125', async () => {
    const model = await Model.load(linearModel(1, [[1], [-1]], [0, 0]), { gpu, warmup: false });
    const r1 = await deletionInsertion(model, x, map, { step: 1, scoreMode: 'logit', metrics: ['deletion'], classIndex: 0 });
    expectClose(r1.deletion!.scores, [2.5, 1.75, 1.25, 1, 0], 1e-6);
    expect(r1.deletion!.auc).toBeCloseTo(1.3125, 5);
    expect(r1.insertion).toBeUndefined();
    const r3 = await deletionInsertion(model, x, map, { step: 3, scoreMode: 'logit', metrics: ['deletion'], classIndex: 0, batchSize: 2 });
    expectClose(r3.deletion!.scores, [2.5, 1, 0], 1e-6);
    expect(r3.deletion!.auc).toBeCloseTo(1.125, 5);
    // Insertion with a 1×1 blur (the identity) from a constant baseline is flat: AUC = Ψ(x).
    const ri = await deletionInsertion(model, x, map, { step: 1, scoreMode: 'logit', metrics: ['insertion'], blur: { size: 1 } });
    expect(ri.classIndex).toBe(0);
    expectClose(ri.insertion!.scores, [2.5, 2.5, 2.5, 2.5, 2.5], 1e-6);
    // A per-channel baseline of 1: deleting pixel v replaces it by 1.
    const rb = await deletionInsertion(model, x, map, { step: 1, scoreMode: 'logit', metrics: ['deletion'], baseline: [1] });
    expectClose(rb.deletion!.scores, [2.5, 2, 1.75, 1.75, 1], 1e-6);
    expect(causalAuc([2.5, 2, 1.75, 1.75, 1])).toBeCloseTo((9 - 1.25 - 0.5) / 4, 12);
  });

  it('Drop % and Increase %: both forms, Softmax-ended model read as is', async () => {
    // Softmax over (m, −m): Ψ_0 = σ(2m).
    const model = await Model.load(linearModel(1, [[1], [-1]], [0, 0], true), { gpu, warmup: false });
    const x2 = Float32Array.of(-4, 3, 2, 1);
    const r = await dropIncrease(model, [{ image: x, map }, { image: x2, map, classIndex: 0 }], { topFraction: 0.5, batchSize: 3 });
    expect(r.classIndices).toEqual([0, 0]);
    expectClose(r.Y, [sigmoid(5), sigmoid(1)], 1e-6);
    // Top 50%: pixels 1 and 2 kept, mean 5/4 for both images.
    expectClose(r.top!.O, [sigmoid(2.5), sigmoid(2.5)], 1e-6);
    expect(r.top!.drop).toBeCloseTo((50 * (sigmoid(5) - sigmoid(2.5))) / sigmoid(5), 4);
    expect(r.top!.increase).toBe(50);
    // Soft: E = (v − 0.1)/(0.3 + 1e-6) = [0, 0.3, 0.2, 0.1]/(0.3 + 1e-6); pixel 0 is masked out in
    // both images, so both masked means are (3·0.3 + 2·0.2 + 1·0.1)/(4·(0.3 + 1e-6)).
    const m = 1.4 / (1.2 + 4e-6);
    expectClose(r.soft!.O, [sigmoid(2 * m), sigmoid(2 * m)], 1e-6);
    expect(r.soft!.increase).toBe(50);
  });
});

// ---- float64 reference on a small CNN ----
const S = { C: 3, H: 10, W: 12, F: 4, K: 5 };
const rng = new Rng(99);
const randn = (n: number, s: number) => Float64Array.from({ length: n }, () => rng.normal() * s);
const W1 = randn(S.F * S.C * 9, 0.4), B1 = randn(S.F, 0.1), W2 = randn(S.K * S.F, 1.5), B2 = randn(S.K, 0.2);

function cnn(softmax: boolean): Uint8Array {
  const g = new GraphBuilder('cnn', 13);
  g.input('x', [1, S.C, S.H, S.W]);
  const c = g.op('Conv', ['x', g.initializer('w1', [S.F, S.C, 3, 3], Float32Array.from(W1)), g.initializer('b1', [S.F], Float32Array.from(B1))], { pads: [1, 1, 1, 1] });
  const r = g.op('Relu', [c]);
  const f = g.op('Flatten', [g.op('GlobalAveragePool', [r])]);
  g.node('Gemm', [f, g.initializer('w2', [S.K, S.F], Float32Array.from(W2)), g.initializer('b2', [S.K], Float32Array.from(B2))], [softmax ? 'z' : 'logits'], { transB: 1 });
  if (softmax) g.node('Softmax', ['z'], ['logits'], { axis: 1 });
  g.output('logits');
  return g.toBytes();
}

function logitsRef(x: ArrayLike<number>): Float64Array {
  const { C, H, W, F, K } = S;
  const gap = new Float64Array(F);
  for (let o = 0; o < F; o++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
    let s = B1[o]!;
    for (let c = 0; c < C; c++) for (let di = 0; di < 3; di++) for (let dj = 0; dj < 3; dj++) {
      const ii = i + di - 1, jj = j + dj - 1;
      if (ii >= 0 && ii < H && jj >= 0 && jj < W) s += W1[((o * C + c) * 3 + di) * 3 + dj]! * x[(c * H + ii) * W + jj]!;
    }
    gap[o]! += Math.max(0, s) / (H * W);
  }
  return Float64Array.from({ length: K }, (_, k) => B2[k]! + gap.reduce((a, g, o) => a + W2[k * F + o]! * g, 0));
}
function softmaxRef(z: Float64Array, c: number): number {
  const m = Math.max(...z);
  return Math.exp(z[c]! - m) / z.reduce((a, v) => a + Math.exp(v - m), 0);
}

describe('small CNN against the float64 reference', () => {
  const P = S.H * S.W, per = S.C * P;
  const images = [1, 2, 3].map((s) => { const r = new Rng(s); return Float32Array.from({ length: per }, () => r.normal()); });
  // Quantised maps: ties occur.
  const maps = [4, 5, 6].map((s) => { const r = new Rng(s); return Float32Array.from({ length: P }, () => Math.floor(r.uniform(0, 1) * 20) / 20); });

  function curveRef(rank: number[], from: ArrayLike<number>, to: ArrayLike<number>, step: number, c: number): Float64Array {
    const n = Math.ceil(P / step);
    return Float64Array.from({ length: n + 1 }, (_, s) => {
      const inp = Float64Array.from({ length: per }, (_, e) => (rank[e % P]! < s * step ? to[e]! : from[e]!));
      return softmaxRef(logitsRef(inp), c);
    });
  }
  function aucRef(s: Float64Array): number {
    const n = s.length - 1;
    let a = 0;
    for (let i = 0; i < n; i++) a += (s[i]! + s[i + 1]!) / 2;
    return a / n;
  }

  it.each([false, true])('deletion and insertion curves of 3 images sharing batches (Softmax node: %s)', async (sm) => {
    const model = await Model.load(cnn(sm), { gpu, warmup: false });
    const step = 13; // 120 pixels → 10 steps, the last partial
    const baseline = [0.3, -0.2, 0.1];
    const res = await deletionInsertionBatch(model, images.map((image, i) => ({ image, map: { width: S.W, height: S.H, data: maps[i]! }, ...(i === 1 ? { classIndex: 2 } : {}) })),
      { step, batchSize: 7, baseline, imagesPerChunk: 2 });
    expect(res).toHaveLength(3);
    images.forEach((x, i) => {
      const z = logitsRef(x);
      const top = z.indexOf(Math.max(...z));
      const c = i === 1 ? 2 : top;
      expect(res[i]!.classIndex).toBe(c);
      const rank = rankRef(maps[i]!);
      const base = Float64Array.from({ length: per }, (_, e) => baseline[Math.floor(e / P)]!);
      const blur = blurRef(x, S.C, S.H, S.W, SCIPY_11_5);
      const del = curveRef(rank, x, base, step, c);
      const ins = curveRef(rank, blur, x, step, c);
      expectClose(res[i]!.deletion!.scores, del, 2e-5, `deletion ${i}`);
      expectClose(res[i]!.insertion!.scores, ins, 2e-5, `insertion ${i}`);
      expect(res[i]!.deletion!.auc).toBeCloseTo(aucRef(del), 5);
      expect(res[i]!.insertion!.auc).toBeCloseTo(aucRef(ins), 5);
    });
  });

  it('Drop % / Increase % over 3 images, both forms', async () => {
    const model = await Model.load(cnn(false), { gpu, warmup: false });
    const r = await dropIncrease(model, images.map((image, i) => ({ image, map: maps[i]! })), { batchSize: 4, imagesPerChunk: 2 });
    const Y: number[] = [], Ot: number[] = [], Os: number[] = [];
    images.forEach((x, i) => {
      const z = logitsRef(x);
      const c = z.indexOf(Math.max(...z));
      expect(r.classIndices[i]).toBe(c);
      const rank = rankRef(maps[i]!);
      const k = Math.ceil(0.15 * P - 1e-9);
      const v = maps[i]!;
      const lo = Math.min(...v), hi = Math.max(...v);
      Y.push(softmaxRef(z, c));
      Ot.push(softmaxRef(logitsRef(Float64Array.from({ length: per }, (_, e) => (rank[e % P]! < k ? x[e]! : 0))), c));
      Os.push(softmaxRef(logitsRef(Float64Array.from({ length: per }, (_, e) => x[e]! * ((v[e % P]! - lo) / (hi - lo + 1e-6)))), c));
    });
    expectClose(r.Y, Y, 2e-5, 'Y');
    expectClose(r.top!.O, Ot, 2e-5, 'O top');
    expectClose(r.soft!.O, Os, 2e-5, 'O soft');
    const pct = (O: number[]) => ({
      drop: (100 / 3) * Y.reduce((a, y, i) => a + Math.max(0, y - O[i]!) / y, 0),
      increase: (100 / 3) * Y.filter((y, i) => O[i]! > y).length,
    });
    expect(r.top!.drop).toBeCloseTo(pct(Ot).drop, 2);
    expect(r.top!.increase).toBeCloseTo(pct(Ot).increase, 8);
    expect(r.soft!.drop).toBeCloseTo(pct(Os).drop, 2);
    expect(r.soft!.increase).toBeCloseTo(pct(Os).increase, 8);
  });

  it('rejects maps of the wrong size and bad options', async () => {
    const model = await Model.load(cnn(false), { gpu, warmup: false });
    await expect(deletionInsertion(model, images[0]!, new Float32Array(P - 1))).rejects.toThrow(/pixels/);
    await expect(deletionInsertion(model, images[0]!, maps[0]!, { step: 0 })).rejects.toThrow(/step/);
    await expect(dropIncrease(model, [{ image: images[0]!, map: maps[0]!, classIndex: 99 }])).rejects.toThrow(/out of range/);
    await expect(dropIncrease(model, [{ image: images[0]!, map: { width: S.H, height: S.W, data: maps[0]! } }])).rejects.toThrow(/10×12/);
    const ac = new AbortController();
    ac.abort();
    await expect(deletionInsertion(model, images[0]!, maps[0]!, { signal: ac.signal, classIndex: 0 })).rejects.toThrow(/cancelled/);
  });
});
