/**
 * The model-parameter randomisation sanity check (Adebayo et al.), cascading from the top: on a
 * small model, re-initialising the last layer must change a Grad-CAM map (rank correlation well
 * below the map's agreement with itself), the layers go top first, and the registry lists it as
 * an optional evaluation metric.
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, heWeights, Rng } from '../../tools/onnx-writer.js';
import { Model } from '../../src/runtime/model.js';
import { explainImage } from '../../src/xai/explain.js';
import { modelRandomisation, spearman, weightedLayers } from '../../src/xai/metrics/sanity.js';
import { METRIC_REGISTRY } from '../../src/xai/metrics/registry.js';
import { InputError } from '../../src/runtime/errors.js';
import type { Preprocessing, RgbaImage } from '../../src/xai/preprocess.js';
import { testGpu } from '../helpers/gpu.js';

const S = 24;
const PRESET: Preprocessing = { size: S, resize: S, channels: 'rgb', divisor: 255, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };

function model(): Uint8Array {
  const rng = new Rng(4);
  const g = new GraphBuilder('sanity-net', 13);
  g.input('x', [1, 3, S, S]);
  const [c1] = g.node('Conv', ['x', g.initializer('w1', [6, 3, 3, 3], heWeights(rng, [6, 3, 3, 3], 27)), g.initializer('b1', [6], heWeights(rng, [6], 4, 0.1))], 1, { pads: [1, 1, 1, 1] }, { name: 'conv1' });
  const r1 = g.op('Relu', [c1!]);
  const [c2] = g.node('Conv', [r1, g.initializer('w2', [8, 6, 3, 3], heWeights(rng, [8, 6, 3, 3], 54)), g.initializer('b2', [8], heWeights(rng, [8], 4, 0.1))], 1, { pads: [1, 1, 1, 1] }, { name: 'conv2' });
  g.node('Relu', [c2!], ['feat']);
  const f = g.op('Flatten', [g.op('GlobalAveragePool', ['feat'])]);
  g.node('Gemm', [f, g.initializer('w3', [5, 8], heWeights(rng, [5, 8], 8, 2)), g.initializer('b3', [5], new Float32Array(5))], ['logits'], { transB: 1 }, { name: 'fc' });
  g.output('logits');
  return g.toBytes();
}

function photo(): RgbaImage {
  const data = new Uint8Array(S * S * 4);
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
    const inBlob = (x - 8) ** 2 + (y - 9) ** 2 < 20;
    data.set([inBlob ? 240 : 30 + 5 * x, inBlob ? 40 : 20 + 6 * y, 90 + ((x * 7 + y * 3) % 60), 255], (y * S + x) * 4);
  }
  return { width: S, height: S, data };
}

describe('model-parameter randomisation sanity check', () => {
  /** Spearman by definition: Pearson's r of average ranks, each rank counted pairwise (O(n²)). */
  function referenceSpearman(a: number[], b: number[]): number {
    const rank = (v: number[]) => v.map((x) => v.filter((y) => y < x).length + (v.filter((y) => y === x).length - 1) / 2);
    const ra = rank(a), rb = rank(b), n = a.length;
    const ma = ra.reduce((s, x) => s + x, 0) / n, mb = rb.reduce((s, x) => s + x, 0) / n;
    const cov = ra.reduce((s, x, i) => s + (x - ma) * (rb[i]! - mb), 0);
    const va = ra.reduce((s, x) => s + (x - ma) ** 2, 0), vb = rb.reduce((s, x) => s + (x - mb) ** 2, 0);
    return cov / Math.sqrt(va * vb);
  }

  it('spearman equals the textbook definition (Pearson of average ranks), with ties', () => {
    const a = [3, 1, 2, 2, 5, 0.5, 4], b = [1, 1, 3, 2, 6, 0, 2];
    expect(spearman(a, b)).toBeCloseTo(referenceSpearman(a, b), 12);
    expect(spearman([1, 1, 1], [1, 2, 3])).toBe(0);
  });

  it('randomising the last layer changes the Grad-CAM map; layers cascade from the top', async () => {
    const m = await Model.load(model(), { gpu: await testGpu(), tune: false });
    try {
      expect(weightedLayers(m).map((l) => l.node)).toEqual(['fc', 'conv2', 'conv1']);
      // Same weights: the same map (the check measures the randomisation, not the reload).
      const same = await m.withWeights(new Map());
      const opts = { layer: 'feat', classIndex: 1 };
      const base = await explainImage(m, photo(), PRESET, 'gradcam', opts);
      try {
        const again = await explainImage(same, photo(), PRESET, 'gradcam', opts);
        expect(spearman(base.map.data, again.map.data)).toBeGreaterThan(0.999);
      } finally {
        same.destroy();
      }
      const r = await modelRandomisation(m, photo(), PRESET, 'gradcam', { ...opts, steps: 2, randomSeed: 7 });
      expect(r.classIndex).toBe(1);
      expect(r.steps.map((s) => s.layer)).toEqual(['fc', 'conv2']);
      expect(r.steps[0]!.randomised.sort()).toEqual(['b3', 'w3']);
      expect(r.steps[1]!.randomised.sort()).toEqual(['b2', 'b3', 'w2', 'w3']);
      for (const s of r.steps) expect(s.spearman).toBeLessThan(0.9);
      // The original model is untouched.
      const after = await explainImage(m, photo(), PRESET, 'gradcam', opts);
      expect(Array.from(after.map.data)).toEqual(Array.from(base.map.data));
      await expect(modelRandomisation(m, photo(), PRESET, 'gradcam', { steps: 4 })).rejects.toBeInstanceOf(InputError);
    } finally {
      m.destroy();
    }
  });

  it('is an optional metric of the evaluation registry', () => {
    const metric = METRIC_REGISTRY.get('Randomisation ρ');
    expect(metric?.optional).toBe(true);
    expect(metric?.better).toBe('lower');
    expect([...METRIC_REGISTRY.keys()]).toEqual(['EBPG', 'Bbox', 'mIoU', 'Deletion AUC', 'Insertion AUC', 'Drop %', 'Increase %', 'Randomisation ρ']);
  });
});
