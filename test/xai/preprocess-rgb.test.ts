/**
 * modelInputToRgb undoes each preset's normalisation and channel order: with no resize and no crop
 * the model input samples pixel centres exactly, so the colours must come back as the RGBA bytes / 255.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../tools/onnx-writer.js';
import { modelInputToRgb, preprocessImage, PRESETS, type Preprocessing } from '../../src/xai/preprocess.js';

function randomImage(size: number, seed: number) {
  const rng = new Rng(seed);
  const data = new Uint8ClampedArray(size * size * 4);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rng.uniform(0, 256));
  expect(new Set(data).size).toBeGreaterThan(100);
  return { width: size, height: size, data };
}

describe('modelInputToRgb', () => {
  for (const name of ['imagenet', 'caffe'] as const) {
    it(`recovers the RGB bytes through the ${name} preset`, () => {
      const p: Preprocessing = { ...PRESETS[name], size: 16, resize: 16 };
      const img = randomImage(16, 3);
      const rgb = modelInputToRgb(preprocessImage(img, p).tensor, p);
      expect(rgb.length).toBe(16 * 16 * 3);
      for (let i = 0; i < 16 * 16; i++) for (let c = 0; c < 3; c++) expect(rgb[i * 3 + c]).toBeCloseTo(img.data[i * 4 + c]! / 255, 5);
    });
  }
  it('replicates a gray channel', () => {
    const p: Preprocessing = { ...PRESETS.mnist, size: 8, resize: 8 };
    const img = randomImage(8, 4);
    const rgb = modelInputToRgb(preprocessImage(img, p).tensor, p);
    for (let i = 0; i < 64; i++) {
      const g = (0.299 * img.data[i * 4]! + 0.587 * img.data[i * 4 + 1]! + 0.114 * img.data[i * 4 + 2]!) / 255;
      for (let c = 0; c < 3; c++) expect(rgb[i * 3 + c]).toBeCloseTo(g, 5);
    }
  });
});
