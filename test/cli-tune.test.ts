/**
 * The `tune` command as a child process on the shared SqueezeNet: it times every layer geometry,
 * stores complete choices in the cache file its environment names, and a second run finds them
 * there; bad arguments exit 2 and leave the cache alone.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TuneReport } from '../src/runtime/tuner.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MODEL = join(ROOT, '..', 'shared', 'models', 'squeezenet1.1-fp32.onnx');

interface Result { code: number; stdout: string; stderr: string }
function cli(cacheDir: string, ...args: string[]): Promise<Result> {
  return new Promise((res) => {
    execFile('npx', ['tsx', 'tools/cli.ts', 'tune', ...args], { cwd: ROOT, maxBuffer: 16 << 20, env: { ...process.env, WEBGPU_XAI_CACHE_DIR: cacheDir } }, (err, stdout, stderr) => {
      res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

let tmp: string;
beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'cli-tune-')); });
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

describe.skipIf(!existsSync(MODEL))('webgpu-xai tune', () => {
  it('times every geometry, stores the choices, and a second run takes them from the cache', async () => {
    const cache = join(tmp, 'cache');
    const json = join(tmp, 'first.json');
    const r = await cli(cache, '--model', MODEL, '--batch', '1', '--budget', '120', '--json', json);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`cache: ${join(cache, 'tuning.json')}`);
    expect(r.stdout).toMatch(/\| Conv conv1\|n1\|c3\|224x224\|m64\|/);
    const [first] = JSON.parse(readFileSync(json, 'utf8')) as { model: string; batch: number; report: TuneReport }[];
    expect(first!.batch).toBe(1);
    const rep = first!.report;
    expect(rep.geometries.length).toBeGreaterThan(10);
    expect(rep.timed).toBe(rep.geometries.filter((g) => g.source === 'timed').length);
    expect(rep.unfinished).toBe(0);
    for (const g of rep.geometries.filter((x) => x.source === 'timed')) {
      expect(g.timed).toBeGreaterThan(1);
      expect(g.ms).toBeGreaterThan(0);
      expect(g.ms).toBeLessThanOrEqual(g.staticMs);
    }
    const file = JSON.parse(readFileSync(join(cache, 'tuning.json'), 'utf8')) as { adapters: Record<string, { entries: Record<string, { complete: boolean }> }> };
    const entries = Object.values(file.adapters).flatMap((a) => Object.values(a.entries));
    expect(entries.length).toBe(rep.timed);
    expect(entries.every((e) => e.complete)).toBe(true);

    const again = join(tmp, 'second.json');
    const r2 = await cli(cache, '--model', MODEL, '--batch', '1', '--json', again);
    expect(r2.code).toBe(0);
    const rep2 = (JSON.parse(readFileSync(again, 'utf8')) as { report: TuneReport }[])[0]!.report;
    expect(rep2.timed).toBe(0);
    expect(rep2.fromCache).toBe(rep.timed);
    for (const g of rep2.geometries) if (g.source === 'cache') expect(g.choice).toBe(rep.geometries.find((x) => x.key === g.key)!.choice);
  }, 300_000);

  it('bad arguments: usage error, exit 2, no cache written', async () => {
    const cache = join(tmp, 'untouched');
    for (const args of [['--batch', '0'], ['--budget', '-3'], ['--frobnicate']]) {
      const r = await cli(cache, '--model', MODEL, ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.length).toBeGreaterThan(0);
    }
    expect(existsSync(join(cache, 'tuning.json'))).toBe(false);
  }, 120_000);
});
