import { describe, expect, it } from 'vitest';
import { channelStatsProgram, gradCamPlusPlusWeightsProgram, weightedChannelSumProgram } from '../../src/kernels/cam.js';
import { runProgram } from '../helpers/run-program.js';

function rand(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff) * 2 - 1);
}

describe('CAM kernels', () => {
  const C = 5, P = 150;
  const a = rand(C * P, 1).map((v) => Math.max(0, v + 0.2));
  const g = rand(C * P, 2).map((v) => v * 0.1);

  it('channel statistics match float64', async () => {
    const [out] = await runProgram((ctx) => channelStatsProgram(ctx, C, P), [g], [4 * C]);
    for (let c = 0; c < C; c++) {
      const ch = Array.from(g.subarray(c * P, (c + 1) * P));
      const sum = ch.reduce((x, y) => x + y, 0);
      expect(out![4 * c]).toBeCloseTo(sum / P, 5);
      expect(out![4 * c + 1]).toBe(Math.min(...ch));
      expect(out![4 * c + 2]).toBe(Math.max(...ch));
      expect(out![4 * c + 3]).toBeCloseTo(sum, 4);
    }
  });

  it('Grad-CAM++ weights match the formula, with and without α normalisation', async () => {
    for (const normalise of [true, false]) {
      const [w] = await runProgram((ctx) => gradCamPlusPlusWeightsProgram(ctx, C, P, normalise), [a, g], [C]);
      for (let c = 0; c < C; c++) {
        let sa = 0;
        for (let p = 0; p < P; p++) sa += a[c * P + p]!;
        let num = 0, as = 0;
        for (let p = 0; p < P; p++) {
          const gv = g[c * P + p]!;
          const den = 2 * gv * gv + sa * gv ** 3;
          const al = den !== 0 ? (gv * gv) / den : 0;
          num += al * Math.max(gv, 0); as += al;
        }
        const want = normalise ? (as !== 0 ? num / as : 0) : num;
        expect(Math.abs(w![c]! - want)).toBeLessThan(1e-4 * Math.max(1, Math.abs(want)));
      }
    }
  });

  it('weighted channel sum with ReLU matches float64', async () => {
    const w = rand(4 * C, 3);
    const [cam] = await runProgram((ctx) => weightedChannelSumProgram(ctx, C, P, true, { stride: 4, offset: 0 }), [a, w], [P]);
    for (let p = 0; p < P; p++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += w[4 * c]! * a[c * P + p]!;
      expect(Math.abs(cam![p]! - Math.max(s, 0))).toBeLessThan(1e-5);
    }
  });
});
