/**
 * SISE and Ada-SISE end to end against a float64 CPU reference of every phase, on a small CNN the
 * test builds: gradient scores and selected channels, per-layer maps, cascaded fusion.
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, Rng } from '../../tools/onnx-writer.js';
import { Model } from '../../src/runtime/model.js';
import { sise, sisePaper, adaSise, selectChannels } from '../../src/xai/sise.js';
import { otsuQuantise, otsuThresholdHost } from '../../src/xai/otsu.js';
import { OUTSIDE_SCALE } from '../../src/xai/sise-fusion.js';
import { testGpu } from '../helpers/gpu.js';

const S = 16, C0 = 3, C1 = 4, C2 = 6, K = 5;
const rng = new Rng(1234);
const randn = (n: number, scale: number) => Float64Array.from({ length: n }, () => rng.normal() * scale);
const W1 = randn(C1 * C0 * 9, 0.4), B1 = randn(C1, 0.1);
const W2 = randn(C2 * C1 * 9, 0.3), B2 = randn(C2, 0.1);
const W3 = randn(K * C2, 0.8), B3 = randn(K, 0.1);

function buildModel(): Uint8Array {
  const g = new GraphBuilder('tiny-sise', 13);
  g.input('x', [1, C0, S, S]);
  const c1 = g.op('Conv', ['x', g.initializer('w1', [C1, C0, 3, 3], Float32Array.from(W1)), g.initializer('b1', [C1], Float32Array.from(B1))], { pads: [1, 1, 1, 1] });
  g.node('Relu', [c1], ['a1']);
  const p = g.op('MaxPool', ['a1'], { kernel_shape: [2, 2], strides: [2, 2] });
  const c2 = g.op('Conv', [p, g.initializer('w2', [C2, C1, 3, 3], Float32Array.from(W2)), g.initializer('b2', [C2], Float32Array.from(B2))], { pads: [1, 1, 1, 1] });
  g.node('Relu', [c2], ['a2']);
  const gap = g.op('GlobalAveragePool', ['a2']);
  const f = g.op('Flatten', [gap]);
  g.node('Gemm', [f, g.initializer('w3', [K, C2], Float32Array.from(W3)), g.initializer('b3', [K], Float32Array.from(B3))], ['logits'], { transB: 1 });
  g.output('logits');
  return g.toBytes();
}

// ---- float64 reference ----
function conv3x3(x: Float64Array, cin: number, n: number, w: Float64Array, b: Float64Array, cout: number): Float64Array {
  const y = new Float64Array(cout * n * n);
  for (let o = 0; o < cout; o++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = b[o]!;
    for (let c = 0; c < cin; c++) for (let di = 0; di < 3; di++) for (let dj = 0; dj < 3; dj++) {
      const ii = i + di - 1, jj = j + dj - 1;
      if (ii >= 0 && ii < n && jj >= 0 && jj < n) s += w[((o * cin + c) * 3 + di) * 3 + dj]! * x[(c * n + ii) * n + jj]!;
    }
    y[(o * n + i) * n + j] = s;
  }
  return y;
}
const relu = (v: Float64Array) => v.map((x) => Math.max(0, x));
function fromA1(a1: Float64Array): { a2: Float64Array; logits: Float64Array } {
  const h = S / 2;
  const p = new Float64Array(C1 * h * h);
  for (let c = 0; c < C1; c++) for (let i = 0; i < h; i++) for (let j = 0; j < h; j++) {
    let m = -Infinity;
    for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) m = Math.max(m, a1[(c * S + 2 * i + a) * S + 2 * j + b]!);
    p[(c * h + i) * h + j] = m;
  }
  const a2 = relu(conv3x3(p, C1, h, W2, B2, C2));
  return { a2, logits: fromA2(a2) };
}
function fromA2(a2: Float64Array): Float64Array {
  const h = S / 2;
  const gap = Float64Array.from({ length: C2 }, (_, c) => a2.subarray(c * h * h, (c + 1) * h * h).reduce((s, v) => s + v, 0) / (h * h));
  return Float64Array.from({ length: K }, (_, k) => B3[k]! + gap.reduce((s, v, c) => s + v * W3[k * C2 + c]!, 0));
}
function forward(x: Float64Array) {
  const a1 = relu(conv3x3(x, C0, S, W1, B1, C1));
  return { a1, ...fromA1(a1) };
}
const softmaxAt = (z: Float64Array, c: number) => { const m = Math.max(...z); const e = z.map((v) => Math.exp(v - m)); return e[c]! / e.reduce((s, v) => s + v, 0); };

/** α_k = mean over pixels of ∂Ψ/∂A_k: the derivative along the all-ones direction of channel k, / pixels. */
function alphas(a: Float64Array, channels: number, n: number, psi: (a: Float64Array) => number): Float64Array {
  const eps = 1e-5;
  return Float64Array.from({ length: channels }, (_, k) => {
    const up = Float64Array.from(a), dn = Float64Array.from(a);
    for (let p = 0; p < n * n; p++) { up[k * n * n + p]! += eps; dn[k * n * n + p]! -= eps; }
    return (psi(up) - psi(dn)) / (2 * eps * n * n);
  });
}
function upsample(a: Float64Array, n: number): Float64Array {
  const out = new Float64Array(S * S);
  const tap = (o: number) => { const src = Math.max((o + 0.5) * (n / S) - 0.5, 0); const f = Math.min(Math.floor(src), n - 1); return [f, Math.min(f + 1, n - 1), f + 1 <= n - 1 ? src - f : 0] as const; };
  for (let i = 0; i < S; i++) for (let j = 0; j < S; j++) {
    const [y0, y1, ly] = tap(i), [x0, x1, lx] = tap(j);
    const v = (y: number, x: number) => a[y * n + x]!;
    out[i * S + j] = (v(y0, x0) * (1 - lx) + v(y0, x1) * lx) * (1 - ly) + (v(y1, x0) * (1 - lx) + v(y1, x1) * lx) * ly;
  }
  return out;
}
const minmax = (v: Float64Array) => { const lo = Math.min(...v), hi = Math.max(...v); return hi === lo ? v.map(() => 0) : v.map((x) => (x - lo) / (hi - lo + 1e-6)); };

