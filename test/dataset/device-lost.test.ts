/**
 * A dataset run whose GPU device is lost stops with a DeviceLostError saying so, instead of
 * recording every later image as failed (a queue worker then fails its job for another worker to
 * retry, and exits). The device is really lost here: destroyed under the loaded model.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explainItems, openExplainContext, DeviceLostError } from '../../tools/dataset/explain-run.js';
import { FolderStore } from '../../tools/dataset/store.js';
import { INDEX } from '../../tools/dataset/run-index.js';
import { writeMnistPngs } from '../helpers/mnist-images.js';

const MODEL = join(import.meta.dirname, '..', '..', '..', 'shared', 'models', 'mnist-cnn.onnx');
const tmp = mkdtempSync(join(tmpdir(), 'device-lost-'));
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

describe.skipIf(!existsSync(MODEL))('dataset run on a lost device', () => {
  it('the first image explains; after the device is destroyed the run throws DeviceLostError and writes no failed rows', async () => {
    const paths = writeMnistPngs(join(tmp, 'in'), 3);
    const items = paths.map((p, i) => ({ id: `d${i}`, path: p }));
    const ctx = await openExplainContext({ modelPath: MODEL, methods: ['gradcam'], params: [], preprocess: {} });
    const store = new FolderStore(join(tmp, 'out'));
    try {
      const first = await explainItems(ctx, items.slice(0, 1), store);
      expect(first).toMatchObject({ ok: 1, failed: 0 });
      ctx.gpu.device.destroy();
      await ctx.gpu.device.lost;
      await new Promise((r) => setTimeout(r, 0));
      await expect(explainItems(ctx, items, store)).rejects.toThrow(DeviceLostError);
      await expect(explainItems(ctx, items, store)).rejects.toThrow(/GPU device was lost .*this process stops/);
      expect(store.read<{ image: string; status: string }>(INDEX).map((r) => `${r.image} ${r.status}`)).toEqual(['d0 ok']);
    } finally {
      ctx.close();
    }
  }, 60_000);
});
