/**
 * Batches whose tensors exceed the real device's storage-binding limit (lavapipe: 128 MiB) are split,
 * and the split changes no result. The model's first activation is [N, 24, 224, 224]: 4.8 MB per
 * image, 154 MB at the methods' default batch of 32, while batch 8 fits whole. Every comparison is
 * against runs that fit (per image, or batch 8), never against zeros, and outputs are poisoned first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Model } from '../src/runtime/model.js';
import { GraphError, BatchTooLargeError } from '../src/runtime/errors.js';
import { ExecutionPlan, type BatchPlan } from '../src/runtime/plan.js';
import { chunkRanges, evenChunks } from '../src/runtime/split-plan.js';
import { readFloats, writeFloats } from '../src/runtime/readback.js';
import { explainImage, METHODS, type MethodOptions } from '../src/xai/explain.js';
import type { Preprocessing, RgbaImage } from '../src/xai/preprocess.js';
import { GraphBuilder, heWeights, Rng } from '../tools/onnx-writer.js';
import type { GpuContext } from '../src/runtime/device.js';
import type { BuildContext } from '../src/kernels/types.js';
import { testGpu } from './helpers/gpu.js';
import { runOrt } from './helpers/ort.js';
import { evidenceImage, evidenceModel } from './helpers/evidence-model.js';

const S = 224, CLASSES = 10;
const PER_IMAGE = 3 * S * S;

/** Conv 3->24 + Relu at full resolution, pool /4, Conv 24->40 + Relu, global pool, Gemm to 10 classes. */
function bigActivationModel(softmaxOverBatch = false): Uint8Array {
  const rng = new Rng(2024);
  const g = new GraphBuilder(softmaxOverBatch ? 'mixes-rows' : 'big-early-activation', 13);
  g.input('image', ['N', 3, S, S]);
  const c1 = g.op('Conv', ['image', g.initializer('w1', [24, 3, 3, 3], heWeights(rng, [24, 3, 3, 3], 27)), g.initializer('b1', [24], heWeights(rng, [24], 4, 0.1))], { pads: [1, 1, 1, 1] });
  g.node('Relu', [c1], ['features1']);
  let x = 'features1';
  if (softmaxOverBatch) x = g.op('Softmax', [x], { axis: 0 });
  const p1 = g.op('MaxPool', [x], { kernel_shape: [4, 4], strides: [4, 4] });
  const c2 = g.op('Conv', [p1, g.initializer('w2', [40, 24, 3, 3], heWeights(rng, [40, 24, 3, 3], 216)), g.initializer('b2', [40], heWeights(rng, [40], 4, 0.1))], { pads: [1, 1, 1, 1] });
  g.node('Relu', [c2], ['features2']);
  const gap = g.op('GlobalAveragePool', ['features2']);
  const f = g.op('Flatten', [gap]);
  g.node('Gemm', [f, g.initializer('w3', [CLASSES, 40], heWeights(rng, [CLASSES, 40], 40, 3)), g.initializer('b3', [CLASSES], new Float32Array(CLASSES))], ['logits'], { transB: 1 });
  g.output('logits');
  return g.toBytes();
}

/** `n` images [n, 3, 224, 224] with structure (a bright square that moves) and noise. */
function images(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n * PER_IMAGE);
  for (let i = 0; i < n; i++) {
    const x0 = 20 + ((i * 37) % 140), y0 = 30 + ((i * 53) % 120);
    for (let c = 0; c < 3; c++) for (let y = 0; y < S; y++) for (let xx = 0; xx < S; xx++) {
      const inside = xx >= x0 && xx < x0 + 60 && y >= y0 && y < y0 + 60;
      out[i * PER_IMAGE + (c * S + y) * S + xx] = (inside ? 1.5 : -0.5) + rng.normal() * 0.4;
    }
  }
  return out;
}

/** A photo for explainImage: dark noise with a bright square. */
function photo(): RgbaImage {
  const rng = new Rng(9);
  const data = new Uint8ClampedArray(S * S * 4);
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
    const inside = x >= 120 && x < 190 && y >= 40 && y < 110;
    for (let c = 0; c < 3; c++) data[(y * S + x) * 4 + c] = inside ? 230 - rng.uniform(0, 20) : 60 + rng.uniform(-40, 40) + c * 10;
    data[(y * S + x) * 4 + 3] = 255;
  }
  return { width: S, height: S, data };
}
const PREP: Preprocessing = { size: S, resize: S, channels: 'rgb', divisor: 255, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };

/** 8x8 grid superpixels (64 of 28x28), so LIME and E-LIME skip quickshift. */
const GRID = Int32Array.from({ length: S * S }, (_, p) => Math.floor(Math.floor(p / S) / 28) * 8 + Math.floor((p % S) / 28));

/** Small settings: each method still runs more than one batch of 32 where it batches at all. */
const SMALL: Record<string, MethodOptions> = {
  rise: { masks: 64, gridSize: 4 },
  iassa: { iterations: 2, window: 112, stride: 56, windowShrink: 28, strideShrink: 0, attentionResolution: 14 },
  'mask-opt': { resolution: 8, pairs: 16, iterations: 2 },
  lime: { samples: 40, segments: GRID },
  'e-lime': { populationSize: 32, maxGenerations: 1, segments: GRID },
};

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
const allFinite = (a: ArrayLike<number>) => Array.prototype.every.call(a, Number.isFinite);
/** Largest |value| (a loop: spreading 10^6 values into Math.max overflows the stack). */
const absMax = (a: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
};

let gpu: GpuContext;
let model: Model;
const bytes = bigActivationModel();
beforeAll(async () => {
  gpu = await testGpu();
  model = await Model.load(bytes, { gpu, tune: false });
});
afterAll(() => model?.destroy());

describe('chunk arithmetic', () => {
  it('cuts a batch into even chunks of at most the fitting size, the last one shorter', () => {
    expect(evenChunks(32, 27)).toEqual({ count: 2, size: 16 });
    expect(evenChunks(33, 32)).toEqual({ count: 2, size: 17 });
    expect(evenChunks(32, 32)).toEqual({ count: 1, size: 32 });
    expect(evenChunks(5, 100)).toEqual({ count: 1, size: 5 });
    expect(evenChunks(7, 1)).toEqual({ count: 7, size: 1 });
    expect(evenChunks(100, 30)).toEqual({ count: 4, size: 25 });
    expect(chunkRanges(33, evenChunks(33, 32))).toEqual([{ start: 0, rows: 17 }, { start: 17, rows: 16 }]);
    expect(chunkRanges(10, evenChunks(10, 4))).toEqual([{ start: 0, rows: 4 }, { start: 4, rows: 4 }, { start: 8, rows: 2 }]);
    for (let b = 1; b <= 70; b++) for (let m = 1; m <= b + 2; m++) {
      const l = evenChunks(b, m);
      const r = chunkRanges(b, l);
      expect(l.size).toBeLessThanOrEqual(m);
      expect(r).toHaveLength(l.count);
      expect(r.reduce((s, x) => s + x.rows, 0)).toBe(b);
      // As few chunks as `m` allows, each as small as that count allows: only the last is shorter.
      expect(l.count).toBe(Math.ceil(b / Math.min(m, b)));
      expect(l.count * (l.size - 1)).toBeLessThan(b);
      expect(r.slice(0, -1).every((x) => x.rows === l.size)).toBe(true);
    }
    expect(() => evenChunks(0, 4)).toThrow(RangeError);
    expect(() => evenChunks(4, 0)).toThrow(RangeError);
  });
});