function referenceSise(x: Float64Array, c: number, rule: Parameters<typeof selectChannels>[2]) {
  const f = forward(x);
  const layers = [{ a: f.a1, ch: C1, n: S, psi: (a: Float64Array) => softmaxAt(fromA1(a).logits, c) }, { a: f.a2, ch: C2, n: S / 2, psi: (a: Float64Array) => softmaxAt(fromA2(a), c) }];
  const out = layers.map((l) => {
    const alpha = alphas(l.a, l.ch, l.n, l.psi);
    const usable = Array.from({ length: l.ch }, (_, k) => { const ch = l.a.subarray(k * l.n * l.n, (k + 1) * l.n * l.n); return Math.max(...ch) > Math.min(...ch); });
    const idx = selectChannels(alpha, usable, rule);
    const V = new Float64Array(S * S);
    for (const k of idx) {
      const m = minmax(upsample(l.a.subarray(k * l.n * l.n, (k + 1) * l.n * l.n), l.n));
      const xm = Float64Array.from(x, (v, i) => v * m[i % (S * S)]!);
      const psi = softmaxAt(forward(xm).logits, c);
      const mass = m.reduce((s, v) => s + v, 0);
      for (let p = 0; p < S * S; p++) V[p]! += (psi * m[p]!) / mass;
    }
    return { idx, V: minmax(V) };
  });
  let E = out[0]!.V;
  const t = otsuThresholdHost(out[1]!.V);
  E = E.map((v, p) => (v + out[1]!.V[p]!) * (otsuQuantise(out[1]!.V[p]!) > t ? 1 : 0));
  return { layers: out, fused: minmax(E), otsuT: t };
}

/**
 * The `outside: 'deepest'` fusion from the reference's float64 layer maps: the hard cascade, then
 * every pixel it leaves at exactly 0 gets OUTSIDE_SCALE·(smallest positive fused value)·(deepest map), then min-max.
 */
function rankedReference(V: readonly Float64Array[]): Float64Array {
  let E = Float64Array.from(V[0]!);
  for (let b = 1; b < V.length; b++) {
    const t = otsuThresholdHost(V[b]!);
    E = E.map((v, p) => (v + V[b]![p]!) * (otsuQuantise(V[b]![p]!) > t ? 1 : 0));
  }
  const minPos = Math.min(...E.filter((v) => v > 0));
  const deep = V[V.length - 1]!;
  return minmax(E.map((v, p) => (v > 0 ? v : OUTSIDE_SCALE * minPos * deep[p]!)));
}

