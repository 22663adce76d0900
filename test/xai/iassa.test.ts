/**
 * IASSA (methods spec 4): the whole pipeline (occlusion rounds, LRPF-SA, regions, keep rules,
 * shrinking windows) against a float64 reference written here on a tiny model whose Ψ is easy on
 * the CPU; pass counting; determinism; the known-evidence CNN; cancellation; parameter
 * validation. The tiled attention kernels are checked against the dense computation in
 * test/kernels/spatial-attention.test.ts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GraphBuilder, Rng } from '../../tools/onnx-writer.js';
import { Model } from '../../src/runtime/model.js';
import { GpuCompute } from '../../src/runtime/compute.js';
import { CancelledError, InputError } from '../../src/runtime/errors.js';
import { iassa, iassaParams, type IassaOptions } from '../../src/xai/iassa.js';
import { testGpu } from '../helpers/gpu.js';
import { evidenceImage, evidenceModel, evidenceScore } from '../helpers/evidence-model.js';
import { denseAttention, type RefLevel } from '../helpers/iassa-reference.js';

// ---- tiny model: 1×1 Conv ('feat') → GlobalAveragePool → Gemm, so Ψ(x ⊙ M) is easy on the CPU ----
const C0 = 3, CF = 4, H = 12, W = 10, K = 5, P = H * W;
const rng = new Rng(41);
const Wc = Float64Array.from({ length: CF * C0 }, () => rng.normal());
const Bc = Float64Array.from({ length: CF }, () => rng.normal() * 0.3);
const Wg = Float64Array.from({ length: K * CF }, () => rng.normal() * 2);
const Bg = Float64Array.from({ length: K }, () => rng.normal() * 0.5);
const image = Float32Array.from({ length: C0 * P }, () => rng.normal());

function tinyModel(): Uint8Array {
  const g = new GraphBuilder('tiny-iassa', 13);
  g.input('x', [1, C0, H, W]);
  g.node('Conv', ['x', g.initializer('wc', [CF, C0, 1, 1], Float32Array.from(Wc)), g.initializer('bc', [CF], Float32Array.from(Bc))], ['feat']);
  const gap = g.op('GlobalAveragePool', ['feat']);
  const f = g.op('Flatten', [gap]);
  g.node('Gemm', [f, g.initializer('w', [K, CF], Float32Array.from(Wg)), g.initializer('b', [K], Float32Array.from(Bg))], ['logits'], { transB: 1 });
  g.output('logits');
  return g.toBytes();
}

// ---- float64 reference of the method ----
function psi(mask: Float64Array, cls: number): number {
  const f = Float64Array.from(Bc);
  for (let c = 0; c < C0; c++) {
    let mean = 0;
    for (let p = 0; p < P; p++) mean += image[c * P + p]! * mask[p]!;
    mean /= P;
    for (let j = 0; j < CF; j++) f[j]! += Wc[j * C0 + c]! * mean;
  }
  const z = Float64Array.from(Bg);
  for (let k = 0; k < K; k++) for (let j = 0; j < CF; j++) z[k]! += Wg[k * CF + j]! * f[j]!;
  const mx = Math.max(...z);
  const e = z.map((v) => Math.exp(v - mx));
  return e[cls]! / e.reduce((a, b) => a + b, 0);
}

const origins = (size: number, w: number, s: number) => { const o: number[] = []; for (let r = s - w; r < size; r += s) o.push(r); return o; };

/** Window i's mask (0 inside the clipped window) for an H×W grid. */
function windowMask(w: number, s: number, i: number): Float64Array {
  const ox = origins(W, w, s), oy = origins(H, w, s);
  const r = oy[Math.floor(i / ox.length)]!, c = ox[i % ox.length]!;
  return Float64Array.from({ length: P }, (_, p) => { const y = Math.floor(p / W), x = p % W; return y >= r && y < r + w && x >= c && x < c + w ? 0 : 1; });
}

function occlusionRef(w: number, s: number, list: number[], cls: number, norm: 'kept-count' | 'coverage'): Float64Array {
  const num = new Float64Array(P), den = new Float64Array(P);
  let total = 0;
  for (const i of list) {
    const m = windowMask(w, s, i);
    const p = psi(m, cls);
    total += p;
    for (let q = 0; q < P; q++) { num[q]! += p * m[q]!; den[q]! += m[q]!; }
  }
  return num.map((v, q) => (norm === 'kept-count' ? v / list.length : den[q]! > 0 ? v / den[q]! : total / list.length));
}

function bilinear(src: ArrayLike<number>, sh: number, sw: number): Float64Array {
  const tap = (d: number, inS: number, outS: number) => {
    const x = Math.max((d + 0.5) * (inS / outS) - 0.5, 0);
    const i0 = Math.min(Math.floor(x), inS - 1);
    return { i0, i1: Math.min(i0 + 1, inS - 1), l: x - i0 };
  };
  const out = new Float64Array(P);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const a = tap(y, sh, H), b = tap(x, sw, W);
    const v = (r: number, c: number) => src[r * sw + c]!;
    out[y * W + x] = (1 - a.l) * ((1 - b.l) * v(a.i0, b.i0) + b.l * v(a.i0, b.i1)) + a.l * ((1 - b.l) * v(a.i1, b.i0) + b.l * v(a.i1, b.i1));
  }
  return out;
}

