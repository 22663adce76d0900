/**
 * Cancelling a long explanation returns device memory to its level before the call. Every buffer
 * the device creates is tracked until destroyed; a first complete run warms the model's cached
 * execution plans (which live as long as the model), then a cancelled run must leave exactly the
 * same buffers alive as before it started.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Model } from '../../src/runtime/model.js';
import { CancelledError } from '../../src/runtime/errors.js';
import { METHODS, type MethodOptions } from '../../src/xai/explain.js';
import type { GpuContext } from '../../src/runtime/device.js';
import { testGpu } from '../helpers/gpu.js';
import { evidenceImage, evidenceModel } from '../helpers/evidence-model.js';

const live = new Map<GPUBuffer, number>();
let gpu: GpuContext;
let model: Model;

beforeAll(async () => {
  gpu = await testGpu();
  const dev = gpu.device;
  const create = dev.createBuffer.bind(dev);
  dev.createBuffer = (d: GPUBufferDescriptor): GPUBuffer => {
    const b = create(d);
    live.set(b, d.size);
    const destroy = b.destroy.bind(b);
    b.destroy = () => { live.delete(b); destroy(); };
    return b;
  };
  model = await Model.load(evidenceModel(), { gpu });
});
afterAll(() => model?.destroy());

const liveBytes = () => [...live.values()].reduce((a, b) => a + b, 0);

// Settings with several progress steps, so the abort lands mid-run.
const LONG: Record<string, MethodOptions> = {
  rise: { masks: 256, gridSize: 4 },
  iassa: { iterations: 3 },
  'mask-opt': { resolution: 8, pairs: 4, iterations: 12 },
  lime: { samples: 128, segments: grid() },
  'e-lime': { populationSize: 10, maxGenerations: 8, patience: 8, segments: grid(), graded: 'frequency' },
  sise: {},
  scorecam: { batchSize: 1 },
};

/** 4x4-pixel cells over the 32x32 evidence image. */
function grid(): Int32Array {
  const l = new Int32Array(32 * 32);
  for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) l[y * 32 + x] = (y >> 2) * 8 + (x >> 2);
  return l;
}

describe('cancellation frees GPU memory', () => {
  it('tracks the buffers the library creates (else the checks below would pass vacuously)', async () => {
    const n = live.size;
    const e = await METHODS.rise!(model, evidenceImage(), { masks: 8, gridSize: 4, batchSize: 4 });
    expect(e.forwardPasses).toBe(9);
    expect(live.size).toBeGreaterThan(0);
    const b = gpu.device.createBuffer({ size: 64, usage: GPUBufferUsage.STORAGE, label: 'probe' });
    expect(live.size).toBeGreaterThanOrEqual(n + 1);
    expect(live.get(b)).toBe(64);
    b.destroy();
    expect(live.has(b)).toBe(false);
  });
  for (const [method, opts] of Object.entries(LONG)) {
    it(method, async () => {
      const run = METHODS[method]!;
      const base = { classIndex: 0, batchSize: 4, ...opts };
      const whole = await run(model, evidenceImage(), base);
      expect(whole.map.data.every(Number.isFinite)).toBe(true);
      const before = new Set(live.keys());
      const bytesBefore = liveBytes();
      const ac = new AbortController();
      let calls = 0;
      await expect(run(model, evidenceImage(), { ...base, signal: ac.signal, onProgress: () => { if (++calls === 2) ac.abort(); } }))
        .rejects.toBeInstanceOf(CancelledError);
      expect(calls).toBe(2);
      await gpu.device.queue.onSubmittedWorkDone();
      const leaked = [...live.keys()].filter((b) => !before.has(b));
      expect(leaked.map((b) => b.label)).toEqual([]);
      expect(liveBytes()).toBe(bytesBefore);
    });
  }
});
