/**
 * A dataset run with a batched method (Grad-CAM) explains a group of images in one explain() call:
 * its maps equal those of `explain --image` run one image at a time, and an unreadable image in the
 * group fails alone (one 'failed' row) while the rest of the group is explained.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explainItems, openExplainContext, hasBatchedPath } from '../../tools/dataset/explain-run.js';
import { FolderStore } from '../../tools/dataset/store.js';
import { INDEX, type IndexRow } from '../../tools/dataset/run-index.js';
import { decodeNpyFloat32 } from '../../src/render.js';
import { writeMnistPngs } from '../helpers/mnist-images.js';

const ROOT = join(import.meta.dirname, '..', '..');
const MODEL = join(ROOT, '..', 'shared', 'models', 'mnist-cnn.onnx');
const tmp = mkdtempSync(join(tmpdir(), 'batched-run-'));
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

function cli(...args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((res) => execFile(process.execPath, ['--import', 'tsx', 'tools/cli.ts', ...args], { cwd: ROOT, maxBuffer: 16 << 20 },
    (err, _o, stderr) => res({ code: err ? Number(err.code) : 0, stderr })));
}

function npy(path: string): Float32Array {
  return decodeNpyFloat32(new Uint8Array(readFileSync(path))).data;
}

describe.skipIf(!existsSync(MODEL))('dataset run through the batched path', () => {
  it('gradcam has a batched path and sise does not', () => {
    expect(hasBatchedPath('gradcam')).toBe(true);
    expect(hasBatchedPath('sise')).toBe(false);
  });

  it('one group: maps equal explain --image one at a time; the unreadable image alone fails', async () => {
    const paths = writeMnistPngs(join(tmp, 'in'), 4);
    const broken = join(tmp, 'in', 'broken.png');
    writeFileSync(broken, 'not a PNG file at all'.repeat(10));
    const items = [
      { id: 'digit-00', path: paths[0]! }, { id: 'digit-01', path: paths[1]! }, { id: 'broken', path: broken },
      { id: 'digit-02', path: paths[2]! }, { id: 'digit-03', path: paths[3]! },
    ];
    const ctx = await openExplainContext({ modelPath: MODEL, methods: ['gradcam'], params: [], preprocess: {} });
    const store = new FolderStore(join(tmp, 'run'));
    const seen: IndexRow[] = [];
    try {
      const r = await explainItems(ctx, items, store, { onUnit: (row) => seen.push(row) });
      expect(r).toMatchObject({ ok: 4, failed: 1, skipped: 0 });
      expect(r.failures.map((f) => f.image)).toEqual(['broken']);
      // Resuming skips every ok unit and retries only the failed one.
      const again = await explainItems(ctx, items, store);
      expect(again).toMatchObject({ ok: 0, failed: 1, skipped: 4 });
    } finally {
      ctx.close();
    }
    const rows = store.read<IndexRow>(INDEX);
    expect(rows.map((x) => `${x.image} ${x.status}`).sort()).toEqual(
      ['broken failed', 'broken failed', 'digit-00 ok', 'digit-01 ok', 'digit-02 ok', 'digit-03 ok']);
    expect(rows.find((x) => x.image === 'broken')!.error).toMatch(/\S/);
    const ok = seen.filter((x) => x.status === 'ok');
    // The four maps came from one explain() call: each row's total is its share of that call's wall time.
    expect(new Set(ok.map((x) => x.timingsMs!.total)).size).toBe(1);

    const ref = join(tmp, 'ref');
    const c = await cli('explain', '--model', MODEL, ...paths.flatMap((p) => ['--image', p]), '--method', 'gradcam', '--out', ref);
    expect(c.code, c.stderr).toBe(0);
    for (const id of ['digit-00', 'digit-01', 'digit-02', 'digit-03']) {
      const a = npy(join(tmp, 'run', `${id}.gradcam.npy`)), b = npy(join(ref, `${id}.gradcam.npy`));
      expect(a.length).toBe(b.length);
      let m = 0;
      for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
      expect(m, id).toBeLessThan(1e-4);
      expect(Math.max(...a), id).toBeGreaterThan(0);
      const ja = JSON.parse(readFileSync(join(tmp, 'run', `${id}.gradcam.json`), 'utf8')), jb = JSON.parse(readFileSync(join(ref, `${id}.gradcam.json`), 'utf8'));
      expect(ja.class).toEqual(jb.class);
      expect(ja.forwardPasses).toBe(jb.forwardPasses);
      expect(ja.backwardPasses).toBe(jb.backwardPasses);
    }
  }, 120_000);
});
