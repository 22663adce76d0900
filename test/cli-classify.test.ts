/**
 * `classify` from the repository's sources, as a child process: --json gives one parseable
 * document, the built-in model is the default, Dawn's two native warnings never reach stderr, an
 * explicit preset that contradicts the model's input warns, and --version/--help answer without a GPU.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
const CATDOG = join(ROOT, '..', 'shared', 'images', 'misc', 'catdog.rise.png');

interface Result { code: number; stdout: string; stderr: string }
function cli(...args: string[]): Promise<Result> {
  return new Promise((res) => {
    execFile('npx', ['tsx', 'tools/cli.ts', ...args], { cwd: ROOT, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe.skipIf(!existsSync(CATDOG))('classify command', () => {
  it('--json prints one document with the top classes of the built-in model, and no Dawn warnings', async () => {
    const r = await cli('classify', '--json', '--top', '3', '--image', CATDOG);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/artificially reduced/);
    const j = JSON.parse(r.stdout) as { model: { file: string; classes: number }; preprocessing: { name: string }; images: { image: string; scoresAre: string; top: { index: number; label: string; probability: number }[] }[] };
    expect(j.model).toMatchObject({ file: 'squeezenet1.1-fp16.onnx', classes: 1000 });
    expect(j.preprocessing.name).toBe('caffe');
    expect(j.images).toHaveLength(1);
    expect(j.images[0]!.scoresAre).toBe('probabilities');
    expect(j.images[0]!.top.map((t) => t.index)).toEqual([243, 242, 180]);
    expect(j.images[0]!.top[0]).toMatchObject({ label: 'bull mastiff' });
    expect(j.images[0]!.top[0]!.probability).toBeGreaterThan(0.5);
  }, 120_000);

  it('warns when --preset contradicts what the model input names', async () => {
    const r = await cli('classify', '--preset', 'imagenet', '--image', CATDOG);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^warning: .*'caffe' convention that model input 'data_0'.*--preset caffe/m);
    expect(r.stderr).not.toMatch(/artificially reduced/);
  }, 120_000);

  it('--version and --help answer at once', async () => {
    const v = await cli('--version');
    expect(v.stdout.trim()).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    const h = await cli('--help');
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^ {2}web {8}Serves the explanation page/m);
    expect(h.stdout).toMatch(/^ {2}tune {7}Times the convolution and matmul kernel variants/m);
  }, 60_000);
});
