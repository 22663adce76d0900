/**
 * Arguments and inputs refused up front (issue 17 part 3): each case below misbehaved at a8bce46
 * (spun forever, ran the model first, printed a stack trace or an untyped error).
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { decodeImage } from '../src/image-io.js';
import { preprocessImage, PRESETS, type RgbaImage } from '../src/xai/preprocess.js';
import { InputError } from '../src/runtime/errors.js';
import { MAX_IMAGE_PIXELS } from '../src/xai/image-check.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = join(ROOT, '..', 'shared');
const MODEL = join(SHARED, 'models', 'squeezenet1.1-fp32.onnx');
const CATDOG = join(SHARED, 'images', 'misc', 'catdog.rise.png');
const have = existsSync(MODEL) && existsSync(CATDOG);

interface Result { code: number; stdout: string; stderr: string; ms: number }
function cli(...args: string[]): Promise<Result> {
  const t0 = Date.now();
  return new Promise((res) => {
    // A bounded wait: /proc used to make the command spin at 100 % CPU forever.
    execFile('npx', ['tsx', 'tools/cli.ts', ...args], { cwd: ROOT, timeout: 60_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      res({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

let tmp: string;
beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'cli-args-')); });
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

/** Exit 2, a one-line message matching `msg`, no stack trace, and no model work (nothing printed on stdout). */
function expectUsage(r: Result, msg: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toMatch(msg);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).not.toMatch(/adapter:/);
}

describe.skipIf(!have)('explain refuses bad arguments before any model work', () => {
  it('an --out that cannot be created (/proc/x) exits 2 at once', async () => {
    const r = await cli('explain', '--model', MODEL, '--image', CATDOG, '--method', 'gradcam', '--out', '/proc/webgpu-xai-x');
    expectUsage(r, /--out \/proc\/webgpu-xai-x cannot be created/);
    // A file in the way of a folder too.
    const r2 = await cli('explain', '--model', MODEL, '--image', CATDOG, '--method', 'gradcam', '--out', join(CATDOG, 'sub'));
    expectUsage(r2, /is a file, not a folder/);
  }, 150_000);

  it('checks every --param of every method first: masks=abc, -5, 0, 64.5 exit 2 even after another method', async () => {
    for (const v of ['abc', '-5', '0', '64.5']) {
      const out = join(tmp, `p${v}`);
      const r = await cli('explain', '--model', MODEL, '--image', CATDOG, '--method', 'gradcam,rise', '--param', `masks=${v}`, '--out', out);
      expectUsage(r, /--param \(rise\): masks must be a positive integer/);
      expect(existsSync(out)).toBe(false);
    }
    const r = await cli('explain', '--model', MODEL, '--image', CATDOG, '--method', 'lime', '--param', 'samples=many', '--out', join(tmp, 'lime'));
    expectUsage(r, /--param \(lime\): samples/);
  }, 300_000);

  it('--class -1 says the class must be in 0..K-1', async () => {
    for (const args of [['--class', '-1'], ['--class=-1']]) {
      const r = await cli('explain', '--model', MODEL, '--image', CATDOG, ...args, '--out', join(tmp, 'c'));
      expectUsage(r, /--class must be a class index in 0\.\.K-1 .* got '-1'/);
    }
  }, 150_000);

  it('--model or --image naming a folder gives a clear error, not an EISDIR stack trace', async () => {
    const dir = join(tmp, 'a-folder.onnx');
    mkdirSync(dir);
    expectUsage(await cli('explain', '--model', dir, '--image', CATDOG, '--out', join(tmp, 'm')), /--model .*a-folder\.onnx is a folder, not an ONNX file/);
    expectUsage(await cli('classify', '--model', MODEL, '--image', dir), /--image .*a-folder\.onnx is a folder, not an image file/);
    expect(readdirSync(tmp)).not.toContain('m');
  }, 150_000);
});

describe('images', () => {
  const preset = PRESETS.imagenet;
  const bad: [string, unknown, RegExp][] = [
    ['0x0', { width: 0, height: 0, data: new Uint8Array(0) }, /width must be a positive whole number of pixels, got 0/],
    ['short data', { width: 4, height: 4, data: new Uint8Array(60) }, /holds 60 bytes; 4x4 RGBA needs 64/],
    ['NaN width', { width: NaN, height: 4, data: new Uint8Array(64) }, /width .* got NaN/],
    ['negative height', { width: 4, height: -4, data: new Uint8Array(64) }, /height .* got -4/],
    ['infinite width', { width: Infinity, height: 4, data: new Uint8Array(64) }, /width .* got Infinity/],
    ['2.5x2', { width: 2.5, height: 2, data: new Uint8Array(64) }, /width .* got 2\.5/],
    ['missing data', { width: 2, height: 2 }, /data must be a Uint8Array .* got nothing/],
    ['data of numbers', { width: 1, height: 1, data: [1, 2, 3, 4] }, /data must be a Uint8Array/],
    ['not an object', undefined, /must be an object/],
    ['too many pixels', { width: 20_000, height: 20_000, data: new Uint8Array(4) }, /at most 50 megapixels/],
  ];
  for (const [what, img, msg] of bad) {
    it(`preprocessImage refuses ${what} with an InputError`, () => {
      let err: unknown;
      try { preprocessImage(img as RgbaImage, preset); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(msg);
    });
  }

  function tinyPng(w = 3, h = 2): Uint8Array {
    const p = new PNG({ width: w, height: h });
    p.data.fill(200);
    return new Uint8Array(PNG.sync.write(p));
  }

  it('a truncated PNG says it is truncated', () => {
    const png = tinyPng();
    for (const cut of [20, 40, png.length - 5]) {
      expect(() => decodeImage(png.slice(0, cut), 'x.png')).toThrow(/cannot decode x\.png: the PNG is truncated/);
    }
    expect(decodeImage(png, 'x.png').width).toBe(3);
    const garbage = new Uint8Array([...png.subarray(0, 8), ...new TextEncoder().encode('garbage, not a PNG body at all')]);
    expect(() => decodeImage(garbage, 'c.png')).toThrow(/cannot decode c\.png: the PNG is corrupted/);
  });

  it('PNG and JPEG share one pixel limit, read from the header before decoding', () => {
    const png = tinyPng();
    const dv = new DataView(png.buffer);
    dv.setUint32(16, 10_000); dv.setUint32(20, 10_000);
    expect(() => decodeImage(png, 'big.png')).toThrow(new RegExp(`big\\.png is 10000x10000 \\(100\\.0 megapixels\\); at most ${MAX_IMAGE_PIXELS / 1e6} megapixels`));
    const j = new Uint8Array(jpeg.encode({ width: 8, height: 8, data: Buffer.alloc(8 * 8 * 4, 128) }, 90).data);
    // Patch the SOF0 frame header's height and width.
    let at = 2;
    while (!(j[at] === 0xff && j[at + 1] === 0xc0)) at += 2 + ((j[at + 2]! << 8) | j[at + 3]!);
    j[at + 5] = 10_000 >> 8; j[at + 6] = 10_000 & 255; j[at + 7] = 10_000 >> 8; j[at + 8] = 10_000 & 255;
    expect(() => decodeImage(j, 'big.jpg')).toThrow(/big\.jpg is 10000x10000 \(100\.0 megapixels\); at most 50 megapixels/);
  });
});
