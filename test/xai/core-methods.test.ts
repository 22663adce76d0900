/**
 * The explainer core proven by new methods: LayerCAM, XGrad-CAM and HiResCAM against a float64
 * reference of the whole pipeline (forward, gradient, weights, min-max) on a small model whose
 * gradients vary per pixel; and a toy perturbation method written in a few lines on the core's
 * ScoringPass, against onnxruntime on the same occluded inputs.
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, Rng } from '../../tools/onnx-writer.js';
import { Model } from '../../src/runtime/model.js';
import { METHODS } from '../../src/xai/explain.js';
import { ExplainSession } from '../../src/xai/session.js';
import { maskedInputProgram } from '../../src/kernels/masked-input.js';
import { testGpu } from '../helpers/gpu.js';
import { createOrtSession, ort } from '../helpers/ort.js';

const CIN = 2, C = 4, J = 5, K = 3, S = 8, P = S * S;

/** Weights of x [2, 8, 8] → Conv3x3 (pad 1) + Relu = feat [4, 8, 8] → Conv1x1 (5) + Relu → GAP → Gemm (3). */
function weights(seed: number) {
  const rng = new Rng(seed);
  const r = (n: number, s: number) => Float32Array.from({ length: n }, () => rng.normal() * s);
  return { w1: r(C * CIN * 9, 0.5), b1: r(C, 0.2), w2: r(J * C, 0.7), b2: r(J, 0.3), wg: r(K * J, 1), bg: r(K, 0.1) };
}

function buildModel(w: ReturnType<typeof weights>): Uint8Array {
  const g = new GraphBuilder('cam-reference', 13);
  g.input('x', [1, CIN, S, S]);
  const c1 = g.op('Conv', ['x', g.initializer('w1', [C, CIN, 3, 3], w.w1), g.initializer('b1', [C], w.b1)], { pads: [1, 1, 1, 1] });
  g.node('Relu', [c1], ['feat']);
  const c2 = g.op('Conv', ['feat', g.initializer('w2', [J, C, 1, 1], w.w2), g.initializer('b2', [J], w.b2)]);
  const r2 = g.op('Relu', [c2]);
  const f = g.op('Flatten', [g.op('GlobalAveragePool', [r2])]);
  g.node('Gemm', [f, g.initializer('wg', [K, J], w.wg), g.initializer('bg', [K], w.bg)], ['logits'], { transB: 1 });
  g.output('logits');
  return g.toBytes();
}

/** Float64 activations A [C, P] of `feat` and the gradients of logit `c` with respect to them. */
function reference(w: ReturnType<typeof weights>, x: Float32Array, c: number): { A: Float64Array; G: Float64Array } {
  const A = new Float64Array(C * P);
  for (let k = 0; k < C; k++) for (let y = 0; y < S; y++) for (let xx = 0; xx < S; xx++) {
    let s = w.b1[k]!;
    for (let ci = 0; ci < CIN; ci++) for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const yy = y + dy, xs = xx + dx;
      if (yy < 0 || yy >= S || xs < 0 || xs >= S) continue;
      s += w.w1[((k * CIN + ci) * 3 + dy + 1) * 3 + dx + 1]! * x[(ci * S + yy) * S + xs]!;
    }
    A[k * P + y * S + xx] = Math.max(0, s);
  }
  const G = new Float64Array(C * P);
  for (let p = 0; p < P; p++) for (let j = 0; j < J; j++) {
    let z = w.b2[j]!;
    for (let k = 0; k < C; k++) z += w.w2[j * C + k]! * A[k * P + p]!;
    if (z <= 0) continue;
    // d logit_c / d A[k, p] = wg[c, j] / P · 1[z_j,p > 0] · w2[j, k], summed over j.
    for (let k = 0; k < C; k++) G[k * P + p]! += (w.wg[c * J + j]! / P) * w.w2[j * C + k]!;
  }
  return { A, G };
}

function minMax(v: Float64Array): Float64Array {
  let lo = Infinity, hi = -Infinity;
  for (const x of v) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
  return hi > lo ? v.map((x) => (x - lo) / (hi - lo + 1e-6)) : new Float64Array(v.length);
}

