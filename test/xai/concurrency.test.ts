/**
 * Concurrent explanations on one Model (issue 17 part 1): calls started together share the model's
 * plans, and none may see a plan that another call's eviction destroyed. Each concurrent result
 * must equal the same call run alone. Sizes are small for a software GPU; tuning is off so the
 * plans at many batch sizes are built without timing kernels.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Model } from '../../src/runtime/model.js';
import { explainImage, type MethodOptions } from '../../src/xai/explain.js';
import { PRESETS, type Preprocessing, type RgbaImage } from '../../src/xai/preprocess.js';
import type { Explanation } from '../../src/xai/explanation.js';
import { readImage } from '../../src/image-io.js';
import { GraphBuilder, heWeights, Rng } from '../../tools/onnx-writer.js';
import { readFloats, writeFloats } from '../../src/runtime/readback.js';
import { XaiError } from '../../src/runtime/errors.js';
import { testGpu } from '../helpers/gpu.js';

const SHARED = join(__dirname, '..', '..', '..', 'shared');
const have = existsSync(join(SHARED, 'models', 'squeezenet1.1-fp32.onnx')) && existsSync(join(SHARED, 'images', 'misc', 'catdog.rise.png'));

async function load(file: string): Promise<Model> {
  return Model.load(new Uint8Array(readFileSync(join(SHARED, 'models', file))), { gpu: await testGpu(), tune: false });
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

interface Call { model: Model; image: RgbaImage; preset: Preprocessing; method: string; opts: MethodOptions }

/** Runs every call at once; each must fulfil and match the same call run alone (`alone[i]`). */
async function expectSameAsAlone(calls: readonly Call[], alone: readonly Explanation[], tolerance: number): Promise<void> {
  const settled = await Promise.allSettled(calls.map((c) => explainImage(c.model, c.image, c.preset, c.method, c.opts)));
  const errors = settled.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
  expect(errors).toEqual([]);
  settled.forEach((r, i) => {
    const e = (r as PromiseFulfilledResult<Explanation>).value;
    expect(e.classIndex).toBe(alone[i]!.classIndex);
    expect(maxAbsDiff(e.map.data, alone[i]!.map.data), `${calls[i]!.method} ${JSON.stringify(calls[i]!.opts)}`).toBeLessThanOrEqual(tolerance);
  });
}

async function runAlone(calls: readonly Call[]): Promise<Explanation[]> {
  const out: Explanation[] = [];
  for (const c of calls) out.push(await explainImage(c.model, c.image, c.preset, c.method, c.opts));
  return out;
}

/** Conv 2->4 + Relu, global pool, Gemm to 3 classes, at any batch. */
function toyModel(): Uint8Array {
  const rng = new Rng(5);
  const g = new GraphBuilder('toy', 13);
  g.input('x', ['N', 2, 6, 6]);
  const c = g.op('Conv', ['x', g.initializer('w', [4, 2, 3, 3], heWeights(rng, [4, 2, 3, 3], 18)), g.initializer('b', [4], heWeights(rng, [4], 4, 0.1))], { pads: [1, 1, 1, 1] });
  const r = g.op('Relu', [c]);
  const f = g.op('Flatten', [g.op('GlobalAveragePool', [r])]);
  g.node('Gemm', [f, g.initializer('w2', [3, 4], heWeights(rng, [3, 4], 4)), g.initializer('b2', [3], new Float32Array(3))], ['logits'], { transB: 1 });
  g.output('logits');
  return g.toBytes();
}

describe('plan leases', () => {
  it('a leased plan survives any number of other plans and is exclusive to its holder', async () => {
    const model = await Model.load(toyModel(), { gpu: await testGpu(), tune: false, maxCachedPlans: 1, planCacheBytes: 1 });
    try {
      const shapes = model.inputShapes(3);
      const lease = await model.acquirePlan(shapes);
      const x = Float32Array.from({ length: 3 * 72 }, (_, i) => Math.sin(i * 0.9));
      const want = (await model.run({ x })).outputs.logits!.data;
      // Many other plans built and dropped meanwhile, one at the leased shapes: it must be another plan.
      for (let b = 1; b <= 6; b++) await model.run({ x: Float32Array.from({ length: b * 72 }, (_, i) => Math.cos(i)) });
      expect(model.plan(shapes)).not.toBe(lease.plan);
      const { device } = model.gpu;
      writeFloats(device, lease.plan.tensor('x'), x);
      const e = device.createCommandEncoder();
      lease.plan.encode(e);
      device.queue.submit([e.finish()]);
      const [got] = await readFloats(device, [lease.plan.tensor('logits')]);
      expect(Array.from(got!)).toEqual(Array.from(want));
      expect(model.planCacheStats.inUse).toBe(1);
      lease.release();
      lease.release();
      expect(model.planCacheStats.inUse).toBe(0);
      // Idle plans are trimmed to the limits once no one uses them.
      expect(model.planCacheStats.plans).toBeLessThanOrEqual(1);
    } finally {
      model.destroy();
    }
  });

  it('destroy refuses new calls at once and frees a plan in use only when it is released', async () => {
    const model = await Model.load(toyModel(), { gpu: await testGpu(), tune: false });
    const lease = await model.acquirePlan(model.inputShapes(2));
    model.destroy();
    await expect(model.run({ x: new Float32Array(72).fill(0.5) })).rejects.toBeInstanceOf(XaiError);
    const { device } = model.gpu;
    writeFloats(device, lease.plan.tensor('x'), Float32Array.from({ length: 144 }, (_, i) => i / 144));
    const e = device.createCommandEncoder();
    lease.plan.encode(e);
    device.queue.submit([e.finish()]);
    const [got] = await readFloats(device, [lease.plan.tensor('logits')]);
    expect(got!.every(Number.isFinite)).toBe(true);
    lease.release();
  });
});