interface RefOpts { K: number; schedule: [number, number][]; lambda: number; t: number; R: number; rule: 'window-overlaps-region' | 'reference-parity'; norm: 'kept-count' | 'coverage'; levels: RefLevel[]; cls: number }

function iassaRef(o: RefOpts): { map: Float64Array; region: number[]; kept: number[] } {
  const count = (w: number, s: number) => origins(W, w, s).length * origins(H, w, s).length;
  const [w0, s0] = o.schedule[0]!;
  let S = occlusionRef(w0, s0, Array.from({ length: count(w0, s0) }, (_, i) => i), o.cls, o.norm);
  const kept = [count(w0, s0)];
  let adj = new Float64Array(P), region: number[] = [];
  for (let m = 1; ; m++) {
    const att = denseAttention(o.levels, o.R, S, H, W).att;
    const up = bilinear(att, o.R, o.R);
    adj = S.map((v, q) => o.lambda * v + (1 - o.lambda) * up[q]!);
    const lo = Math.min(...adj), hi = Math.max(...adj), thr = lo + o.t * (hi - lo);
    region = Array.from(adj, (v) => (v > thr ? 1 : 0));
    if (m === o.K) break;
    const [w, s] = o.schedule[m]!;
    const list: number[] = [];
    for (let i = 0; i < count(w, s); i++) {
      const mk = windowMask(w, s, i);
      let inside = 0, outside = 0;
      for (let q = 0; q < P; q++) if (region[q]) { if (mk[q] === 0) inside++; else outside++; }
      if (o.rule === 'reference-parity' ? outside > 0 : inside > 0) list.push(i);
    }
    kept.push(list.length);
    if (list.length) S = occlusionRef(w, s, list, o.cls, o.norm);
  }
  const lo = Math.min(...adj), hi = Math.max(...adj);
  return { map: adj.map((v) => (v - lo) / (hi - lo + 1e-6)), region, kept };
}

function featLevel(): RefLevel {
  const data = new Float64Array(CF * P);
  for (let j = 0; j < CF; j++) for (let p = 0; p < P; p++) {
    let v = Bc[j]!;
    for (let c = 0; c < C0; c++) v += Wc[j * C0 + c]! * image[c * P + p]!;
    data[j * P + p] = v;
  }
  return { C: CF, h: H, w: W, data };
}
const imageLevel: RefLevel = { C: C0, h: H, w: W, data: Float64Array.from(image) };

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const small: IassaOptions = { classIndex: 2, iterations: 3, window: 4, stride: 2, windowShrink: 1, strideShrink: 0.5, batchSize: 16, attentionResolution: 6 };
const schedule: [number, number][] = [[4, 2], [3, 2], [2, 1]];