const REFERENCE: Record<string, (A: Float64Array, G: Float64Array) => Float64Array> = {
  layercam: (A, G) => Float64Array.from({ length: P }, (_, p) => { let s = 0; for (let k = 0; k < C; k++) s += Math.max(0, G[k * P + p]!) * A[k * P + p]!; return Math.max(0, s); }),
  hirescam: (A, G) => Float64Array.from({ length: P }, (_, p) => { let s = 0; for (let k = 0; k < C; k++) s += G[k * P + p]! * A[k * P + p]!; return Math.max(0, s); }),
  xgradcam: (A, G) => {
    const wk = Array.from({ length: C }, (_, k) => { let sa = 0, sag = 0; for (let p = 0; p < P; p++) { sa += A[k * P + p]!; sag += A[k * P + p]! * G[k * P + p]!; } return sag / (sa + 1e-7); });
    return Float64Array.from({ length: P }, (_, p) => { let s = 0; for (let k = 0; k < C; k++) s += wk[k]! * A[k * P + p]!; return Math.max(0, s); });
  },
};

describe('new CAMs against a float64 reference', () => {
  for (const seed of [3, 11]) {
    it(`LayerCAM, XGrad-CAM and HiResCAM match the float64 pipeline (seed ${seed})`, async () => {
      const w = weights(seed);
      const model = await Model.load(buildModel(w), { gpu: await testGpu(), tune: false });
      try {
        const rng = new Rng(seed + 100);
        const x = Float32Array.from({ length: CIN * P }, () => rng.normal());
        const maps: Record<string, Float64Array> = {};
        for (const c of [0, 2]) {
          const { A, G } = reference(w, x, c);
          for (const [method, ref] of Object.entries(REFERENCE)) {
            const want = minMax(ref(A, G));
            maps[`${method}/${c}`] = want;
            const e = await METHODS[method]!(model, x, { layer: 'feat', classIndex: c });
            expect(e.method).toBe(method);
            expect(e.classIndex).toBe(c);
            expect(e.map.data.every(Number.isFinite)).toBe(true);
            let d = 0;
            for (let p = 0; p < P; p++) d = Math.max(d, Math.abs(e.map.data[p]! - want[p]!));
            expect(d, `${method} class ${c}`).toBeLessThan(1e-4);
          }
        }
        // The three recipes are not the same map (the reference could not pass them all by accident).
        const diff = (a: Float64Array, b: Float64Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
        expect(diff(maps['layercam/0']!, maps['hirescam/0']!) + diff(maps['layercam/2']!, maps['hirescam/2']!)).toBeGreaterThan(1e-2);
        expect(diff(maps['xgradcam/0']!, maps['hirescam/0']!) + diff(maps['xgradcam/2']!, maps['hirescam/2']!)).toBeGreaterThan(1e-2);
      } finally {
        model.destroy();
      }
    });
  }
});

describe('a toy method through the core', () => {
  it('row occlusion (score drop when one image row is set to 0) in a few lines equals onnxruntime on the occluded inputs', async () => {
    const w = weights(5);
    const bytes = buildModel(w);
    const model = await Model.load(bytes, { gpu: await testGpu(), tune: false });
    try {
      const rng = new Rng(8);
      const x = Float32Array.from({ length: CIN * P }, () => rng.normal());
      const classIndex = 1;

      // ---- the method: the mask source (one row per mask) and the accumulation (score drops) ----
      const s = new ExplainSession(model, x, { classIndex });
      let drops: Float32Array;
      try {
        const { score } = await s.classify('logit');
        const masks = s.compute.upload(Float32Array.from({ length: S * P }, (_, i) => (Math.floor((i % P) / S) === Math.floor(i / P) ? 0 : 1)), [S, S, S]);
        const base = s.compute.upload(new Float32Array(CIN), [CIN]);
        const out = s.compute.alloc([S]);
        const pass = await s.scoringPass({ batch: S, mode: 'logit', classes: [classIndex] });
        const masked = maskedInputProgram(s.compute.ctx, { n: S, channels: CIN, pixels: P, baseline: 'channel' });
        await pass.step(S, (cmd) => cmd.run(masked, { inputs: [s.image, masks, base], outputs: [pass.input] }), (cmd) => pass.keepScores(cmd, out, 0, S));
        drops = (await s.compute.read(out)).map((v) => score - v);
      } finally {
        s.destroy();
      }
      // ---- end of the method ----

      const session = await createOrtSession(bytes);
      const run = async (t: Float32Array) => ((await session.run({ x: new ort.Tensor('float32', t, [1, CIN, S, S]) })).logits!.data as Float32Array)[classIndex]!;
      const full = await run(x);
      for (let r = 0; r < S; r++) {
        const occluded = Float32Array.from(x, (v, i) => (Math.floor((i % P) / S) === r ? 0 : v));
        expect(Math.abs(drops[r]! - (full - (await run(occluded))))).toBeLessThan(1e-4);
      }
      expect(Math.max(...drops.map(Math.abs))).toBeGreaterThan(1e-3);
    } finally {
      model.destroy();
    }
  });
});
