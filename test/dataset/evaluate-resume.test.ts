/**
 * `evaluate` resumes: killed in the middle and run again, it evaluates only the images without
 * rows and writes the same tables as an uninterrupted run; an unreadable image is listed under
 * the tables with exit code 1, and evaluated once it is repaired.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeMnistDataset } from '../helpers/mnist-images.js';

const ROOT = join(import.meta.dirname, '..', '..');
const MODEL = join(ROOT, '..', 'shared', 'models', 'mnist-cnn.onnx');
const NODE = [process.execPath, '--import', 'tsx', 'tools/cli.ts', 'evaluate'];
let tmp: string, dir: string;
beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'evaluate-resume-')); dir = join(tmp, 'digits'); writeMnistDataset(dir, 6); });
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

function evaluate(out: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => execFile(NODE[0]!, [...NODE.slice(1), '--images', dir, '--model', MODEL, '--methods', 'gradcam', '--step', '56', '--out', out], { cwd: ROOT },
    (err, stdout, stderr) => res({ code: err ? Number(err.code) : 0, stdout, stderr })));
}
const rowCount = (out: string) => (existsSync(join(out, 'evaluation-rows.jsonl')) ? readFileSync(join(out, 'evaluation-rows.jsonl'), 'utf8').split('\n').filter(Boolean).length : 0);

describe.skipIf(!existsSync(MODEL))('evaluate resumes', () => {
  it('killed after two images and run again: the same tables as a run without interruption', async () => {
    const whole = join(tmp, 'whole');
    expect((await evaluate(whole)).code).toBe(0);
    const out = join(tmp, 'killed');
    const p = spawn(NODE[0]!, [...NODE.slice(1), '--images', dir, '--model', MODEL, '--methods', 'gradcam', '--step', '56', '--out', out], { cwd: ROOT, stdio: 'ignore' });
    const t0 = Date.now();
    while (rowCount(out) < 2 * 3 && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 10));
    p.kill('SIGKILL');
    await new Promise((r) => p.once('exit', r));
    const done = rowCount(out) / 3;
    expect(done).toBeGreaterThanOrEqual(2);
    expect(done).toBeLessThan(6);
    expect(existsSync(join(out, 'evaluation.md'))).toBe(false);
    const r = await evaluate(out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`${Math.floor(done)} of 6 images already evaluated`);
    expect(rowCount(out)).toBe(6 * 3);
    for (const f of ['evaluation.md', 'evaluation.csv']) expect(readFileSync(join(out, f), 'utf8')).toBe(readFileSync(join(whole, f), 'utf8'));
  }, 120_000);

  it('an unreadable image: the others in the tables, it listed as failed, exit 1; repaired, it is evaluated on the next run', async () => {
    const out = join(tmp, 'poison');
    const good = join(tmp, 'good.png');
    copyFileSync(join(dir, 'digit-03.png'), good);
    writeFileSync(join(dir, 'digit-03.png'), 'not an image');
    try {
      const r = await evaluate(out);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/error: 1 of 6 images failed/);
      const md = readFileSync(join(out, 'evaluation.md'), 'utf8');
      expect(md).toMatch(/\| gradcam \| 5 \|/);
      expect(md).toMatch(/Failed \(not in the tables\): digit-03\.png \(ImageDecodeError/);
    } finally {
      copyFileSync(good, join(dir, 'digit-03.png'));
    }
    const again = await evaluate(out);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('5 of 6 images already evaluated');
    expect(readFileSync(join(out, 'evaluation.md'), 'utf8')).toBe(readFileSync(join(tmp, 'whole', 'evaluation.md'), 'utf8'));
  }, 120_000);
});
