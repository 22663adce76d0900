/** `explain --images` bad input: a clear error, the documented exit code, and no files or folders left. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeMnistPngs } from '../helpers/mnist-images.js';

const ROOT = join(import.meta.dirname, '..', '..');
const MODEL = join(ROOT, '..', 'shared', 'models', 'mnist-cnn.onnx');
let tmp: string, images: string;
beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'explain-images-')); images = join(tmp, 'in'); writeMnistPngs(images, 2); });
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

function cli(...args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((res) => execFile(process.execPath, ['--import', 'tsx', 'tools/cli.ts', 'explain', ...args], { cwd: ROOT },
    (err, _o, stderr) => res({ code: err ? Number(err.code) : 0, stderr })));
}

describe.skipIf(!existsSync(MODEL))('explain --images: refused runs leave nothing', () => {
  const cases: [string, () => string[], number, RegExp][] = [
    ['no images', () => ['--images', join(tmp, 'empty-*.png')], 2, /lists no PNG or JPEG/],
    ['--image and --images', () => ['--images', images, '--image', join(images, 'digit-00.png')], 2, /either --image .* or --images/],
    ['unknown method', () => ['--images', images, '--method', 'shap'], 2, /unknown method 'shap'/],
    ['bad --param', () => ['--images', images, '--method', 'rise', '--param', 'iterations=5'], 2, /--param/],
    ['class out of range', () => ['--images', images, '--method', 'gradcam', '--class', '10'], 2, /--class 10 is out of range: the model has 10 classes/],
    ['model that is not ONNX', () => {
      const p = join(tmp, 'not-a-model.onnx');
      writeFileSync(p, 'text, not protobuf'.repeat(20));
      return ['--images', images, '--model', p];
    }, 1, /ONNX|protobuf|decode/i],
  ];
  for (const [name, args, code, message] of cases) {
    it(name, async () => {
      const out = join(tmp, `out-${name.replace(/\W+/g, '-')}`);
      const r = await cli('--model', MODEL, ...args(), '--out', out);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(out)).toBe(false);
    }, 60_000);
  }
});