describe('SISE against a float64 reference', () => {
  for (const [name, run, rule] of [['SISE', sise, { kind: 'threshold', mu: 0 }], ['Ada-SISE', adaSise, { kind: 'otsu' }]] as const) {
    it(`${name}: selected channels, layer maps and fused map`, async () => {
      const gpu = await testGpu();
      const model = await Model.load(buildModel(), { gpu });
      try {
        const x = Float64Array.from({ length: C0 * S * S }, () => rng.uniform(-1, 1.5));
        const e = await run(model, Float32Array.from(x), { layers: ['a1', 'a2'], batchSize: 3, outside: 'zero' });
        const ref = referenceSise(x, e.classIndex, rule);
        expect(e.params['masks']).toBe(ref.layers[0]!.idx.length + ref.layers[1]!.idx.length);
        expect(e.forwardPasses).toBe(2 + (e.params['masks'] as number));
        expect(e.backwardPasses).toBe(1);
        ref.layers.forEach((l, i) => {
          expect(e.layers![i]!.masks).toBe(l.idx.length);
          const got = e.layers![i]!.map.data;
          for (let p = 0; p < S * S; p++) expect(Math.abs(got[p]! - l.V[p]!)).toBeLessThan(1e-4);
        });
        // Pixels whose deepest map sits on an Otsu bin edge may legitimately flip between f32 and f64.
        const edge = (v: number) => Math.abs(255 * v - Math.round(255 * v)) < 1e-3;
        let compared = 0;
        for (let p = 0; p < S * S; p++) {
          if (edge(ref.layers[1]!.V[p]!)) continue;
          compared++;
          expect(Math.abs(e.map.data[p]! - ref.fused[p]!)).toBeLessThan(1e-4);
        }
        expect(compared).toBeGreaterThan(S * S * 0.9);
        expect(e.map.data.some((v) => v > 0.99)).toBe(true);
      } finally {
        model.destroy();
      }
    });

    it(`${name}: outside 'deepest' ranks the gated-zero region by the deepest map; sise-paper leaves it at 0`, async () => {
      const gpu = await testGpu();
      const model = await Model.load(buildModel(), { gpu });
      try {
        const x = Float64Array.from({ length: C0 * S * S }, () => rng.uniform(-1, 1.5));
        const opts = { layers: ['a1', 'a2'], batchSize: 3 };
        const ranked = await run(model, Float32Array.from(x), { ...opts, outside: 'deepest' });
        const paper = name === 'SISE' ? await sisePaper(model, Float32Array.from(x), opts) : await run(model, Float32Array.from(x), { ...opts, outside: 'zero' });
        expect(ranked.params['outside']).toBe('deepest');
        expect(paper.params['outside']).toBe('zero');
        // The layer maps are checked against float64 above; here the fusion, in float64 from them
        // (an f32-vs-f64 Otsu bin flip would otherwise move the outside scale).
        const want = rankedReference(ranked.layers!.map((l) => minmax(Float64Array.from(l.map.data))));
        const zeros = [...paper.map.data.keys()].filter((p) => paper.map.data[p] === 0);
        expect(zeros.length).toBeGreaterThan(0);
        for (let p = 0; p < S * S; p++) expect(Math.abs(ranked.map.data[p]! - want[p]!)).toBeLessThan(1e-4);
        // Outside values are small (≤ OUTSIDE_SCALE of the gated ones): check them relatively too.
        for (const p of zeros) expect(Math.abs(ranked.map.data[p]! - want[p]!)).toBeLessThanOrEqual(1e-4 * want[p]! + 1e-9);
        // Inside the gate the order is the paper's, and every gated pixel stays above every outside one.
        const inside = [...paper.map.data.keys()].filter((p) => paper.map.data[p]! > 0);
        const maxOut = Math.max(...zeros.map((p) => ranked.map.data[p]!));
        const minIn = Math.min(...inside.map((p) => ranked.map.data[p]!));
        expect(maxOut).toBeLessThan(minIn);
        expect(maxOut).toBeGreaterThan(0);
        for (const p of inside) for (const q of inside) if (paper.map.data[p]! < paper.map.data[q]! - 1e-5) expect(ranked.map.data[p]!).toBeLessThan(ranked.map.data[q]!);
      } finally {
        model.destroy();
      }
    });
  }
});
