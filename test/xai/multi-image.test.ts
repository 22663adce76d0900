/**
 * Many images per call: `explain(model, images, { method, targets })` with one or several targets
 * per image gives the same maps as `explainImage` one image and class at a time, for a gradient
 * CAM (batched forward and backward passes over all rows) and for a perturbation method (per
 * image, plans and kernels reused).
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Model } from '../../src/runtime/model.js';
import { explain, explainImage, type MethodOptions } from '../../src/xai/explain.js';
import { PRESETS } from '../../src/xai/preprocess.js';
import { InputError } from '../../src/runtime/errors.js';
import { readImage } from '../../src/image-io.js';
import { testGpu } from '../helpers/gpu.js';

const SHARED = join(__dirname, '..', '..', '..', 'shared');
const MODEL = join(SHARED, 'models', 'squeezenet1.1-fp32.onnx');
const have = existsSync(MODEL);

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe.skipIf(!have)('explain: many images, several targets', () => {
  const cases: [string, MethodOptions][] = [['gradcam', { batchSize: 3 }], ['layercam', {}], ['rise', { masks: 16, seed: 2, batchSize: 8 }]];
  for (const [method, opts] of cases) {
    it(`${method}: one call equals one image and class at a time`, async () => {
      const model = await Model.load(new Uint8Array(readFileSync(MODEL)), { gpu: await testGpu(), tune: false });
      try {
        const images = ['catdog.rise.png', 'bald_eagle.jpeg', 'goldfish.rise.jpg'].map((f) => readImage(join(SHARED, 'images', 'misc', f)));
        // Image 0: its top-1; image 1: two classes (bull mastiff, tiger cat); image 2: one class.
        const targets = [undefined, [243, 282], 1];
        const all = await explain(model, images, { ...opts, method, preprocessing: PRESETS.caffe, targets });
        expect(all.map((l) => l.length)).toEqual([1, 2, 1]);
        for (let i = 0; i < images.length; i++) {
          const t = targets[i];
          const list = t === undefined ? [undefined] : typeof t === 'number' ? [t] : t;
          for (let j = 0; j < list.length; j++) {
            const alone = await explainImage(model, images[i]!, PRESETS.caffe, method, { ...opts, classIndex: list[j] });
            const e = all[i]![j]!;
            expect(e.method).toBe(method);
            expect(e.classIndex).toBe(alone.classIndex);
            expect(e.original!.width).toBe(images[i]!.width);
            expect(maxAbsDiff(e.map.data, alone.map.data), `${method} image ${i} target ${j}`).toBeLessThan(1e-4);
            expect(Math.abs(e.score - alone.score)).toBeLessThan(1e-3 * Math.max(1, Math.abs(alone.score)));
          }
        }
        // The two targets of image 1 are different maps (rows were not mixed up).
        expect(maxAbsDiff(all[1]![0]!.map.data, all[1]![1]!.map.data)).toBeGreaterThan(1e-2);
      } finally {
        model.destroy();
      }
    }, 600_000);
  }

  it('refuses targets that do not match the images, and classes out of range', async () => {
    const model = await Model.load(new Uint8Array(readFileSync(MODEL)), { gpu: await testGpu(), tune: false });
    try {
      const img = readImage(join(SHARED, 'images', 'misc', 'catdog.rise.png'));
      await expect(explain(model, [img, img], { method: 'gradcam', preprocessing: PRESETS.caffe, targets: [1] })).rejects.toBeInstanceOf(InputError);
      await expect(explain(model, [img], { method: 'gradcam', preprocessing: PRESETS.caffe, targets: [[5, 1000]] })).rejects.toBeInstanceOf(InputError);
      await expect(explain(model, [img], { method: 'nope', preprocessing: PRESETS.caffe })).rejects.toBeInstanceOf(InputError);
      expect(await explain(model, [], { method: 'gradcam', preprocessing: PRESETS.caffe })).toEqual([]);
    } finally {
      model.destroy();
    }
  }, 600_000);
});
