/**
 * One path for explain and evaluate: the maps evaluation scores (labelled class and top-1 class)
 * are the maps `explainImage` gives, for every method, on a small BGR (caffe-style) model where
 * calling a method on the bare model input, as evaluate used to, segments the wrong colours.
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, heWeights, Rng } from '../../tools/onnx-writer.js';
import { Model } from '../../src/runtime/model.js';
import { evaluationMaps, explainImage, METHODS, topClasses, type MethodOptions } from '../../src/xai/explain.js';
import { preprocessImage, type Preprocessing, type RgbaImage } from '../../src/xai/preprocess.js';
import { testGpu } from '../helpers/gpu.js';

const S = 32;
/** Caffe-style input: BGR, 0..255 minus the mean. */
const PRESET: Preprocessing = { size: S, resize: S, channels: 'bgr', divisor: 1, mean: [104, 117, 123], std: [1, 1, 1] };

function model(): Uint8Array {
  const rng = new Rng(21);
  const g = new GraphBuilder('bgr-net', 13);
  g.input('x', [1, 3, S, S]);
  const c1 = g.op('Conv', ['x', g.initializer('w1', [8, 3, 3, 3], heWeights(rng, [8, 3, 3, 3], 27, 0.02)), g.initializer('b1', [8], heWeights(rng, [8], 4, 0.1))], { pads: [1, 1, 1, 1] });
  const r1 = g.op('Relu', [c1]);
  const p1 = g.op('MaxPool', [r1], { kernel_shape: [2, 2], strides: [2, 2] });
  const c2 = g.op('Conv', [p1, g.initializer('w2', [12, 8, 3, 3], heWeights(rng, [12, 8, 3, 3], 72)), g.initializer('b2', [12], heWeights(rng, [12], 4, 0.1))], { pads: [1, 1, 1, 1] });
  const r2 = g.op('Relu', [c2]);
  const f = g.op('Flatten', [g.op('GlobalAveragePool', [r2])]);
  g.node('Gemm', [f, g.initializer('w3', [6, 12], heWeights(rng, [6, 12], 12, 2)), g.initializer('b3', [6], new Float32Array(6))], ['logits'], { transB: 1 });
  g.output('logits');
  return g.toBytes();
}

/** A photo-like RGBA image: coloured blobs on a gradient, so superpixels and masks have structure. */
function photo(): RgbaImage {
  const w = 40, h = 36, data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const blob = (x - 12) ** 2 + (y - 14) ** 2 < 60, blob2 = (x - 28) ** 2 + (y - 22) ** 2 < 40;
    data.set([blob ? 220 : 40 + 4 * x, blob2 ? 200 : 60 + 3 * y, blob ? 30 : 120 + ((x * y) % 50), 255], (y * w + x) * 4);
  }
  return { width: w, height: h, data };
}

const OPTIONS: Record<string, MethodOptions> = {
  sise: { mu: 0.5, batchSize: 8 },
  'sise-paper': { mu: 0.5, batchSize: 8 },
  'ada-sise': { batchSize: 8 },
  scorecam: { batchSize: 8 },
  rise: { masks: 16, gridSize: 4, seed: 1, batchSize: 8 },
  iassa: { iterations: 1, batchSize: 16 },
  'mask-opt': { iterations: 2, pairs: 2, resolution: 8, seed: 1 },
  lime: { samples: 24, seed: 1, batchSize: 8 },
  'e-lime': { populationSize: 6, maxGenerations: 1, seed: 1, batchSize: 6 },
};

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('evaluate and explain take one path', () => {
  it('every method: evaluation maps (labelled and top-1 class) equal explainImage', async () => {
    const m = await Model.load(model(), { gpu: await testGpu(), tune: false });
    try {
      const img = photo();
      // A label other than the top-1 class, so both maps are computed (two rows of batched CAMs).
      const [top1] = await topClasses(m, [preprocessImage(img, PRESET)]);
      const label = (top1! + 1) % 6;
      for (const method of Object.keys(METHODS)) {
        const opts = OPTIONS[method] ?? {};
        const e = await evaluationMaps(m, img, PRESET, method, label, opts);
        expect(e.label.classIndex).toBe(label);
        const gt = await explainImage(m, img, PRESET, method, { ...opts, classIndex: label });
        expect(maxAbsDiff(e.label.map.data, gt.map.data), `${method} labelled class`).toBeLessThan(1e-4);
        const top = await explainImage(m, img, PRESET, method, opts);
        expect(e.topClass).toBe(top.classIndex);
        expect(maxAbsDiff(e.top.map.data, top.map.data), `${method} top-1 class`).toBeLessThan(1e-4);
        expect(e.topClass).toBe(top1);
        expect(e.explanations).toBe(2);
      }
    } finally {
      m.destroy();
    }
  }, 600_000);

  it('LIME on the bare BGR model input (the old evaluate path) segments other colours and gives another map', async () => {
    const m = await Model.load(model(), { gpu: await testGpu(), tune: false });
    try {
      const img = photo();
      const opts = { ...OPTIONS.lime!, classIndex: 2 };
      const viaExplain = await explainImage(m, img, PRESET, 'lime', opts);
      const bare = await METHODS.lime!(m, preprocessImage(img, PRESET).tensor, opts);
      expect(maxAbsDiff(viaExplain.map.data, bare.map.data)).toBeGreaterThan(1e-3);
    } finally {
      m.destroy();
    }
  }, 600_000);
});
