/**
 * The GPU building blocks of the SISE family, each against a float64 reference written here:
 * masks from feature maps, masked inputs, score-weighted accumulation, min-max normalisation,
 * Otsu and cascaded fusion; and the GpuCompute facility that runs them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuCompute } from '../../src/runtime/compute.js';
import type { GpuTensor } from '../../src/runtime/plan.js';
import { bilinearAxis, constantChannels, extremeCandidates, saliencyMasksProgram, upsampledRangeProgram } from '../../src/kernels/saliency-masks.js';
import { maskedInputProgram } from '../../src/kernels/masked-input.js';
import { scoreAccumulateProgram } from '../../src/kernels/score-accumulate.js';
import { cascadeFusionProgram, mapDistanceProgram, minMaxNormaliseProgram, otsuProgram } from '../../src/kernels/map-ops.js';
import { otsuMaskHost, otsuQuantise, otsuThresholdHost } from '../../src/xai/otsu.js';
import { testGpu } from '../helpers/gpu.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return (s + 0.5) / 4294967296; };
}
/** Uniform in [lo, hi), never exactly zero in practice. */
function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}

/** PyTorch upsample_bilinear2d, align_corners=False, written from its formula in float64. */
function upsampleRef(a: ArrayLike<number>, h: number, w: number, H: number, W: number): Float64Array {
  const out = new Float64Array(H * W);
  const src = (o: number, n: number, m: number) => Math.max((n / m) * (o + 0.5) - 0.5, 0);
  for (let y = 0; y < H; y++) {
    const sy = src(y, h, H); const y0 = Math.floor(sy); const y1 = y0 < h - 1 ? y0 + 1 : y0; const ly = sy - y0;
    for (let x = 0; x < W; x++) {
      const sx = src(x, w, W); const x0 = Math.floor(sx); const x1 = x0 < w - 1 ? x0 + 1 : x0; const lx = sx - x0;
      const v00 = a[y0 * w + x0]!, v01 = a[y0 * w + x1]!, v10 = a[y1 * w + x0]!, v11 = a[y1 * w + x1]!;
      out[y * W + x] = (1 - ly) * ((1 - lx) * v00 + lx * v01) + ly * ((1 - lx) * v10 + lx * v11);
    }
  }
  return out;
}

function minMax(v: ArrayLike<number>): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < v.length; i++) { lo = Math.min(lo, v[i]!); hi = Math.max(hi, v[i]!); }
  return [lo, hi];
}

function expectClose(got: Float32Array, want: ArrayLike<number>, tol = 1e-4): void {
  expect(got.length).toBe(want.length);
  let worst = 0, at = -1;
  for (let i = 0; i < got.length; i++) {
    const e = Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!));
    if (!(e <= worst)) { worst = e; at = i; }
  }
  expect(worst, `worst error at ${at}: got ${got[at]}, want ${want[at]}`).toBeLessThanOrEqual(tol);
}

let gc: GpuCompute;
beforeAll(async () => { gc = new GpuCompute(await testGpu()); });
afterAll(() => gc?.destroy());

function poisoned(shape: number[]): GpuTensor {
  const t = gc.alloc(shape);
  gc.fill(t, NaN);
  return t;
}

describe('bilinear extremes (host)', () => {
  it('the up-sampled min/max equal the low-res ones only when output pixels hit source centres', () => {
    const a = rand(7 * 7, 5);
    const [lo, hi] = minMax(a);
    // Odd integer scale (7 → 21): pixel 3k+1 samples source k exactly, so extremes are kept.
    const odd = minMax(upsampleRef(a, 7, 7, 21, 21));
    expect(odd[0]).toBeCloseTo(lo, 12); expect(odd[1]).toBeCloseTo(hi, 12);
    // Even scale (7 → 224, the ResNet-50 layer4 case): no pixel samples an interior centre, so an
    // interior peak is attenuated; the claim "same min/max" is false in general.
    const peak = new Float32Array(49).fill(0.1); peak[3 * 7 + 3] = 1;
    const even = minMax(upsampleRef(peak, 7, 7, 224, 224));
    expect(even[1]).toBeLessThan(0.999);
    expect(even[1]).toBeGreaterThan(0.95);
  });

  it('candidate rows × columns give the exact extremes of the up-sampled map', () => {
    const r = rng(9);
    for (let trial = 0; trial < 60; trial++) {
      const h = 1 + Math.floor(r() * 9), w = 1 + Math.floor(r() * 9);
      const H = 1 + Math.floor(r() * 40), W = 1 + Math.floor(r() * 40);
      const a = rand(h * w, 100 + trial);
      const full = upsampleRef(a, h, w, H, W);
      const cy = extremeCandidates(bilinearAxis(h, H)), cx = extremeCandidates(bilinearAxis(w, W));
      const sub: number[] = [];
      for (const y of cy) for (const x of cx) sub.push(full[y * W + x]!);
      const [lo, hi] = minMax(full); const [slo, shi] = minMax(sub);
      expect(slo).toBeCloseTo(lo, 12); expect(shi).toBeCloseTo(hi, 12);
      expect(cy.length).toBeLessThanOrEqual(2 * h); expect(cx.length).toBeLessThanOrEqual(2 * w);
    }
  });
});

