/**
 * The `explain`, `layers` and `profile` commands, run as child processes on the real SqueezeNet and images
 * from ../shared: files and their formats, and that bad input leaves no files behind.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { readImage } from '../src/image-io.js';
import { colorbarWidth, decodeNpyFloat32 } from '../src/render.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = join(ROOT, '..', 'shared');
const MODEL = join(SHARED, 'models', 'squeezenet1.1-fp32.onnx');
const CATDOG = join(SHARED, 'images', 'misc', 'catdog.rise.png');
const EAGLE = join(SHARED, 'images', 'misc', 'bald_eagle.jpeg');
const have = existsSync(MODEL) && existsSync(CATDOG) && existsSync(EAGLE);

interface Result { code: number; stdout: string; stderr: string }
function cli(...args: string[]): Promise<Result> {
  return new Promise((res) => {
    execFile('npx', ['tsx', 'tools/cli.ts', ...args], { cwd: ROOT, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

let tmp: string;
beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'cli-explain-')); });
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

function checkNpy(path: string, h: number, w: number): Float32Array {
  const bytes = new Uint8Array(readFileSync(path));
  expect([...bytes.subarray(0, 8)]).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  const hlen = bytes[8]! | (bytes[9]! << 8);
  expect((10 + hlen) % 64).toBe(0);
  const header = Buffer.from(bytes.subarray(10, 10 + hlen)).toString('latin1');
  expect(header.endsWith('\n')).toBe(true);
  expect(header).toMatch(new RegExp(`^\\{'descr': '<f4', 'fortran_order': False, 'shape': \\(${h}, ${w}\\), \\} *\\n$`));
  expect(bytes.length).toBe(10 + hlen + h * w * 4);
  const { shape, data } = decodeNpyFloat32(bytes);
  expect(shape).toEqual([h, w]);
  for (const v of data) expect(Number.isFinite(v) && v >= -1e-6 && v <= 1 + 1e-6).toBe(true);
  return data;
}

function pngSize(path: string): { width: number; height: number } {
  const p = PNG.sync.read(readFileSync(path));
  return { width: p.width, height: p.height };
}

describe.skipIf(!have)('webgpu-xai explain', () => {
  it('writes overlay, map, summary per image and method, and a grid', async () => {
    const out = join(tmp, 'cams');
    const r = await cli('explain', '--model', MODEL, '--image', CATDOG, '--image', EAGLE, '--method', 'gradcam,gradcam++', '--out', out);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/243\s+\d+\.\d+%\s+bull mastiff/);
    expect(r.stdout).toMatch(/explaining class 243 \(bull mastiff\)/);
    expect(r.stdout).toContain(`overlay: ${join(out, 'catdog.rise.gradcam.png')}`);
    const files = readdirSync(out).sort();
    const expected = ['catdog.rise', 'bald_eagle'].flatMap((s) => [
      ...['gradcam', 'gradcam++'].flatMap((m) => [`${s}.${m}.png`, `${s}.${m}.npy`, `${s}.${m}.json`]), `${s}.grid.png`]);
    expect(files).toEqual(expected.sort());
    for (const [stem, path] of [['catdog.rise', CATDOG], ['bald_eagle', EAGLE]] as const) {
      const img = readImage(path);
      // Overlay = the original image plus the colour bar panel on the right (documented width).
      expect(pngSize(join(out, `${stem}.gradcam.png`))).toEqual({ width: img.width + colorbarWidth(img.height), height: img.height });
      const grid = pngSize(join(out, `${stem}.grid.png`));
      expect(grid.width).toBeGreaterThan(2 * img.width);
      expect(grid.height).toBeGreaterThan(img.height);
      for (const m of ['gradcam', 'gradcam++']) {
        const map = checkNpy(join(out, `${stem}.${m}.npy`), 224, 224);
        expect(Math.max(...map)).toBeGreaterThan(0.99);
        const j = JSON.parse(readFileSync(join(out, `${stem}.${m}.json`), 'utf8'));
        expect(j.method).toBe(m);
        expect(j.params.layer).toBe('conv10_2');
        expect(j.seed).toBeNull();
        expect(Number.isInteger(j.class.index)).toBe(true);
        expect(typeof j.class.name).toBe('string');
        expect(typeof j.score).toBe('number');
        expect(j.scoreMode).toBe('logit');
        expect(j.forwardPasses).toBeGreaterThanOrEqual(1);
        expect(j.backwardPasses).toBe(1);
        expect(j.timingsMs.total).toBeGreaterThan(0);
        expect(j.adapter).toMatch(/\S/);
        expect(j.model.file).toBe('squeezenet1.1-fp32.onnx');
        expect(j.image).toMatchObject({ width: img.width, height: img.height });
        expect(j.input).toMatchObject({ width: 224, height: 224, preset: 'caffe' });
      }
    }
    expect(JSON.parse(readFileSync(join(out, 'catdog.rise.gradcam.json'), 'utf8')).class).toEqual({ index: 243, name: 'bull mastiff' });
    expect(readdirSync(out).some((f) => f.includes('.tmp-'))).toBe(false);
  });

  it('runs LIME with --param and --seed on real superpixels', async () => {
    const out = join(tmp, 'lime');
    const r = await cli('explain', '--model', MODEL, '--image', EAGLE, '--method', 'lime', '--param', 'samples=24', '--seed', '7', '--batch', '8', '--out', out);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const j = JSON.parse(readFileSync(join(out, 'bald_eagle.lime.json'), 'utf8')) as { seed: number; forwardPasses: number; params: { samples: number; segmentCount: number } };
    expect(j.seed).toBe(7);
    expect(j.params.samples).toBe(24);
    expect(j.forwardPasses).toBe(25);
    // Quickshift on the photo's colours finds many superpixels (one would mean it segmented the normalised tensor badly).
    expect(j.params.segmentCount).toBeGreaterThan(10);
    const map = checkNpy(join(out, 'bald_eagle.lime.npy'), 224, 224);
    expect(Math.max(...map)).toBeCloseTo(1, 5);
  });

  it('runs SISE on one layer with a given class', async () => {
    const out = join(tmp, 'sise');
    const r = await cli('explain', '--model', MODEL, '--image', CATDOG, '--method', 'sise', '--mu', '0.9', '--layers', 'conv10_2', '--class', '282', '--out', out);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/explaining class 282 \(tiger cat\)/);
    expect(readdirSync(out).sort()).toEqual(['catdog.rise.sise.json', 'catdog.rise.sise.npy', 'catdog.rise.sise.png']);
    checkNpy(join(out, 'catdog.rise.sise.npy'), 224, 224);
    expect(pngSize(join(out, 'catdog.rise.sise.png'))).toEqual({ width: 224 + colorbarWidth(224), height: 224 });
    const j = JSON.parse(readFileSync(join(out, 'catdog.rise.sise.json'), 'utf8'));
    expect(j).toMatchObject({ method: 'sise', seed: null, class: { index: 282, name: 'tiger cat' }, scoreMode: 'softmax', backwardPasses: 1 });
    expect(j.params.layers).toEqual(['conv10_2']);
    expect(j.params.selection).toEqual({ kind: 'threshold', mu: 0.9 });
    expect(j.forwardPasses).toBe(1 + 1 + j.params.masks); // classify, gradient pass, one per mask
    expect(Object.keys(j.timingsMs)).toEqual(expect.arrayContaining(['classify', 'gradients', 'masked passes', 'fusion', 'total']));
  });

  describe('bad input: clear error, non-zero exit, no files', () => {
    const cases: [string, () => string[], number, RegExp][] = [
      ['unknown option', () => ['--model', MODEL, '--bogus', '1'], 2, /unknown option '--bogus'/i],
      ['unknown method', () => ['--model', MODEL, '--method', 'gradcam,shap'], 2, /unknown method 'shap'/],
      ['missing image', () => ['--model', MODEL, '--image', join(tmp, 'nope.png')], 2, /image not found/],
      ['corrupt image', () => {
        const p = join(tmp, 'corrupt.png');
        writeFileSync(p, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('garbage, not a PNG body at all')]));
        return ['--model', MODEL, '--image', p, '--method', 'gradcam'];
      }, 1, /cannot decode .*corrupt\.png/],
      ['class out of range', () => ['--model', MODEL, '--image', CATDOG, '--method', 'gradcam', '--class', '1000'], 2, /--class 1000 is out of range: the model has 1000 classes/],
      ['model that is not ONNX', () => {
        const p = join(tmp, 'not-a-model.onnx');
        writeFileSync(p, Buffer.from('this is a text file, not a protobuf; \u00ff\u00fe\u0000\u0001'.repeat(20)));
        return ['--model', p, '--image', CATDOG, '--method', 'gradcam'];
      }, 1, /ONNX|protobuf|decode/i],
      ['unknown --param key', () => ['--model', MODEL, '--image', CATDOG, '--method', 'rise,lime', '--param', 'iterations=5'], 2, /no method among rise, lime takes 'iterations'/],
      ['bad --seed', () => ['--model', MODEL, '--image', CATDOG, '--method', 'lime', '--seed', '1.5'], 2, /--seed must be an integer/],
      ['unknown layer', () => ['--model', MODEL, '--image', CATDOG, '--method', 'sise', '--layers', 'conv10_2,nope'], 1, /no tensor named 'nope'/],
    ];
    for (const [name, args, code, message] of cases) {
      it(name, async () => {
        const out = join(tmp, `bad-${name.replace(/\W+/g, '-')}`);
        const r = await cli('explain', ...args(), '--out', out);
        expect(r.code).toBe(code);
        expect(r.stderr).toMatch(/^error: /m);
        expect(r.stderr).toMatch(message);
        expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
        expect(existsSync(out)).toBe(false);
      });
    }
  });

  it('--help', async () => {
    const r = await cli('explain', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: webgpu-xai explain/);
    for (const o of ['--model', '--image', '--method', '--class', '--out', '--preset', '--labels', '--batch', '--mu', '--layers']) expect(r.stdout).toContain(o);
  });
});

describe.skipIf(!have)('webgpu-xai layers', () => {
  it('lists inputs, outputs, preset, SISE blocks, op counts and FLOPs', async () => {
    const r = await cli('layers', '--model', MODEL);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/data_0\s+float32\s+\[1, 3, 224, 224\]/);
    expect(r.stdout).toMatch(/softmaxout_1\s+float32\s+\[1, 1000, 1, 1\]/);
    expect(r.stdout).toMatch(/preset \(guessed\): caffe/);
    for (const [name, c] of [['conv1_2', 64], ['fire3/concat_1', 128], ['fire5/concat_1', 256], ['conv10_2', 1000]] as const) {
      expect(r.stdout).toMatch(new RegExp(`${name}\\s+\\[1, ${c}, \\d+, \\d+\\]\\s+${c} channels`));
    }
    expect(r.stdout).toMatch(/total: 4 layers, 1448 channels/);
    expect(r.stdout).toMatch(/Conv\s+26/);
    expect(r.stdout).toMatch(/Relu\s+26/);
    // SqueezeNet 1.1: 349 M multiply-adds in its convolutions.
    expect(r.stdout).toMatch(/698,303,872/);
  });

  it('--help', async () => {
    const r = await cli('layers', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: webgpu-xai layers/);
  });

  it('model that is not ONNX', async () => {
    const p = join(tmp, 'layers-not-onnx.onnx');
    writeFileSync(p, 'hello');
    const r = await cli('layers', '--model', p);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: /m);
  });
});

describe.skipIf(!have)('webgpu-xai profile', () => {
  it('prints time per op type, writes a Chrome trace and the WGSL of every dispatch', async () => {
    const trace = join(tmp, 'profile-trace.json'), dir = join(tmp, 'wgsl');
    const r = await cli('profile', '--model', MODEL, '--runs', '1', '--trace', trace, '--wgsl', dir);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\| Conv \|/);
    const events = (JSON.parse(readFileSync(trace, 'utf8')) as { traceEvents: { ph: string }[] }).traceEvents.filter((e) => e.ph === 'X');
    const rows = readFileSync(join(dir, 'kernels.tsv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
    // One row per dispatch of the profiled pass, each naming a file that holds a compute entry point.
    expect(rows).toHaveLength(events.length);
    const files = new Set(rows.map((c) => c[6]!));
    expect(readdirSync(dir).filter((f) => f.endsWith('.wgsl')).sort()).toEqual([...files].sort());
    for (const f of files) {
      const src = readFileSync(join(dir, f), 'utf8');
      const entry = rows.find((c) => c[6] === f)![5]!;
      expect(src).toMatch(new RegExp(`@compute[^]*fn ${entry}\\b`));
    }
    expect(rows.filter((c) => c[2] === 'Conv').length).toBeGreaterThanOrEqual(20);
    expect(files.size).toBeLessThan(rows.length);
    expect(r.stdout).toContain(`${files.size} WGSL sources for ${rows.length} dispatches`);
  });
});
