/**
 * IASSA's kernels against float64 references written here: the tiled spatial attention (affinity,
 * both softmaxes and s·A2, with and without Gram levels, one and several splits) against the
 * dense computation; occlusion masks, statistics and both normalisations; the keep rules on a
 * hand-made region; the mix with the bilinear up-sampling and the region threshold.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../tools/onnx-writer.js';
import { GpuCompute } from '../../src/runtime/compute.js';
import { LongRangeAttention } from '../../src/xai/lrpf-attention.js';
import { attentionMixProgram, regionThresholdProgram } from '../../src/kernels/spatial-attention.js';
import { occlusionAccumulateProgram, occlusionAccumulatorSize, occlusionFinaliseProgram, occlusionGridSize, occlusionMasksProgram, occlusionOrigins, windowKeepProgram,
  type KeepRule, type OcclusionGrid } from '../../src/kernels/occlusion.js';
import { runProgram } from '../helpers/run-program.js';
import { testGpu } from '../helpers/gpu.js';
import { denseAttention, type RefLevel } from '../helpers/iassa-reference.js';

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-6): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / Math.max(floor, Math.abs(b[i]!)));
  return m;
}

describe('spatial attention (LRPF-SA) against the dense float64 computation', () => {
  const rng = new Rng(2024);
  const mk = (C: number, h: number, w: number, scale: number): RefLevel => ({ C, h, w, data: Float64Array.from({ length: C * h * w }, () => rng.normal() * scale) });
  // D = 40: one level at the grid's size, two coarser (Gram candidates, one of them 5×7), one finer.
  const levels = [mk(8, 12, 12, 0.3), mk(20, 6, 6, 0.2), mk(5, 24, 24, 0.3), mk(7, 5, 7, 0.3)];
  const R = 12, srcH = 20, srcW = 16;
  const sal = Float64Array.from({ length: srcH * srcW }, () => rng.uniform(0.1, 1));
  const ref = denseAttention(levels, R, sal, srcH, srcW);

  for (const setup of [{ gram: 'auto' as const }, { gram: 'never' as const }, { gram: 'auto' as const, cellsPerSplit: 64 }]) {
    it(`matches with gram=${setup.gram}${setup.cellsPerSplit ? ', 3 splits' : ''}`, async () => {
      const gpu = await testGpu();
      const c = new GpuCompute(gpu);
      try {
        const feats = levels.map((l) => ({ tensor: c.upload(Float32Array.from(l.data), [1, l.C, l.h, l.w]), channels: l.C, height: l.h, width: l.w }));
        const n = R * R;
        const salT = c.upload(Float32Array.from(sal), [srcH, srcW]);
        const att = c.alloc([n]); c.fill(att, NaN);
        const A = c.alloc([n, n]); c.fill(A, NaN);
        let e = gpu.device.createCommandEncoder();
        const lr = new LongRangeAttention(c, feats, { resolution: R, ...setup }, e);
        c.fill(lr.stats.columns, NaN); c.fill(lr.stats.rows, NaN);
        // The NaN fills above are queued before the encoder's work, so the passes overwrite them.
        gpu.device.queue.submit([e.finish()]);
        e = gpu.device.createCommandEncoder();
        lr.encodeProduct(salT, srcH, srcW, att, e);
        lr.encodeAffinity(A, e);
        gpu.device.queue.submit([e.finish()]);
        expect(lr.gramLevels).toEqual(setup.gram === 'auto' ? [false, true, false, true] : [false, false, false, false]);
        const [a, cols, rows, s] = [await c.read(A), await c.read(lr.stats.columns), await c.read(lr.stats.rows), await c.read(att)];
        expect(maxRelDiff(a, ref.A, 1)).toBeLessThan(1e-5);
        expect(maxRelDiff(cols.filter((_, k) => k % 2 === 0), ref.colMax, 1)).toBeLessThan(1e-5);
        expect(maxRelDiff(cols.filter((_, k) => k % 2 === 1), ref.colSum)).toBeLessThan(1e-5);
        expect(maxRelDiff(rows, ref.rowSum)).toBeLessThan(1e-5);
        expect(maxRelDiff(s, ref.att)).toBeLessThan(1e-5);
        // The double softmax really flattens (spec 4.2 quirk), but not to a constant.
        const sd = Math.max(...ref.att) - Math.min(...ref.att);
        expect(sd).toBeGreaterThan(1e-4);
        lr.release();
      } finally {
        c.destroy();
      }
    });
  }
});

// ---- occlusion ----
function refOccluded(g: OcclusionGrid, i: number, y: number, x: number): boolean {
  const ox = occlusionOrigins(g.width, g.window, g.stride), oy = occlusionOrigins(g.height, g.window, g.stride);
  const r = oy[Math.floor(i / ox.length)]!, c = ox[i % ox.length]!;
  return y >= r && y < r + g.window && x >= c && x < c + g.window;
}

describe('occlusion kernels', () => {
  const g: OcclusionGrid = { height: 11, width: 9, window: 5, stride: 3 };

  it('grid sizes follow np.arange(s − w, size, s)', () => {
    expect(occlusionOrigins(224, 45, 8)).toHaveLength(33);
    expect(occlusionGridSize({ height: 224, width: 224, window: 43, stride: 8 }).count).toBe(1089);
    for (const [w, s] of [[42, 7], [40, 7], [39, 7], [37, 7]] as const) expect(occlusionGridSize({ height: 224, width: 224, window: w, stride: s }).count).toBe(1369);
    expect(occlusionOrigins(11, 5, 3)).toEqual([-2, 1, 4, 7, 10]);
  });

  it('masks, statistics and both normalisations match float64', async () => {
    const { count } = occlusionGridSize(g);
    const P = g.height * g.width;
    const rng = new Rng(3);
    const list = Uint32Array.from([3, 0, 7, count - 1, 12, 5, 19]);
    const scores = Float32Array.from(list, () => rng.uniform(0.05, 1));
    const listF = new Float32Array(list.buffer);
    const [m] = await runProgram((ctx) => occlusionMasksProgram(ctx, g, 2, 4), [listF], [4 * P]);
    for (let k = 0; k < 4; k++) for (let p = 0; p < P; p++) {
      expect(m![k * P + p]).toBe(refOccluded(g, list[2 + k]!, Math.floor(p / g.width), p % g.width) ? 0 : 1);
    }
    // Two batches (list[0..3), list[3..7)) accumulate, then finalise.
    const gpu = await testGpu();
    const c = new GpuCompute(gpu);
    try {
      const listT = c.upload(list);
      const acc = c.alloc([occlusionAccumulatorSize(g)]);
      c.fill(acc, 0);
      const b1 = c.alloc([3]), b2 = c.alloc([4]);
      c.write(b1, scores.subarray(0, 3)); c.write(b2, scores.subarray(3));
      c.run(occlusionAccumulateProgram(c.ctx, g, 0, 3), { inputs: [b1, listT], outputs: [acc] });
      c.run(occlusionAccumulateProgram(c.ctx, g, 3, 4), { inputs: [b2, listT], outputs: [acc] });
      for (const mode of ['kept-count', 'coverage'] as const) {
        const S = c.alloc([P]); c.fill(S, NaN);
        c.run(occlusionFinaliseProgram(c.ctx, P, mode), { inputs: [acc], outputs: [S] });
        const got = await c.read(S);
        for (let p = 0; p < P; p++) {
          let num = 0, den = 0;
          list.forEach((w, k) => { const vis = refOccluded(g, w, Math.floor(p / g.width), p % g.width) ? 0 : 1; num += scores[k]! * vis; den += vis; });
          const want = mode === 'kept-count' ? num / list.length : num / den;
          expect(Math.abs(got[p]! - want)).toBeLessThan(1e-6);
        }
      }
    } finally {
      c.destroy();
    }
  });

  it('keep rules on a hand-made region', async () => {
    const gk: OcclusionGrid = { height: 16, width: 16, window: 6, stride: 4 };
    const { count } = occlusionGridSize(gk);
    const P = 256;
    const cases: { name: string; region: Float32Array }[] = [
      { name: 'blob', region: Float32Array.from({ length: P }, (_, p) => (Math.floor(p / 16) >= 9 && Math.floor(p / 16) < 12 && p % 16 >= 2 && p % 16 < 4 ? 1 : 0)) },
      { name: 'single pixel', region: Float32Array.from({ length: P }, (_, p) => (p === 5 * 16 + 13 ? 1 : 0)) },
      { name: 'empty', region: new Float32Array(P) },
      { name: 'full', region: new Float32Array(P).fill(1) },
    ];
    for (const { name, region } of cases) {
      const total = region.reduce((a, b) => a + b, 0);
      for (const rule of ['window-overlaps-region', 'reference-parity'] as KeepRule[]) {
        const [flags] = await runProgram((ctx) => windowKeepProgram(ctx, gk, rule), [region, Float32Array.of(0, 1, 0.5, total)], [count]);
        const want = Array.from({ length: count }, (_, i) => {
          let inside = 0, outside = 0;
          for (let p = 0; p < P; p++) if (region[p]) { if (refOccluded(gk, i, Math.floor(p / 16), p % 16)) inside++; else outside++; }
          return (rule === 'reference-parity' ? outside > 0 : inside > 0) ? 1 : 0;
        });
        expect(Array.from(flags!), `${name} ${rule}`).toEqual(want);
      }
    }
    // The blob: the intended rule keeps a few windows; the code's rule all but the windows that
    // cover the whole blob.
    const [intended] = await runProgram((ctx) => windowKeepProgram(ctx, gk, 'window-overlaps-region'), [cases[0]!.region, Float32Array.of(0, 0, 0, 6)], [count]);
    const [parity] = await runProgram((ctx) => windowKeepProgram(ctx, gk, 'reference-parity'), [cases[0]!.region, Float32Array.of(0, 0, 0, 6)], [count]);
    const kept = (f: Float32Array) => f.reduce((a, b) => a + b, 0);
    expect(kept(intended!)).toBeGreaterThan(0);
    expect(kept(intended!)).toBeLessThan(count / 3);
    expect(kept(parity!)).toBeGreaterThan(count - 4);
    expect(kept(parity!)).toBeLessThan(count);
  });
});

describe('mix and region threshold', () => {
  it('S_adj = λS + (1 − λ)·bilinear(s_att) and the region match float64', async () => {
    const H = 13, W = 10, gh = 5, gw = 4, lambda = 0.3;
    const rng = new Rng(8);
    const S = Float32Array.from({ length: H * W }, () => rng.normal());
    const att = Float32Array.from({ length: gh * gw }, () => rng.normal());
    const [adj] = await runProgram((ctx) => attentionMixProgram(ctx, { height: H, width: W, gridH: gh, gridW: gw, lambda }), [S, att], [H * W]);
    const tap = (d: number, inS: number, outS: number) => {
      const src = Math.max((d + 0.5) * inS / outS - 0.5, 0);
      const i0 = Math.min(Math.floor(src), inS - 1);
      return { i0, i1: Math.min(i0 + 1, inS - 1), l: src - i0 };
    };
    const want = new Float64Array(H * W);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const ty = tap(y, gh, H), tx = tap(x, gw, W);
      const v = (r: number, c: number) => att[r * gw + c]!;
      const up = (1 - ty.l) * ((1 - tx.l) * v(ty.i0, tx.i0) + tx.l * v(ty.i0, tx.i1)) + ty.l * ((1 - tx.l) * v(ty.i1, tx.i0) + tx.l * v(ty.i1, tx.i1));
      want[y * W + x] = lambda * S[y * W + x]! + (1 - lambda) * up;
    }
    expect(maxRelDiff(adj!, want, 1)).toBeLessThan(1e-5);
    const [region, stats] = await runProgram((ctx) => regionThresholdProgram(ctx, H * W, 0.3), [adj!], [H * W, 4]);
    const lo = Math.min(...adj!), hi = Math.max(...adj!), thr = lo + 0.3 * (hi - lo);
    expect(Array.from(region!)).toEqual(Array.from(adj!, (v) => (v > thr ? 1 : 0)));
    expect(stats![0]).toBe(lo); expect(stats![1]).toBe(hi);
    expect(stats![3]).toBe(region!.reduce((a, b) => a + b, 0));
  });
});