describe('saliency masks', () => {
  const cases = [
    { C: 5, h: 7, w: 7, H: 56, W: 56 },
    { C: 4, h: 5, w: 6, H: 23, W: 32 },
    { C: 3, h: 3, w: 3, H: 9, W: 9 },
  ];
  for (const { C, h, w, H, W } of cases) {
    it(`[${C},${h},${w}] → [${H},${W}]: range, constant flags and normalised masks match float64`, async () => {
      // Batch of 2; masks come from batch row 1 (offset C·h·w). Channel 1 is constant.
      const a = rand(2 * C * h * w, h * 31 + W, 0.05, 2);
      a.fill(0.3, (C + 1) * h * w, (C + 2) * h * w);
      const g = { channels: C, h, w, outH: H, outW: W, offset: C * h * w };
      const A = gc.upload(a, [2, C, h, w]);
      const range = poisoned([C, 4]);
      const rp = upsampledRangeProgram(gc.ctx, g);
      gc.run(rp, { inputs: [A], outputs: [range] });
      const rg = await gc.read(range);
      const ups = Array.from({ length: C }, (_, c) => upsampleRef(a.subarray((C + c) * h * w, (C + c + 1) * h * w), h, w, H, W));
      for (let c = 0; c < C; c++) {
        const [lo, hi] = minMax(ups[c]!);
        expect(rg[4 * c]).toBeCloseTo(lo, 5); expect(rg[4 * c + 1]).toBeCloseTo(hi, 5);
      }
      expect(constantChannels(rg)).toEqual(Array.from({ length: C }, (_, c) => c === 1));

      const list = Array.from({ length: C }, (_, i) => (i * 3 + 1) % C).reverse();
      const idx = gc.upload(Uint32Array.from(list), [C]);
      const start = 1, n = C - 1;
      const masks = poisoned([n, H, W]);
      const mp = saliencyMasksProgram(gc.ctx, g, start, n);
      gc.run(mp, { inputs: [A, idx, range], outputs: [masks] });
      const got = await gc.read(masks);
      const want = new Float64Array(n * H * W);
      for (let i = 0; i < n; i++) {
        const k = list[start + i]!;
        const [lo, hi] = minMax(ups[k]!);
        for (let p = 0; p < H * W; p++) want[i * H * W + p] = k === 1 ? 0 : (ups[k]![p]! - lo) / (hi - lo + 1e-6);
      }
      expectClose(got, want);
      // Every non-constant mask spans [0, 1) exactly at its extremes.
      for (let i = 0; i < n; i++) if (list[start + i] !== 1) {
        const [lo, hi] = minMax(got.subarray(i * H * W, (i + 1) * H * W));
        expect(lo).toBe(0); expect(hi).toBeGreaterThan(0.999);
      }
    });
  }
});

