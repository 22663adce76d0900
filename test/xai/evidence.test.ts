/** Every gradient- and mask-based method finds the known evidence of a hand-built CNN. */
import { describe, expect, it } from 'vitest';
import { Model } from '../../src/runtime/model.js';
import { sise, adaSise } from '../../src/xai/sise.js';
import { gradCam, gradCamPlusPlus, scoreCam } from '../../src/xai/cams.js';
import { evidenceImage, evidenceModel, evidenceScore } from '../helpers/evidence-model.js';
import { testGpu } from '../helpers/gpu.js';

const methods = { sise, adaSise, gradCam, gradCamPlusPlus, scoreCam };

describe('known-evidence CNN (a bright-square detector)', () => {
  for (const [name, method] of Object.entries(methods)) {
    it(`${name}: peak and most energy inside the square`, async () => {
      const gpu = await testGpu();
      const model = await Model.load(evidenceModel(), { gpu });
      try {
        const e = await method(model, evidenceImage(), { classIndex: 0, batchSize: 4 });
        expect(e.map.data.every(Number.isFinite)).toBe(true);
        expect(Math.max(...e.map.data)).toBeCloseTo(1, 3);
        const r = evidenceScore(e.map.data);
        expect(r.peakInside).toBe(true);
        expect(r.energyInside).toBeGreaterThan(0.5);
        expect(r.energyInside).toBeGreaterThan(2 * r.areaShare);
      } finally {
        model.destroy();
      }
    });
  }
});
