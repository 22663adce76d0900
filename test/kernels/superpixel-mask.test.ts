/**
 * Superpixel-masked inputs (LIME, E-LIME) against a float64 CPU reference: random labels, bits and
 * fills, NaN-poisoned outputs, several batch sizes and superpixel counts (K not a multiple of 4,
 * n = 1), and an output offset into a larger batch.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../tools/onnx-writer.js';
import { superpixelMaskedInputProgram } from '../../src/kernels/superpixel-mask.js';
import { GraphError } from '../../src/runtime/errors.js';
import { runProgram } from '../helpers/run-program.js';
import { testGpu } from '../helpers/gpu.js';

interface Case { n: number; C: number; H: number; W: number; K: number; seed: number }

function make(c: Case) {
  const rng = new Rng(c.seed);
  const P = c.H * c.W;
  const x = Float64Array.from({ length: c.C * P }, () => rng.normal() + 0.5);
  const labels = Uint32Array.from({ length: P }, () => rng.int(c.K));
  labels[0] = c.K - 1; // the last superpixel is always present
  const bits = Float64Array.from({ length: c.n * c.K }, () => (rng.next() < 0.5 ? 1 : 0));
  const fill = Float64Array.from({ length: c.K * c.C }, () => rng.normal() * 2 - 3);
  return { x, labels, bits, fill, P };
}

/** Independent float64 reference: loops over rows, pixels, channels in that order. */
function reference(c: Case, d: ReturnType<typeof make>): Float64Array {
  const out = new Float64Array(c.n * c.C * d.P);
  for (let i = 0; i < c.n; i++) {
    for (let p = 0; p < d.P; p++) {
      const l = d.labels[p]!;
      const keep = d.bits[i * c.K + l] === 1;
      for (let ch = 0; ch < c.C; ch++) out[(i * c.C + ch) * d.P + p] = keep ? d.x[ch * d.P + p]! : d.fill[l * c.C + ch]!;
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

const u32AsF32 = (u: Uint32Array) => new Float32Array(u.buffer, u.byteOffset, u.length);

describe('superpixel-masked input', () => {
  const cases: Case[] = [
    { n: 1, C: 3, H: 5, W: 7, K: 1, seed: 1 },
    { n: 1, C: 3, H: 9, W: 8, K: 7, seed: 2 },
    { n: 5, C: 1, H: 6, W: 6, K: 4, seed: 3 },
    { n: 13, C: 3, H: 11, W: 10, K: 23, seed: 4 },
    { n: 64, C: 2, H: 16, W: 9, K: 61, seed: 5 },
  ];
  for (const c of cases) {
    it(`matches the float64 reference (n=${c.n}, C=${c.C}, ${c.H}x${c.W}, K=${c.K})`, async () => {
      const d = make(c);
      const [out] = await runProgram((ctx) => superpixelMaskedInputProgram(ctx, { n: c.n, channels: c.C, pixels: d.P, segments: c.K }),
        [Float32Array.from(d.x), u32AsF32(d.labels), Float32Array.from(d.bits), Float32Array.from(d.fill)], [c.n * c.C * d.P]);
      const ref = reference(c, d);
      expect(out!.every(Number.isFinite)).toBe(true);
      expect(maxAbsDiff(out!, ref)).toBeLessThan(1e-6);
      if (c.K > 1) {
        // Both branches are exercised: some values come from x, some from the fill.
        const fromX = ref.filter((v, e) => v === d.x[e % (c.C * d.P)]).length;
        expect(fromX).toBeGreaterThan(0);
        expect(fromX).toBeLessThan(ref.length);
      }
    });
  }

  it('writes only its rows at an output offset', async () => {
    const c: Case = { n: 3, C: 3, H: 4, W: 5, K: 6, seed: 9 };
    const d = make(c);
    const per = c.C * d.P;
    const [out] = await runProgram((ctx) => superpixelMaskedInputProgram(ctx, { n: c.n, channels: c.C, pixels: d.P, segments: c.K, outOffset: 2 * per }),
      [Float32Array.from(d.x), u32AsF32(d.labels), Float32Array.from(d.bits), Float32Array.from(d.fill)], [(c.n + 3) * per]);
    expect(out!.subarray(0, 2 * per).every(Number.isNaN)).toBe(true);
    expect(out!.subarray((c.n + 2) * per).every(Number.isNaN)).toBe(true);
    expect(maxAbsDiff(out!.subarray(2 * per, (c.n + 2) * per), reference(c, d))).toBeLessThan(1e-6);
  });

  it('rejects bad shapes', async () => {
    const gpu = await testGpu();
    const ctx = { device: gpu.device, traits: gpu.traits, pipeline: () => { throw new Error('unused'); }, constBuffer: () => { throw new Error('unused'); } };
    expect(() => superpixelMaskedInputProgram(ctx, { n: 0, channels: 3, pixels: 4, segments: 2 })).toThrow(GraphError);
    expect(() => superpixelMaskedInputProgram(ctx, { n: 1, channels: 3, pixels: 4, segments: 1.5 })).toThrow(GraphError);
    expect(() => superpixelMaskedInputProgram(ctx, { n: 1, channels: 3, pixels: 4, segments: 2, outOffset: -1 })).toThrow(GraphError);
  });
});