describe('masked input', () => {
  const n = 3, C = 3, H = 6, W = 7, P = H * W;
  const x = rand(C * P, 1, -2, 2);
  const m = rand(n * P, 2, 0.01, 1);
  for (const mode of ['channel', 'tensor'] as const) {
    it(`x ⊙ m + b ⊙ (1 − m) with a ${mode} baseline, written at an output offset`, async () => {
      const b = mode === 'channel' ? rand(C, 3) : rand(C * P, 4);
      const out = poisoned([n + 1, C, H, W]);
      const prog = maskedInputProgram(gc.ctx, { n, channels: C, pixels: P, baseline: mode, outOffset: C * P });
      gc.run(prog, { inputs: [gc.upload(x), gc.upload(m), gc.upload(b)], outputs: [out] });
      const got = (await gc.read(out)).subarray(C * P);
      const want = new Float64Array(n * C * P);
      for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) for (let p = 0; p < P; p++) {
        const mv = m[i * P + p]!; const bv = mode === 'channel' ? b[c]! : b[c * P + p]!;
        want[(i * C + c) * P + p] = x[c * P + p]! * mv + bv * (1 - mv);
      }
      expectClose(got, want, 1e-6);
    });
  }
});

describe('score-weighted accumulation', () => {
  const n = 5, P = 83, K = 4, col = 2;
  const scores = rand(n * K, 7, 0.01, 1);
  const masks = rand(n * P, 8, 0.001, 1);
  masks.fill(0, 3 * P, 4 * P); // an empty mask contributes nothing (not NaN)
  const acc0 = rand(2 * P, 9);
  for (const massNormalise of [true, false]) {
    it(`acc += Σ s_i m_i${massNormalise ? ' / Σ m_i' : ''} into the second slice of a stack`, async () => {
      const acc = gc.upload(acc0, [2, P]);
      const S = gc.upload(scores), M = gc.upload(masks);
      const prog = scoreAccumulateProgram(gc.ctx, { n, pixels: P, massNormalise, score: { offset: col, stride: K }, accOffset: P });
      gc.run(prog, { inputs: [S, M], outputs: [acc] });
      const want = Float64Array.from(acc0);
      for (let i = 0; i < n; i++) {
        let mass = 0;
        for (let p = 0; p < P; p++) mass += masks[i * P + p]!;
        const wgt = massNormalise ? (mass > 0 ? scores[i * K + col]! / mass : 0) : scores[i * K + col]!;
        for (let p = 0; p < P; p++) want[P + p]! += wgt * masks[i * P + p]!;
      }
      expectClose(await gc.read(acc), want);
      // The same program on the same tensors reuses its bind groups and adds again.
      gc.run(prog, { inputs: [S, M], outputs: [acc] });
      const twice = await gc.read(acc);
      for (let p = 0; p < P; p++) expect(twice[P + p]).toBeCloseTo(2 * want[P + p]! - acc0[P + p]!, 4);
      expect(Array.from(twice.subarray(0, P))).toEqual(Array.from(acc0.subarray(0, P)));
      gc.forget(prog);
    });
  }
});

describe('min-max normalisation', () => {
  it('normalises each map in place and zeroes a constant one', async () => {
    const maps = 3, P = 1000;
    const v = rand(maps * P, 11, -3, 5);
    v.fill(1.25, P, 2 * P);
    const t = gc.upload(v, [maps, P]);
    gc.run(minMaxNormaliseProgram(gc.ctx, maps, P), { inputs: [], outputs: [t] });
    const want = new Float64Array(maps * P);
    for (let m = 0; m < maps; m++) {
      const [lo, hi] = minMax(v.subarray(m * P, (m + 1) * P));
      for (let p = 0; p < P; p++) want[m * P + p] = hi > lo ? (v[m * P + p]! - lo) / (hi - lo + 1e-6) : 0;
    }
    expectClose(await gc.read(t), want);
  });
});