describe('IASSA', () => {
  afterEach(() => { vi.restoreAllMocks(); });

  it('one occlusion round (λ = 1) matches the float64 occlusion map, both normalisations', async () => {
    const gpu = await testGpu();
    const model = await Model.load(tinyModel(), { gpu });
    try {
      for (const normalisation of ['kept-count', 'coverage'] as const) {
        const e = await iassa(model, image, { ...small, iterations: 1, lambda: 1, normalisation });
        const n0 = origins(W, 4, 2).length * origins(H, 4, 2).length;
        expect(n0).toBe(42);
        const S = occlusionRef(4, 2, Array.from({ length: n0 }, (_, i) => i), 2, normalisation);
        const lo = Math.min(...S), hi = Math.max(...S);
        expect(maxAbsDiff(e.map.data, S.map((v) => (v - lo) / (hi - lo + 1e-6)))).toBeLessThan(1e-4);
        expect(e.rounds).toEqual([{ window: 4, stride: 2, candidates: n0, kept: n0 }]);
        expect(e.forwardPasses).toBe(1 + 1 + n0);
      }
    } finally {
      model.destroy();
    }
  });

  for (const rule of ['window-overlaps-region', 'reference-parity'] as const) {
    it(`three rounds with ${rule} match the float64 pipeline`, async () => {
      const gpu = await testGpu();
      const model = await Model.load(tinyModel(), { gpu });
      try {
        const progress: string[] = [];
        const e = await iassa(model, image, { ...small, keepRule: rule, layers: ['feat', 'x'], onProgress: (p) => progress.push(`${p.phase}:${p.done}/${p.total}`) });
        const ref = iassaRef({ K: 3, schedule, lambda: 0.5, t: 0.3, R: 6, rule, norm: rule === 'reference-parity' ? 'kept-count' : 'coverage', levels: [featLevel(), imageLevel], cls: 2 });
        expect(e.keptMasks).toEqual(ref.kept);
        expect(e.rounds.map((r) => [r.window, r.stride])).toEqual(schedule);
        expect(maxAbsDiff(e.map.data, ref.map)).toBeLessThan(1e-4);
        expect(Array.from(e.region.data)).toEqual(ref.region);
        // Honest pass count: classification + feature pass + every kept mask, nothing for the discarded grid.
        expect(e.forwardPasses).toBe(2 + ref.kept.reduce((a, b) => a + b, 0));
        expect(e.method).toBe('iassa');
        expect(e.params).toMatchObject({ keepRule: rule, attentionResolution: 6, layers: ['feat', 'x'], iterations: 3 });
        expect(progress).toContain('rounds:3/3');
        expect(progress).toContain('round 1 of 3: masked forward passes:42/42');
        if (rule === 'window-overlaps-region') expect(ref.kept[1]!).toBeLessThan(e.rounds[1]!.candidates);
      } finally {
        model.destroy();
      }
    });
  }

  it('is deterministic (no randomness) and independent of the batch size', async () => {
    const gpu = await testGpu();
    const model = await Model.load(tinyModel(), { gpu });
    try {
      const a = await iassa(model, image, small);
      const b = await iassa(model, image, small);
      expect(Array.from(b.map.data)).toEqual(Array.from(a.map.data));
      expect(b.keptMasks).toEqual(a.keptMasks);
      const c = await iassa(model, image, { ...small, batchSize: 7, seed: 9 });
      expect(maxAbsDiff(c.map.data, a.map.data)).toBeLessThan(1e-4);
      expect(c.params.seed).toBe(9);
    } finally {
      model.destroy();
    }
  });

  it('finds the known evidence (bright square)', async () => {
    const gpu = await testGpu();
    const model = await Model.load(evidenceModel(), { gpu });
    try {
      const e = await iassa(model, evidenceImage(), { classIndex: 0, window: 8, stride: 2, windowShrink: 1, strideShrink: 0, batchSize: 64 });
      expect(e.map.data.every(Number.isFinite)).toBe(true);
      expect(Math.max(...e.map.data)).toBeCloseTo(1, 3);
      const r = evidenceScore(e.map.data);
      expect(r.peakInside).toBe(true);
      expect(r.energyInside).toBeGreaterThan(r.areaShare);
      // The intended keep rule runs fewer masks after the first round.
      expect(e.keptMasks.slice(1).every((k, i) => k < e.rounds[i + 1]!.candidates)).toBe(true);
      expect(e.params.attentionResolution).toBe(16);
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
      const run = iassa(model, image, { ...small, batchSize: 4, signal: ac.signal, onProgress: () => { if (++calls === 2) ac.abort(); } });
      await expect(run).rejects.toBeInstanceOf(CancelledError);
      expect(calls).toBe(2);
      expect(destroy).toHaveBeenCalledTimes(1);
    } finally {
      model.destroy();
    }
  });

  it('resolves defaults and rejects bad parameters', async () => {
    const d = iassaParams();
    expect(d.schedule).toEqual([{ window: 45, stride: 8 }, { window: 43, stride: 8 }, { window: 42, stride: 7 }, { window: 40, stride: 7 }, { window: 39, stride: 7 }]);
    expect(d).toMatchObject({ iterations: 5, lambda: 0.5, threshold: 0.3, attentionResolution: 112, keepRule: 'window-overlaps-region', normalisation: 'coverage', seed: 0, batchSize: 32, scoreMode: 'softmax' });
    expect(iassaParams({ attentionResolution: 'fast' }).attentionResolution).toBe(56);
    expect(iassaParams({ keepRule: 'reference-parity' }).normalisation).toBe('kept-count');
    // Scaled to 32×32: windows 45·32/224 ≈ 6.4, strides clamped to one pixel.
    expect(iassaParams({}, 32, 32).schedule[0]).toEqual({ window: 6, stride: 1 });
    expect(iassaParams({}, 32, 32).attentionResolution).toBe(16);
    for (const bad of [{ iterations: 0 }, { window: 0 }, { stride: -1 }, { lambda: 1.5 }, { threshold: -0.1 }, { attentionResolution: 0 }, { attentionResolution: 'huge' },
      { keepRule: 'any' }, { normalisation: 'none' }, { seed: -1 }, { batchSize: 2.5 }, { windowShrink: -1 }]) {
      expect(() => iassaParams(bad as IassaOptions), JSON.stringify(bad)).toThrow(InputError);
    }
    const gpu = await testGpu();
    const model = await Model.load(tinyModel(), { gpu });
    try {
      await expect(iassa(model, image, { ...small, layers: ['nope'] })).rejects.toBeInstanceOf(InputError);
      await expect(iassa(model, image, { ...small, baseline: [0, 0] })).rejects.toBeInstanceOf(InputError);
      await expect(iassa(model, image, { ...small, classIndex: 9 })).rejects.toBeInstanceOf(InputError);
    } finally {
      model.destroy();
    }
  });
});