describe.skipIf(!have)('concurrent explanations on one model', () => {
  it('six RISE calls at six batch sizes at once equal each call run alone (3 repetitions)', async () => {
    const model = await load('squeezenet1.1-fp32.onnx');
    try {
      const image = readImage(join(SHARED, 'images', 'misc', 'catdog.rise.png'));
      const calls: Call[] = [8, 12, 16, 20, 24, 28].map((b) => ({ model, image, preset: PRESETS.caffe, method: 'rise', opts: { masks: 48, seed: 9, batchSize: b } }));
      const alone = await runAlone(calls);
      // The batch size does not change RISE's map (masks are drawn by index): a check of the reference.
      for (const a of alone) expect(maxAbsDiff(a.map.data, alone[0]!.map.data)).toBeLessThan(1e-4);
      for (let rep = 0; rep < 3; rep++) await expectSameAsAlone(calls, alone, 1e-5);
    } finally {
      model.destroy();
    }
  }, 900_000);

  it('three Grad-CAMs on three layers at once equal each run alone (3 repetitions)', async () => {
    const model = await load('squeezenet1.1-fp32.onnx');
    try {
      const image = readImage(join(SHARED, 'images', 'misc', 'catdog.rise.png'));
      const calls: Call[] = ['fire7/concat_1', 'fire8/concat_1', 'fire9/concat_1'].map((layer) => ({ model, image, preset: PRESETS.caffe, method: 'gradcam', opts: { layer } }));
      const alone = await runAlone(calls);
      for (let rep = 0; rep < 3; rep++) await expectSameAsAlone(calls, alone, 1e-5);
    } finally {
      model.destroy();
    }
  }, 900_000);

  it('mixed methods, models and batch sizes at once equal each run alone', async () => {
    const squeeze = await load('squeezenet1.1-fp32.onnx');
    const mnist = await load('mnist-cnn.onnx');
    try {
      const photo = readImage(join(SHARED, 'images', 'misc', 'catdog.rise.png'));
      const digit = mnistImage();
      const mnistPreset: Preprocessing = PRESETS.mnist;
      const calls: Call[] = [
        { model: squeeze, image: photo, preset: PRESETS.caffe, method: 'rise', opts: { masks: 20, seed: 3, batchSize: 10 } },
        { model: squeeze, image: photo, preset: PRESETS.caffe, method: 'gradcam++', opts: {} },
        { model: squeeze, image: photo, preset: PRESETS.caffe, method: 'sise', opts: { layers: ['conv10_2'], mu: 0.9, batchSize: 6 } },
        { model: mnist, image: digit, preset: mnistPreset, method: 'rise', opts: { masks: 40, seed: 1, batchSize: 7, gridSize: 4 } },
        { model: mnist, image: digit, preset: mnistPreset, method: 'gradcam', opts: {} },
        { model: mnist, image: digit, preset: mnistPreset, method: 'scorecam', opts: { batchSize: 5 } },
        { model: squeeze, image: photo, preset: PRESETS.caffe, method: 'rise', opts: { masks: 18, seed: 4, batchSize: 9 } },
      ];
      const alone = await runAlone(calls);
      await expectSameAsAlone(calls, alone, 1e-5);
    } finally {
      squeeze.destroy();
      mnist.destroy();
    }
  }, 900_000);
});

/** A grey 28x28 digit-like stroke (the MNIST model's input is one channel). */
function mnistImage(): RgbaImage {
  const w = 28, h = 28, data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = Math.abs(x - 14) < 3 && y > 4 && y < 24 ? 230 : Math.round(20 + 10 * Math.sin(x * 0.7 + y * 0.3));
    data.set([v, v, v, 255], (y * w + x) * 4);
  }
  return { width: w, height: h, data };
}