describe('distance of two normalised maps (RISE early stop)', () => {
  const P = 700;
  const norm = (v: ArrayLike<number>) => {
    const [lo, hi] = minMax(v);
    return Float64Array.from(v as ArrayLike<number>, (x) => (hi > lo ? (x - lo) / (hi - lo + 1e-6) : 0));
  };
  const meanAbs = (x: Float64Array, y: Float64Array) => x.reduce((acc, v, q) => acc + Math.abs(v - y[q]!), 0) / x.length;
  async function distance(a: Float32Array, b: Float32Array, opts: { offsetA?: number; offsetB?: number } = {}): Promise<number> {
    const info = poisoned([4]);
    gc.run(mapDistanceProgram(gc.ctx, P, opts), { inputs: [gc.upload(a, [a.length]), gc.upload(b, [b.length])], outputs: [info] });
    return (await gc.read(info))[0]!;
  }
  it('is the mean |N(a) − N(b)| of the min-max normalised maps, at any offsets', async () => {
    const a = rand(5 * P, 21, -2, 7), b = rand(2 * P, 22, 10, 11);
    const want = meanAbs(norm(a.subarray(3 * P, 4 * P)), norm(b.subarray(P)));
    expect(want).toBeGreaterThan(0.1);
    expect(Math.abs(await distance(a, b, { offsetA: 3 * P, offsetB: P }) - want)).toBeLessThan(1e-5);
  });
  it('ignores scale and offset; a constant map normalises to zeros', async () => {
    const a = rand(P, 23, -1, 1);
    expect(Math.abs(await distance(a, a.map((v) => 3 * v + 40)))).toBeLessThan(1e-5);
    const flat = await distance(a, new Float32Array(P).fill(2.5));
    expect(Math.abs(flat - norm(a).reduce((acc, v) => acc + v, 0) / P)).toBeLessThan(1e-5);
  });
});

describe('Otsu', () => {
  it('host threshold on hand-known histograms', () => {
    // Two clusters at q = 25 and 229: every t in 25..228 splits them equally well; the first wins.
    expect(otsuThresholdHost([...Array(30).fill(0.1), ...Array(70).fill(0.9)])).toBe(25);
    // q = 0, 127, 255 once each: t = 127 gives 2/9·191.5² > t = 0's 2/9·191².
    expect(otsuThresholdHost([0, 0.5, 1])).toBe(127);
    // A bimodal histogram with spread: modes around 0.2 and 0.7, separated near the valley.
    const bi = [...Array.from({ length: 50 }, (_, i) => 0.15 + 0.1 * (i / 49)), ...Array.from({ length: 50 }, (_, i) => 0.65 + 0.1 * (i / 49))];
    const t = otsuThresholdHost(bi);
    expect(t).toBe(otsuQuantise(0.25)); // the first t whose split separates the modes: q ≤ 63
    expect(Array.from(otsuMaskHost(bi))).toEqual(bi.map((v) => (v > 0.5 ? 1 : 0)));
    // Degenerate: one value → no split has variance → t = 0.
    expect(otsuThresholdHost([0.4, 0.4, 0.4])).toBe(0);
    expect(otsuThresholdHost([1, 1, 1.2, -0.1])).toBe(0);
  });

  const inputs: [string, Float32Array][] = [
    ['bimodal', Float32Array.from({ length: 777 }, (_, i) => (i % 3 === 0 ? 0.7 + 0.25 * ((i * 37) % 101) / 101 : 0.05 + 0.3 * ((i * 53) % 97) / 97))],
    ['random', rand(1500, 21, 0.0001, 1)],
    ['skewed', rand(4000, 22, 0, 1).map((v) => v ** 3)],
  ];
  for (const [name, v] of inputs) {
    it(`GPU threshold and binary mask equal the host's (${name})`, async () => {
      const bin = poisoned([v.length]);
      const info = poisoned([4]);
      gc.run(otsuProgram(gc.ctx, v.length), { inputs: [gc.upload(v)], outputs: [bin, info] });
      const t = otsuThresholdHost(v);
      expect((await gc.read(info))[0]).toBe(t);
      expect(Array.from(await gc.read(bin))).toEqual(Array.from(otsuMaskHost(v)));
    });
  }
});

