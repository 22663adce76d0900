/** `evaluate` end to end on ten shared ImageNet images with two methods, and its bad-input paths. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = join(ROOT, '..', 'shared');
const have = existsSync(join(SHARED, 'models', 'squeezenet1.1-fp32.onnx')) && existsSync(join(SHARED, 'images', 'imagenet-val', 'annotations.json'));

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile('npx', ['tsx', 'tools/cli.ts', ...args], { cwd: ROOT, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

let tmp: string;
beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'cli-evaluate-')); });
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

describe.skipIf(!have)('evaluate command', () => {
  it('ten images, two methods: every metric with intervals, next to center and random maps, as Markdown and CSV', async () => {
    const out = join(tmp, 'ok');
    const r = await cli('evaluate', '--limit', '10', '--methods', 'gradcam,gradcam++', '--step', '12544', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const md = readFileSync(join(out, 'evaluation.md'), 'utf8');
    for (const m of ['gradcam', 'gradcam++', 'center', 'random']) expect(md).toMatch(new RegExp(`\\| ${m.replace(/\+/g, '\\+')} \\| 10 \\|`));
    for (const k of ['EBPG', 'Bbox', 'mIoU', 'Pointing', 'Deletion AUC', 'Insertion AUC', 'Drop %', 'Increase %']) expect(md).toContain(k);
    expect(md).toMatch(/\d+\.\d \[\d+\.\d, \d+\.\d\]/);
    const rows = readFileSync(join(out, 'evaluation.csv'), 'utf8').trim().split('\n');
    expect(rows).toHaveLength(1 + 10 * 4);
    const ebpg = rows.slice(1).map((l) => Number(l.split(',')[3]));
    expect(ebpg.every((v) => v >= 0 && v <= 100)).toBe(true);
    expect(r.stderr).toMatch(/ETA/);
  }, 900_000);

  it('bad arguments: clear message, non-zero exit, no files', async () => {
    const out = join(tmp, 'bad');
    for (const args of [['--methods', 'nonsense'], ['--images', join(tmp, 'nowhere')], ['--limit', '0'], ['--step', 'x']]) {
      const r = await cli('evaluate', ...args, '--out', out);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^error: /m);
      expect(existsSync(out)).toBe(false);
    }
    const help = await cli('evaluate', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--methods/);
  }, 300_000);
});
