/**
 * Every registered method through the one entry point (explainImage): an RGBA photo-like image of
 * the known-evidence CNN in, a finite [0, 1] map on the model grid and on the original pixels out,
 * peaking inside the bright square. Settings are small so the whole registry runs in seconds; each
 * method's own file checks it against a float64 reference.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Model } from '../../src/runtime/model.js';
import { InputError } from '../../src/runtime/errors.js';
import { explainImage, methodParameters, METHOD_PARAMETERS, METHODS, type MethodOptions } from '../../src/xai/explain.js';
import type { Preprocessing } from '../../src/xai/preprocess.js';
import { Rng } from '../../tools/onnx-writer.js';
import { testGpu } from '../helpers/gpu.js';
import { EVIDENCE, evidenceModel, evidenceScore } from '../helpers/evidence-model.js';

// 64x64 photo, resized to the model's 32x32: the square lands where the evidence model expects it.
const SRC = 64;
function photo(): { width: number; height: number; data: Uint8ClampedArray } {
  const rng = new Rng(11);
  const q = EVIDENCE.square;
  const data = new Uint8ClampedArray(SRC * SRC * 4);
  for (let y = 0; y < SRC; y++) for (let x = 0; x < SRC; x++) {
    const inside = x >= 2 * q.x0 && x < 2 * q.x1 && y >= 2 * q.y0 && y < 2 * q.y1;
    for (let c = 0; c < 3; c++) data[(y * SRC + x) * 4 + c] = inside ? 250 - rng.uniform(0, 10) : 40 + rng.uniform(-25, 25) + c * 8;
    data[(y * SRC + x) * 4 + 3] = 255;
  }
  return { width: SRC, height: SRC, data };
}
// Bright pixels map to about +2, the background to about -1.4: the evidence model's operating range.
const PREP: Preprocessing = { size: 32, resize: 32, channels: 'rgb', divisor: 255, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };

const SMALL: Record<string, MethodOptions> = {
  rise: { masks: 300, gridSize: 4 },
  iassa: { iterations: 2 },
  'mask-opt': { resolution: 8, pairs: 8, iterations: 40, sparsity: 1, learningRate: 0.5 },
  // The square must be hideable: its own mean colour would leave it unchanged (spec 6.7 fill).
  lime: { samples: 150, hide: 'baseline', segmentation: { kernelSize: 2, maxDist: 10, ratio: 0.5 } },
  'e-lime': { populationSize: 12, maxGenerations: 6, hide: 'baseline', segmentation: { kernelSize: 2, maxDist: 10, ratio: 0.5 } },
};

let model: Model;
beforeAll(async () => { model = await Model.load(evidenceModel(), { gpu: await testGpu() }); });
afterAll(() => model?.destroy());

describe('explainImage over every method', () => {
  it('has a parameter list for every method', () => {
    expect(Object.keys(METHOD_PARAMETERS).sort()).toEqual(Object.keys(METHODS).sort());
  });
  for (const method of Object.keys(METHODS)) {
    it(method, async () => {
      const e = await explainImage(model, photo(), PREP, method, { classIndex: 0, batchSize: 16, baseline: [-1, -1, -1], ...SMALL[method] });
      expect(e.method).toBe(method);
      expect(e.classIndex).toBe(0);
      expect(e.map.width * e.map.height).toBe(32 * 32);
      for (const m of [e.map, e.original!]) {
        expect(m.data.every((v) => Number.isFinite(v) && v >= -1e-6 && v <= 1 + 1e-6)).toBe(true);
      }
      expect(e.original!.width).toBe(SRC);
      expect(Math.max(...e.map.data)).toBeCloseTo(1, 3); // min-max with ε = 1e-6 over a small range
      const r = evidenceScore(e.map.data);
      expect(r.peakInside).toBe(true);
      expect(r.energyInside).toBeGreaterThan(r.areaShare);
    });
  }
});

describe('methodParameters', () => {
  it('parses numbers, booleans, strings and dotted keys', () => {
    expect(methodParameters('lime', ['samples=300', 'hide=baseline', 'segmentation.kernelSize=2', 'segmentation.ratio=0.5', 'seed=4']))
      .toEqual({ samples: 300, hide: 'baseline', segmentation: { kernelSize: 2, ratio: 0.5 }, seed: 4 });
    expect(methodParameters('sise', ['massNormalise=false', 'scoreMode=logit'])).toEqual({ massNormalise: false, scoreMode: 'logit' });
  });
  it('skips keys another given method takes and rejects keys none takes', () => {
    expect(methodParameters('rise', ['masks=10', 'samples=5'], ['rise', 'lime'])).toEqual({ masks: 10 });
    expect(methodParameters('rise', ['tolerance=0.03', 'checkEvery=256'])).toEqual({ tolerance: 0.03, checkEvery: 256 });
    expect(() => methodParameters('rise', ['samples=5'])).toThrow(InputError);
    expect(() => methodParameters('rise', ['masks'])).toThrow(/key=value/);
  });
});
