/**
 * Initializers in an external-data file: loaded from the model's folder in Node (loadModelFile),
 * from a map of file names in the browser's way (LoadOptions.externalData), checked against
 * onnxruntime-node loading the same folder; missing or short files give a typed error naming them.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelFile } from '../src/node.js';
import { Model } from '../src/runtime/model.js';
import { ExternalDataError } from '../src/runtime/external-data.js';
import { explainImage } from '../src/xai/explain.js';
import { buildMobileNetV2 } from '../tools/model-zoo.js';
import { externalize } from '../tools/external-data-writer.js';
import { randNormal, Rng } from '../tools/onnx-writer.js';
import { compareLogits, ort } from './helpers/ort.js';
import { testGpu } from './helpers/gpu.js';

const zoo = buildMobileNetV2({ width: 0.25, inputSize: 64, numClasses: 50, seed: 4 });
const ext = externalize(zoo.bytes, 'weights.bin');
const dir = mkdtempSync(join(tmpdir(), 'external-data-'));
const path = join(dir, 'model.onnx');
writeFileSync(path, ext.model);
writeFileSync(join(dir, 'weights.bin'), ext.data);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const x = randNormal(new Rng(9), 2 * 3 * 64 * 64);

describe('external data', () => {
  it('loads from the model folder and from a map, matching onnxruntime-node on the same folder', async () => {
    expect(ext.moved.length).toBeGreaterThan(10);
    expect(ext.model.length).toBeLessThan(ext.data.length / 4);
    const session = await ort.InferenceSession.create(path, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
    const ref = (await session.run({ [zoo.inputName]: new ort.Tensor('float32', x.slice(), [2, 3, 64, 64]) }))[zoo.outputName]!.data as Float32Array;
    await session.release();
    const gpu = await testGpu();
    const fromFolder = await loadModelFile(path, { gpu, tune: false });
    const fromMap = await Model.load(ext.model, { gpu, tune: false, externalData: { 'weights.bin': ext.data } });
    try {
      for (const m of [fromFolder, fromMap]) {
        const got = (await m.run({ [zoo.inputName]: { dtype: 'float32', shape: [2, 3, 64, 64], data: x.slice() } })).outputs[zoo.outputName]!;
        const c = compareLogits(got.data, ref, 50);
        expect(c.top5Agree).toBe(true);
        expect(c.maxRelErr).toBeLessThan(1e-3);
      }
      // And it explains: a Grad-CAM map that is finite and not constant.
      const img = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * 37) % 251)) };
      const e = await explainImage(fromFolder, img, { size: 64, resize: 64, channels: 'rgb', divisor: 255, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] }, 'gradcam');
      expect(e.map.data.every(Number.isFinite)).toBe(true);
      expect(Math.max(...e.map.data) - Math.min(...e.map.data)).toBeGreaterThan(0.5);
    } finally {
      fromFolder.destroy();
      fromMap.destroy();
    }
  }, 120_000);

  it('names a missing or short file, and says how to supply it when no source is given', async () => {
    const gpu = await testGpu();
    const fail = (opts: object) => Model.load(ext.model, { gpu, warmup: false, tune: false, ...opts }).then(() => undefined, (e: unknown) => e);
    const missing = await fail({ externalData: {} });
    expect(missing).toBeInstanceOf(ExternalDataError);
    expect((missing as Error).message).toMatch(/'weights\.bin' not found/);
    const short = await fail({ externalData: new Map([['weights.bin', ext.data.subarray(0, ext.data.length - 100)]]) });
    expect(short).toBeInstanceOf(ExternalDataError);
    expect((short as Error).message).toMatch(/'weights\.bin' has \d+ bytes/);
    const none = await fail({});
    expect((none as Error).message).toMatch(/external file 'weights\.bin'.*loadModelFile/);
    // A location that leaves the model's folder is refused before any file is asked for.
    const outside = externalize(zoo.bytes, '../weights.bin');
    const asked: string[] = [];
    const escaping = await Model.load(outside.model, { gpu, warmup: false, tune: false, externalData: (l) => { asked.push(l); return outside.data; } }).then(() => undefined, (e: unknown) => e);
    expect(escaping).toBeInstanceOf(ExternalDataError);
    expect((escaping as Error).message).toMatch(/'\.\.\/weights\.bin' must be a relative path inside the model's folder/);
    expect(asked).toEqual([]);
  });
});