describe('cascaded fusion', () => {
  /** Spec 1.2 phase 4 in float64, with the normalised values rounded as the f32 kernel rounds them so
   *  quantisation bins agree. */
  function fuseRef(v: Float32Array, B: number, P: number, gate: 'hard' | 'soft'): { e: Float64Array; ts: number[] } {
    const e = new Float64Array(P);
    const ts: number[] = [];
    for (let b = 0; b < B; b++) {
      const map = v.subarray(b * P, (b + 1) * P);
      const [lo, hi] = minMax(map);
      const inv = Math.fround(1 / Math.fround(hi - lo + 1e-6));
      const nv = Array.from(map, (x) => (hi > lo ? Math.fround(Math.fround(x - lo) * inv) : 0));
      const t = otsuThresholdHost(nv);
      ts.push(t);
      for (let p = 0; p < P; p++) {
        const g = gate === 'hard' ? (otsuQuantise(nv[p]!) > t ? 1 : 0) : 1 / (1 + Math.exp(-100 * (nv[p]! - (t + 1) / 255)));
        e[p] = b === 0 ? nv[p]! : (e[p]! + nv[p]!) * g;
      }
    }
    return { e, ts };
  }
  for (const gate of ['hard', 'soft'] as const) {
    it(`E ← (E + Ṽ_b) ⊙ gate(Ṽ_b) over 3 maps (${gate} gate)`, async () => {
      const B = 3, P = 30 * 27;
      const v = rand(B * P, 31, 0.01, 3);
      const E = poisoned([P]);
      const info = poisoned([B, 4]);
      gc.run(cascadeFusionProgram(gc.ctx, B, P, { gate }), { inputs: [gc.upload(v, [B, P])], outputs: [E, info] });
      const { e, ts } = fuseRef(v, B, P, gate);
      const inf = await gc.read(info);
      expect([inf[2], inf[6], inf[10]]).toEqual(ts);
      const got = await gc.read(E);
      expectClose(got, e);
      if (gate === 'hard') {
        // The support of E is the Otsu foreground of the deepest map.
        const deep = v.subarray(2 * P);
        const [lo, hi] = minMax(deep);
        const fg = otsuMaskHost(Array.from(deep, (x) => (x - lo) / (hi - lo + 1e-6)));
        for (let p = 0; p < P; p++) expect(got[p]! > 0 ? 1 : 0).toBe(fg[p]);
      }
    });
  }
});

describe('GpuCompute', () => {
  it('chains range → masks → masked input → accumulation in one command encoder', async () => {
    const C = 4, h = 4, w = 4, H = 16, W = 16, P = H * W, n = 3;
    const a = rand(C * h * w, 41, 0.1, 1);
    const x = rand(3 * P, 42);
    const g = { channels: C, h, w, outH: H, outW: W };
    const A = gc.upload(a, [1, C, h, w]);
    const range = poisoned([C, 4]);
    const idx = gc.upload(Uint32Array.from([3, 1, 2]));
    const masks = poisoned([n, H, W]);
    const batch = poisoned([n, 3, H, W]);
    const zero = gc.upload(new Float32Array(3));
    // Stand-in scores: pixel (0, 0) of channel 0 of each perturbed input, read with stride 3·P.
    const acc = gc.upload(new Float32Array(P), [H, W]);
    const enc = gc.device.createCommandEncoder();
    gc.run(upsampledRangeProgram(gc.ctx, g), { inputs: [A], outputs: [range] }, enc);
    gc.run(saliencyMasksProgram(gc.ctx, g, 0, n), { inputs: [A, idx, range], outputs: [masks] }, enc);
    gc.run(maskedInputProgram(gc.ctx, { n, channels: 3, pixels: P, baseline: 'channel' }), { inputs: [gc.upload(x), masks, zero], outputs: [batch] }, enc);
    gc.run(scoreAccumulateProgram(gc.ctx, { n, pixels: P, score: { offset: 0, stride: 3 * P } }), { inputs: [batch, masks], outputs: [acc] }, enc);
    gc.device.queue.submit([enc.finish()]);
    const want = new Float64Array(P);
    [3, 1, 2].forEach((k) => {
      const up = upsampleRef(a.subarray(k * h * w, (k + 1) * h * w), h, w, H, W);
      const [lo, hi] = minMax(up);
      const m = Array.from(up, (v) => (v - lo) / (hi - lo + 1e-6));
      const mass = m.reduce((s2, v) => s2 + v, 0);
      const score = x[0]! * m[0]!;
      for (let p = 0; p < P; p++) want[p]! += (score * m[p]!) / mass;
    });
    expectClose(await gc.read(acc), want);
  });


  it('allocates, writes, reads and releases tensors', async () => {
    const t = gc.alloc([2, 3]);
    expect(t.shape).toEqual([2, 3]);
    gc.write(t, Float32Array.from([1, 2, 3, 4, 5, 6]));
    gc.write(t, Float32Array.from([9]), 4);
    expect(Array.from(await gc.read(t))).toEqual([1, 2, 3, 4, 9, 6]);
    gc.release(t);
    gc.release(t);
  });
});