describe('batch splitting on the real device limit', () => {
  it('the first activation at batch 32 is over the binding limit and batch 8 is not (the premise)', () => {
    const limit = gpu.traits.maxStorageBufferBindingSize;
    expect(32 * 24 * S * S * 4).toBeGreaterThan(limit);
    expect(8 * 24 * S * S * 4).toBeLessThan(limit);
  });

  it('an ExecutionPlan over the limit throws BatchTooLargeError before creating any buffer', () => {
    const g = model.specialize(model.inputShapes(32), new Set());
    const made: string[] = [];
    const consts: GPUBuffer[] = [];
    const device = gpu.device;
    const create = device.createBuffer;
    device.createBuffer = function (d: GPUBufferDescriptor) { made.push(d.label ?? ''); return create.call(device, d); };
    // The plan never gets to binding, so its programs need no compiled pipelines.
    const build: BuildContext = {
      device, traits: gpu.traits, pipeline: () => ({}) as GPUComputePipeline,
      constBuffer: (data, label) => { const b = device.createBuffer({ label: `const:${label}`, size: Math.max(16, Math.ceil(data.byteLength / 16) * 16), usage: GPUBufferUsage.STORAGE }); consts.push(b); return b; },
    };
    const constTensor = (name: string) => {
      const c = g.constants.get(name)!;
      const b = build.constBuffer(Float32Array.from(c.data), name);
      return { buffer: b, offset: 0, size: c.data.length * 4, shape: [...c.shape] };
    };
    try {
      let err: unknown;
      try { new ExecutionPlan(gpu, g, build, constTensor, 32, new Set()); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(BatchTooLargeError);
      expect((err as Error).message).toMatch(/'features1' \[32, 24, 224, 224\].*storage binding limit/);
      expect(made.filter((l) => !l.startsWith('const:'))).toEqual([]);
    } finally {
      device.createBuffer = create;
      for (const b of consts) b.destroy();
    }
  });

  it('model.run at batch 32 equals per-image runs and onnxruntime', async () => {
    const x = images(32, 1);
    const r = await model.run({ image: { dtype: 'float32', shape: [32, 3, S, S], data: x } });
    const out = r.outputs.logits!;
    expect(out.shape).toEqual([32, CLASSES]);
    expect(allFinite(out.data)).toBe(true);
    const single = new Float32Array(32 * CLASSES);
    for (let i = 0; i < 32; i++) {
      const one = await model.run({ image: { dtype: 'float32', shape: [1, 3, S, S], data: x.subarray(i * PER_IMAGE, (i + 1) * PER_IMAGE) } });
      single.set(one.outputs.logits!.data, i * CLASSES);
    }
    const scale = absMax(single);
    expect(maxAbs(out.data, single)).toBeLessThan(1e-4 * scale);
    const [ort] = await runOrt(bytes, { dims: [32, 3, S, S], data: x });
    expect(maxAbs(out.data, ort!.data)).toBeLessThan(1e-3 * scale);
  });

  it('model.plan at batch 32 splits into chunks and matches the unsplit plan at batch 8, kept tensors included', async () => {
    const keep = ['features2'];
    const plan = model.plan(model.inputShapes(32), keep);
    expect(plan.batch).toBe(32);
    expect(plan.chunk).toBeLessThan(32);
    expect(plan.chunk).toBe(16); // the estimate (27 rows fit) cut evenly
    expect(plan.tensor('image').shape).toEqual([32, 3, S, S]);
    expect(plan.tensor('logits').shape).toEqual([32, CLASSES]);
    expect(plan.tensor('features2').shape).toEqual([32, 40, 56, 56]);
    const small = model.plan(model.inputShapes(8), keep);
    expect(small.chunk).toBe(8);
    const x = images(32, 2);
    const run = async (p: BatchPlan, data: Float32Array, rows?: number) => {
      for (const n of ['logits', 'features2']) writeFloats(gpu.device, p.tensor(n), new Float32Array(p.tensor(n).size / 4).fill(NaN));
      writeFloats(gpu.device, p.tensor('image'), data);
      const enc = gpu.device.createCommandEncoder();
      p.encode(enc, rows);
      gpu.device.queue.submit([enc.finish()]);
      const [z, f] = await readFloats(gpu.device, [p.tensor('logits'), p.tensor('features2')]);
      return { z: z!, f: f! };
    };
    const whole = await run(plan, x);
    expect(allFinite(whole.z) && allFinite(whole.f)).toBe(true);
    const refZ = new Float32Array(32 * CLASSES), refF = new Float32Array(whole.f.length);
    for (let k = 0; k < 4; k++) {
      const r = await run(small, x.subarray(k * 8 * PER_IMAGE, (k + 1) * 8 * PER_IMAGE));
      refZ.set(r.z, k * 8 * CLASSES);
      refF.set(r.f, k * r.f.length);
    }
    expect(maxAbs(whole.z, refZ)).toBeLessThan(1e-4 * absMax(refZ));
    expect(maxAbs(whole.f, refF)).toBeLessThan(1e-4 * absMax(refF));
    // A partial batch (a method's last one) runs only the chunks it needs: later rows stay poisoned.
    const part = await run(plan, x, 5);
    expect(maxAbs(part.z.subarray(0, 16 * CLASSES), whole.z.subarray(0, 16 * CLASSES))).toBe(0);
    expect(part.z.subarray(16 * CLASSES).every(Number.isNaN)).toBe(true);
  });

  it('a tuning model tunes a batch it will split at the chunk its kernels run at', async () => {
    // Budget 0: no timing, but the report lists the geometries the first use looked up.
    const tuning = await Model.load(bytes, { gpu, tune: { budgetMs: 0 }, warmup: false });
    try {
      await tuning.planFor(tuning.inputShapes(32));
      const r = tuning.tuneReports.at(-1)!;
      expect(tuning.tuneReports).toHaveLength(2);
      const convs = r.geometries.filter((g) => g.opType === 'Conv');
      expect(convs.length).toBe(2);
      for (const g of convs) expect(g.key).toContain('|n16|');
      expect((await tuning.planFor(tuning.inputShapes(32))).chunk).toBe(16);
    } finally {
      tuning.destroy();
    }
  });

  it('model.gradients at batch 32 equals per-image gradients', async () => {
    const x = images(32, 3);
    const classes = Array.from({ length: 32 }, (_, i) => i % CLASSES);
    const wrt = ['image', 'features2'];
    const g = await model.gradients({ image: { dtype: 'float32', shape: [32, 3, S, S], data: x } }, { wrt, classes });
    expect(g.grads.image!.shape).toEqual([32, 3, S, S]);
    expect(g.grads.features2!.shape).toEqual([32, 40, 56, 56]);
    // Rows at the edges of the host chunks (16 + 16) and a few inside them.
    for (const i of [0, 7, 15, 16, 23, 31]) {
      const one = await model.gradients({ image: { dtype: 'float32', shape: [1, 3, S, S], data: x.subarray(i * PER_IMAGE, (i + 1) * PER_IMAGE) } }, { wrt, classes: [classes[i]!] });
      expect(g.scores[i]).toBeCloseTo(one.scores[0]!, 4);
      for (const w of wrt) {
        const ref = one.grads[w]!.data;
        const per = ref.length;
        const got = g.grads[w]!.data.subarray(i * per, (i + 1) * per);
        expect(allFinite(got)).toBe(true);
        expect(maxAbs(got, ref)).toBeLessThan(1e-4 * absMax(ref));
      }
    }
  });

  it('a kernel over its dispatch limit while building (not foreseen by the size estimate) halves the chunk', async () => {
    // The evidence model's tensors are tiny; a device allowing 16 workgroups per dimension cannot
    // dispatch its first convolution over 16 images, which only the kernel builder finds out.
    const tight = { ...gpu, traits: { ...gpu.traits, maxWorkgroupsPerDimension: 16 } };
    const small = await Model.load(evidenceModel(), { gpu: tight, tune: false, warmup: false });
    const plain = await Model.load(evidenceModel(), { gpu, tune: false, warmup: false });
    try {
      expect(small.maxBatch(16)).toBe(16);
      const plan = small.plan(small.inputShapes(16));
      expect(plan.chunk).toBeLessThan(16);
      expect(plan.chunk).toBeGreaterThanOrEqual(1);
      const x = new Float32Array(16 * 3 * 32 * 32);
      for (let i = 0; i < 16; i++) x.set(evidenceImage(i + 1), i * 3 * 32 * 32);
      const feed = { image: { dtype: 'float32' as const, shape: [16, 3, 32, 32], data: x } };
      const a = (await small.run(feed)).outputs.logits!.data;
      const b = (await plain.run(feed)).outputs.logits!.data;
      expect(allFinite(a)).toBe(true);
      expect(maxAbs(a, b)).toBeLessThan(1e-5 * absMax(b));
    } finally {
      small.destroy();
      plain.destroy();
    }
  });

  it('a graph whose rows mix (softmax over the batch) is refused with a GraphError, not split', async () => {
    const mixed = await Model.load(bigActivationModel(true), { gpu, tune: false, warmup: false });
    try {
      const err = (() => { try { mixed.plan(mixed.inputShapes(32)); return undefined; } catch (e) { return e; } })();
      expect(err).toBeInstanceOf(GraphError);
      expect(err).not.toBeInstanceOf(BatchTooLargeError);
      expect((err as Error).message).toMatch(/cannot be split.*axis 0/);
    } finally {
      mixed.destroy();
    }
  });
});

describe('every method at the default batch size on a model whose batch-32 plan splits', () => {
  const image = photo();
  beforeAll(() => {
    // The plan the masked passes use (the score is read from the logits) really is split.
    expect(model.plan(model.inputShapes(32), ['logits']).chunk).toBeLessThan(32);
  });
  for (const method of Object.keys(METHODS)) {
    it(method, async () => {
      const opts = SMALL[method] ?? {};
      const big = await explainImage(model, image, PREP, method, opts);
      const small = await explainImage(model, image, PREP, method, { ...opts, batchSize: 8 });
      expect(big.classIndex).toBe(small.classIndex);
      expect(allFinite(big.map.data)).toBe(true);
      expect(Math.max(...big.map.data)).toBeGreaterThan(0.5); // a real map, not a constant
      expect(maxAbs(big.map.data, small.map.data)).toBeLessThan(5e-4);
      expect(big.forwardPasses).toBe(small.forwardPasses);
    });
  }
});
