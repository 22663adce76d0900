/**
 * Saliency-map reconstruction check (methods spec 3.3 [P]): the default diffusion-inpainting
 * generator (kept pixels exact, harmonic fill, seeded variants inside the kept range), the check on
 * the known-evidence CNN (keeping the evidence keeps the class, keeping only background loses it),
 * thresholds, batching, generator errors and parameter validation.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Rng } from '../../tools/onnx-writer.js';
import { Model } from '../../src/runtime/model.js';
import { GpuCompute } from '../../src/runtime/compute.js';
import { InputError } from '../../src/runtime/errors.js';
import { diffusionInpaintingGenerator, reconstructionCheck, type ImageSize } from '../../src/xai/reconstruction.js';
import { otsuThresholdHost } from '../../src/xai/otsu.js';
import { testGpu } from '../helpers/gpu.js';
import { EVIDENCE, evidenceImage, evidenceModel } from '../helpers/evidence-model.js';

describe('diffusion inpainting generator', () => {
  const size: ImageSize = { channels: 3, height: 20, width: 26 };
  const P = size.height * size.width;
  const rng = new Rng(3);
  const image = Float32Array.from({ length: size.channels * P }, () => rng.normal() * 2 + 0.3);
  // A disc plus scattered pixels.
  const keep = Uint8Array.from({ length: P }, (_, p) => {
    const y = Math.floor(p / size.width), x = p % size.width;
    return (y - 8) ** 2 + (x - 15) ** 2 < 20 || rng.next() < 0.05 ? 1 : 0;
  });

  it('keeps kept pixels exactly and fills the rest with finite values inside the kept range', () => {
    const gen = diffusionInpaintingGenerator();
    const a = gen(image, keep, 0, 7, size) as Float32Array;
    expect(a.length).toBe(image.length);
    for (let c = 0; c < size.channels; c++) {
      let lo = Infinity, hi = -Infinity;
      for (let p = 0; p < P; p++) if (keep[p]) { lo = Math.min(lo, image[c * P + p]!); hi = Math.max(hi, image[c * P + p]!); }
      for (let p = 0; p < P; p++) {
        const v = a[c * P + p]!;
        if (keep[p]) expect(v).toBe(image[c * P + p]);
        else { expect(Number.isFinite(v)).toBe(true); expect(v).toBeGreaterThanOrEqual(lo); expect(v).toBeLessThanOrEqual(hi); }
      }
    }
    // Seeded: the same (variant, seed) repeats; another variant or seed differs, on regenerated pixels only.
    expect(Array.from(gen(image, keep, 0, 7, size) as Float32Array)).toEqual(Array.from(a));
    const diff = (x: Float32Array, y: Float32Array) => x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!)), 0);
    expect(diff(gen(image, keep, 1, 7, size) as Float32Array, a)).toBeGreaterThan(0.05);
    expect(diff(gen(image, keep, 0, 8, size) as Float32Array, a)).toBeGreaterThan(0.05);
    // A fresh generator (no cache) gives the same variant.
    expect(Array.from(diffusionInpaintingGenerator()(image, keep, 0, 7, size) as Float32Array)).toEqual(Array.from(a));
  });

  it('without noise the fill is harmonic: a linear ramp between two kept columns', () => {
    const s: ImageSize = { channels: 2, height: 24, width: 33 };
    const n = s.height * s.width;
    const img = new Float32Array(2 * n), k = new Uint8Array(n);
    for (let y = 0; y < s.height; y++) for (const x of [0, s.width - 1]) {
      k[y * s.width + x] = 1;
      img[y * s.width + x] = x === 0 ? -1 : 3;
      img[n + y * s.width + x] = x === 0 ? 5 : 1;
    }
    const ramp = (c: number, x: number) => (c === 0 ? -1 + (4 * x) / (s.width - 1) : 5 - (4 * x) / (s.width - 1));
    const err = (sweeps: number) => {
      const out = diffusionInpaintingGenerator({ noiseAmplitude: 0, sweeps })(img, k, 0, 0, s) as Float32Array;
      let m = 0;
      for (let c = 0; c < 2; c++) for (let p = 0; p < n; p++) m = Math.max(m, Math.abs(out[c * n + p]! - ramp(c, p % s.width)));
      return m;
    };
    expect(err(400)).toBeLessThan(1e-4);
    expect(err(0)).toBeGreaterThan(0.1); // the sweeps do the work (the pyramid start alone is off)
    expect(err(50)).toBeLessThan(0.02); // the default, on a 4-unit range
  });

  it('nothing kept gives zeros; everything kept gives the image', () => {
    const gen = diffusionInpaintingGenerator();
    expect((gen(image, new Uint8Array(P), 2, 0, size) as Float32Array).every((v) => v === 0)).toBe(true);
    expect(Array.from(gen(image, new Uint8Array(P).fill(1), 2, 0, size) as Float32Array)).toEqual(Array.from(image));
    expect(() => gen(image.subarray(1), keep, 0, 0, size)).toThrow(InputError);
    expect(() => diffusionInpaintingGenerator({ noiseGrid: 0 })).toThrow(InputError);
  });
});

const S = EVIDENCE.size;
const q = EVIDENCE.square;
const square = Float32Array.from({ length: S * S }, (_, p) => {
  const x = p % S, y = Math.floor(p / S);
  return x >= q.x0 && x < q.x1 && y >= q.y0 && y < q.y1 ? 1 : 0;
});
const background = square.map((v) => 1 - v);

describe('reconstruction check', () => {
  afterEach(() => { vi.restoreAllMocks(); });

  it('keeping the evidence keeps the class; keeping only background loses it', async () => {
    const gpu = await testGpu();
    const model = await Model.load(evidenceModel(), { gpu });
    try {
      const progress: number[] = [];
      const kept = await reconstructionCheck(model, evidenceImage(), { width: S, height: S, data: square }, { classIndex: 0, variants: 8, batchSize: 3, seed: 4, onProgress: (p) => progress.push(p.done) });
      expect(kept.share).toBeGreaterThanOrEqual(0.875);
      expect(kept.keptShare).toBeCloseTo(100 / (S * S), 10);
      expect(kept.variants).toBe(8);
      expect(kept.perVariantTop1).toHaveLength(8);
      expect(kept.perVariantScore.every((v) => v >= 0 && v <= 1)).toBe(true);
      expect(kept.forwardPasses).toBe(9);
      expect(progress).toEqual([3, 6, 8]);
      expect(kept.threshold.kind).toBe('otsu');
      const lost = await reconstructionCheck(model, evidenceImage(), background, { classIndex: 0, variants: 8, seed: 4 });
      expect(lost.share).toBeLessThanOrEqual(0.125);
      expect(lost.keptShare).toBeCloseTo(1 - 100 / (S * S), 10);
      // A generator that ignores the image entirely: the kept pixels are re-imposed by the check.
      const calls: number[] = [];
      const zeros = await reconstructionCheck(model, evidenceImage(), square, {
        classIndex: 0, variants: 3, seed: 11,
        generator: (img, keep, v, seed, size) => { calls.push(v, seed, size.channels, size.height, keep.length); return new Float32Array(img.length); },
      });
      expect(calls).toEqual([0, 11, 3, S, S * S, 1, 11, 3, S, S * S, 2, 11, 3, S, S * S]);
      expect(zeros.share).toBe(1);
      expect(zeros.params).toMatchObject({ generator: 'custom', variants: 3 });
    } finally {
      model.destroy();
    }
  });

  it('thresholds: Otsu on the min-max normalised map, or a quantile', async () => {
    const gpu = await testGpu();
    const model = await Model.load(evidenceModel(), { gpu });
    try {
      const rng = new Rng(8);
      const map = Float32Array.from({ length: S * S }, () => rng.next() ** 2 * 5 - 1);
      const otsu = await reconstructionCheck(model, evidenceImage(), map, { variants: 1 });
      let lo = Infinity, hi = -Infinity;
      for (const v of map) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      const norm = Array.from(map, (v) => (v - lo) / (hi - lo + 1e-6));
      const t = otsuThresholdHost(norm);
      expect(otsu.threshold).toEqual({ kind: 'otsu', bin: t });
      expect(Array.from(otsu.keep)).toEqual(norm.map((v) => (Math.floor(255 * v) > t ? 1 : 0)));
      const top = await reconstructionCheck(model, evidenceImage(), map, { variants: 1, threshold: { quantile: 0.8 } });
      const k = Math.round(0.2 * S * S);
      expect(top.keptShare).toBeCloseTo(k / (S * S), 10);
      const cut = [...map].sort((a, b) => b - a)[k - 1]!;
      expect(Array.from(top.keep)).toEqual(Array.from(map, (v) => (v >= cut ? 1 : 0)));
    } finally {
      model.destroy();
    }
  });

  it('generator errors and bad parameters give InputError and free GPU memory', async () => {
    const gpu = await testGpu();
    const model = await Model.load(evidenceModel(), { gpu });
    const destroy = vi.spyOn(GpuCompute.prototype, 'destroy');
    try {
      const img = evidenceImage();
      await expect(reconstructionCheck(model, img, square, { generator: (x) => x.subarray(1) })).rejects.toThrow(InputError);
      await expect(reconstructionCheck(model, img, square, { generator: (x) => x.map((v, i) => (i === 5 ? NaN : v)) })).rejects.toThrow(/NaN/);
      await expect(reconstructionCheck(model, img, square, { generator: async (x) => Float32Array.from(x) })).resolves.toMatchObject({ variants: 16 });
      expect(destroy).toHaveBeenCalledTimes(3);
      await expect(reconstructionCheck(model, img, square.subarray(1))).rejects.toThrow(InputError);
      await expect(reconstructionCheck(model, img, { width: 16, height: 64, data: square })).rejects.toThrow(InputError);
      await expect(reconstructionCheck(model, img, square.map((v, i) => (i === 0 ? NaN : v)))).rejects.toThrow(InputError);
      for (const bad of [{ variants: 0 }, { batchSize: 1.5 }, { seed: -1 }, { threshold: { quantile: 1.5 } }, { threshold: 'mean' as never }]) {
        await expect(reconstructionCheck(model, img, square, bad), JSON.stringify(bad)).rejects.toThrow(InputError);
      }
    } finally {
      model.destroy();
    }
  });
});
