/**
 * The package as a user gets it: `npm pack` (which builds dist/), the tarball installed into a
 * fresh consumer project outside the repository, then plain `node`, `npx webgpu-xai` and `tsc` in
 * that project, with nothing of the repository on their paths except the `webgpu` peer (linked
 * from the repository's node_modules instead of downloading Dawn's 130 MB again) and, for the
 * TypeScript check, @types/node.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, transform } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { GraphBuilder, heWeights, randNormal, Rng } from '../tools/onnx-writer.js';
import { decodeImage } from '../src/image-io.js';
import { colorbarWidth } from '../src/render.js';
import { randomInput, runOrt } from './helpers/ort.js';

const ROOT = resolve(__dirname, '..');
const PHOTO = resolve(ROOT, '..', 'shared', 'images', 'misc', 'catdog.rise.png');
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface Run { code: number; stdout: string; stderr: string }
function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((ok) => {
    execFile(cmd, args, { cwd, maxBuffer: 64 << 20, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      ok({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}
const ok = (r: Run) => { if (r.code !== 0) throw new Error(`exit ${r.code}\n${r.stdout}\n${r.stderr}`); return r; };

/** The README's ```ts blocks marked `<!-- readme-example: NAME -->`, by name. */
function readmeExamples(): Record<string, string> {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/<!-- readme-example: ([\w-]+) -->\n```ts\n([\s\S]*?)\n```/g)) out[m[1]!] = m[2]!;
  return out;
}

/** A small CNN (Conv, Relu, GlobalAveragePool, Flatten, Gemm) the ONNX writer builds from seeded weights. */
function tinyModel(): Uint8Array {
  const rng = new Rng(3);
  const g = new GraphBuilder('tiny', 13);
  const x = g.input('image', [1, 3, 16, 16]);
  const w = g.initializer('w', [8, 3, 3, 3], heWeights(rng, [8, 3, 3, 3], 27));
  const b = g.initializer('b', [8], randNormal(rng, 8, 0.1));
  const c = g.op('Relu', [g.op('Conv', [x, w, b], { pads: [1, 1, 1, 1] })]);
  const f = g.op('Flatten', [g.op('GlobalAveragePool', [c])]);
  const fw = g.initializer('fw', [5, 8], randNormal(rng, 40, 0.5));
  const fb = g.initializer('fb', [5], randNormal(rng, 5, 0.1));
  g.output(g.op('Gemm', [f, fw, fb], { transB: 1 }), [1, 5]);
  return g.toBytes();
}

describe('the packed package in a fresh project', () => {
  let dir: string, app: string, tarball: string, files: string[];
  const node = (script: string, ...args: string[]) => sh(process.execPath, [script, ...args], app);
  const cli = (...args: string[]) => sh('npx', ['--no-install', 'webgpu-xai', ...args], app, { WEBGPU_XAI_CACHE_DIR: join(dir, 'cache') });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'webgpu-xai-pack-'));
    // prepack builds, but npm may be set to ignore scripts (as on this project's machines): build first.
    ok(await sh('npm', ['run', 'build'], ROOT));
    const packed = ok(await sh('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], ROOT));
    const info = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
    tarball = join(dir, info[0]!.filename);
    files = info[0]!.files.map((f) => f.path);
    app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    // The dependencies are in npm's cache after the repository's own install; prefer it.
    ok(await sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], app));
  }, 300_000);

  afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  it('ships dist, the built-in model with its licence, README and LICENSE; no tests, benchmarks or sources', () => {
    for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/index.js.map', 'dist/src/node.js', 'dist/src/runtime/onnx-pb/onnx.js',
      'dist/tools/cli.js', 'dist/web/index.html', 'dist/web/main.js', 'dist/require.cjs', 'assets/squeezenet1.1-fp16.onnx',
      'assets/imagenet-classes.txt', 'assets/LICENSE-squeezenet.txt', 'README.md', 'LICENSE', 'package.json']) expect(files, f).toContain(f);
    expect(files.filter((f) => /^(test|bench|src|tools|web|docs)\//.test(f) || /\.test\./.test(f) || f.includes('/test/'))).toEqual([]);
    expect(readFileSync(join(app, 'node_modules', 'webgpu-xai', 'dist', 'tools', 'cli.js'), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
  });

  it('installs no Dawn and no protobuf library: webgpu is an optional peer', () => {
    const nm = join(app, 'node_modules');
    expect(existsSync(join(nm, 'webgpu'))).toBe(false);
    expect(existsSync(join(nm, 'protobufjs'))).toBe(false);
    expect(existsSync(join(nm, 'onnx-proto'))).toBe(false);
  });

  it('bundles for the browser from the installed package within the budget, with no Node built-ins', async () => {
    const r = await build({
      stdin: { contents: `export * from 'webgpu-xai';`, resolveDir: app, loader: 'js' }, bundle: true, minify: true,
      platform: 'browser', format: 'esm', target: 'es2022', write: false, logLevel: 'silent', metafile: true,
    });
    const gz = gzipSync(r.outputFiles[0]!.contents, { level: 9 }).length;
    expect(Object.keys(r.metafile.inputs).filter((p) => p.startsWith('node:') || /node_modules\/(webgpu|pngjs|jpeg-js)\//.test(p))).toEqual([]);
    expect(gz).toBeLessThan(110_000); // the budget of test/bundle.test.ts
    // 'webgpu-xai/node' in a browser bundle: the browser condition's message, not Dawn and node:fs.
    const n = await build({ stdin: { contents: `import 'webgpu-xai/node';`, resolveDir: app, loader: 'js' }, bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent' });
    expect(n.outputFiles[0]!.text).toContain('webgpu-xai/node is for Node');
  });

  it('says what to install when the webgpu package is missing, and that require() is not supported', async () => {
    writeFileSync(join(app, 'no-dawn.mjs'), `import { createNodeGpu, WebGpuMissingError, DeviceError } from 'webgpu-xai/node';
try { await createNodeGpu(); console.log('no error'); } catch (e) { console.log(JSON.stringify({ name: e.name, missing: e instanceof WebGpuMissingError, device: e instanceof DeviceError, message: e.message })); }`);
    const r = ok(await node('no-dawn.mjs'));
    const e = JSON.parse(r.stdout) as { name: string; missing: boolean; device: boolean; message: string };
    expect(e).toMatchObject({ name: 'WebGpuMissingError', missing: true, device: true });
    expect(e.message).toContain('npm install webgpu');

    writeFileSync(join(app, 'req.cjs'), `try { require('webgpu-xai'); console.log('loaded'); } catch (e) { console.log(e.message); }`);
    expect(ok(await node('req.cjs')).stdout).toMatch(/ESM only.*import/);
  });

  describe('with the webgpu peer', () => {
    beforeAll(() => { symlinkSync(join(ROOT, 'node_modules', 'webgpu'), join(app, 'node_modules', 'webgpu'), 'dir'); });

    it('runs a writer-built CNN and the built-in SqueezeNet from plain node', async () => {
      const bytes = tinyModel();
      const input = randomInput([1, 3, 16, 16], 9);
      writeFileSync(join(app, 'tiny.onnx'), bytes);
      writeFileSync(join(app, 'tiny.input.json'), JSON.stringify(Array.from(input.data)));
      writeFileSync(join(app, 'run.mjs'), `import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createNodeGpu, loadModel, readImage, preprocessImage, PRESETS } from 'webgpu-xai/node';
const gpu = await createNodeGpu();
const tiny = await loadModel(new Uint8Array(readFileSync('tiny.onnx')), { gpu });
const x = Float32Array.from(JSON.parse(readFileSync('tiny.input.json', 'utf8')));
const t = await tiny.run({ [tiny.inputs[0].name]: x });
const sq = await loadModel(new Uint8Array(readFileSync(fileURLToPath(import.meta.resolve('webgpu-xai/assets/squeezenet1.1-fp16.onnx')))), { gpu });
const img = preprocessImage(readImage(process.argv[2]), PRESETS.caffe);
const s = await sq.run({ [sq.inputs[0].name]: img.tensor });
const p = Object.values(s.outputs)[0].data;
let best = 0; for (let i = 1; i < p.length; i++) if (p[i] > p[best]) best = i;
console.log(JSON.stringify({ tiny: Array.from(Object.values(t.outputs)[0].data), top1: best, p: p[best] }));
tiny.destroy(); sq.destroy(); gpu.destroy();`);
      const r = ok(await node('run.mjs', PHOTO));
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { tiny: number[]; top1: number; p: number };
      const ref = (await runOrt(bytes, input))[0]!.data;
      expect(out.tiny).toHaveLength(5);
      out.tiny.forEach((v, i) => expect(Math.abs(v - ref[i]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(ref[i]!))));
      expect(out.top1).toBe(243); // bull mastiff, as the shared fp32 copy says
      expect(out.p).toBeGreaterThan(0.5);
    }, 180_000);

    it('npx webgpu-xai: --version, --help, and explain with only an image', async () => {
      expect(ok(await cli('--version')).stdout.trim()).toBe(version);
      const help = ok(await cli('--help')).stdout;
      for (const c of ['classify', 'explain', 'layers', 'profile', 'evaluate', 'tune', 'web']) expect(help).toMatch(new RegExp(`^  ${c} `, 'm'));
      expect(help).not.toMatch(/checkout|\.\.\/shared/);
      const noImage = await cli('explain');
      expect(noImage.code).toBe(2);
      expect(noImage.stderr).toMatch(/no --image given/);
      expect(noImage.stderr).not.toMatch(/checkout|shared/);

      const r = ok(await cli('explain', '--image', PHOTO, '--method', 'gradcam', '--out', 'maps'));
      expect(r.stdout).toContain('bull mastiff');
      const png = decodeImage(new Uint8Array(readFileSync(join(app, 'maps', 'catdog.rise.gradcam.png'))));
      const photo = decodeImage(new Uint8Array(readFileSync(PHOTO)));
      expect([png.width, png.height]).toEqual([photo.width + colorbarWidth(photo.height), photo.height]);
    }, 180_000);

    it('webgpu-xai web serves the built page with the built-in model and class names', async () => {
      const child = spawn(process.execPath, [join(app, 'node_modules', '.bin', 'webgpu-xai'), 'web', '--port', '0'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        const url = await new Promise<string>((ok, fail) => {
          let out = '';
          child.stdout.on('data', (d: Buffer) => { out += d.toString(); const m = /http:\/\/\S+\//.exec(out); if (m) ok(m[0]); });
          child.on('close', (code) => fail(new Error(`web exited with ${code}: ${out}`)));
        });
        const page = await (await fetch(url)).text();
        expect(page).toContain('id="labels-file"');
        const js = await fetch(`${url}main.js`);
        expect(js.status).toBe(200);
        expect((await js.text()).length).toBeLessThan(500_000);
        const defaults = await (await fetch(`${url}defaults.json`)).json() as { models: { url: string }[]; labels: string; image?: string };
        expect(defaults.models.map((m) => m.url)).toEqual(['/assets/squeezenet1.1-fp16.onnx']);
        expect(defaults.image).toBeUndefined();
        expect((await (await fetch(`${url}${defaults.labels.slice(1)}`)).text()).split('\n')[243]).toBe('bull mastiff');
        expect((await fetch(`${url}shared/models/squeezenet1.1-fp32.onnx`)).status).toBe(404);
      } finally {
        child.kill('SIGTERM');
      }
    }, 60_000);

    it('runs the README examples as they are written', async () => {
      const examples = readmeExamples();
      expect(Object.keys(examples).sort()).toEqual(['explanations', 'quickstart']);
      // What the examples open: a model file and a photo beside them.
      writeFileSync(join(app, 'model.onnx'), readFileSync(join(ROOT, 'assets', 'squeezenet1.1-fp16.onnx')));
      writeFileSync(join(app, 'photo.jpg'), readFileSync(PHOTO));
      for (const [name, code] of Object.entries(examples)) {
        writeFileSync(join(app, `readme-${name}.ts`), code);
        writeFileSync(join(app, `readme-${name}.mjs`), (await transform(code, { loader: 'ts', format: 'esm', target: 'es2022' })).code);
      }
      const quick = ok(await node('readme-quickstart.mjs'));
      expect(quick.stdout).toMatch(/^243 \d+(\.\d+)?$/m); // bull mastiff and its score
      const png = decodeImage(new Uint8Array(readFileSync(join(app, 'photo.gradcam.png'))));
      expect([png.width, png.height]).toEqual([224 + colorbarWidth(224), 224]);
      const ex = ok(await node('readme-explanations.mjs'));
      const last = ex.stdout.trim().split('\n').pop()!.split(' ').map(Number);
      expect(last[0]).toBe(243);
      expect(last[2]).toBeGreaterThanOrEqual(0);
      expect(last[2]).toBeLessThanOrEqual(1);
    }, 600_000);

    it('compiles a strict TypeScript consumer against the shipped declarations (node16 and bundler resolution)', async () => {
      mkdirSync(join(app, 'node_modules', '@types'), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(app, 'node_modules', '@types', 'node'), 'dir');
      writeFileSync(join(app, 'consumer.ts'), `import { readFileSync } from 'node:fs';
import { createNodeGpu, loadModel, explainImage, readImage, encodePng, overlay, type Explanation, type LoadOptions } from 'webgpu-xai/node';
import { PRESETS, type RgbaImage } from 'webgpu-xai';
import { deletionInsertion } from 'webgpu-xai/metrics';
import { turbo, type OverlayOptions } from 'webgpu-xai/overlay';

export async function main(path: string): Promise<Uint8Array> {
  const gpu = await createNodeGpu();
  const opts: LoadOptions = { gpu, tune: false };
  const model = await loadModel(new Uint8Array(readFileSync('tiny.onnx')), opts);
  const photo: RgbaImage = readImage(path);
  const e: Explanation = await explainImage(model, photo, PRESETS.caffe, 'gradcam', { batchSize: 8 });
  const o: OverlayOptions = { colormap: 'turbo', opacity: 0.4 };
  const rgb: [number, number, number] = turbo(0.5);
  void rgb; void deletionInsertion;
  return encodePng(overlay(photo, e.original ?? e.map, o));
}
`);
      const base = { strict: true, exactOptionalPropertyTypes: true, skipLibCheck: false, noEmit: true, target: 'ES2022', lib: ['ES2022', 'DOM'], types: ['node'] }; // DOM: @webgpu/types builds on it
      for (const [name, extra] of [['node16', { module: 'node16', moduleResolution: 'node16' }], ['bundler', { module: 'esnext', moduleResolution: 'bundler' }]] as const) {
        const readme = Object.keys(readmeExamples()).map((n) => `readme-${n}.ts`);
        writeFileSync(join(app, `tsconfig.${name}.json`), JSON.stringify({ compilerOptions: { ...base, ...extra }, files: ['consumer.ts', ...readme] }));
        const r = await sh(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', `tsconfig.${name}.json`], app);
        expect(r.stdout + r.stderr, name).toBe('');
        expect(r.code, name).toBe(0);
      }
    }, 120_000);
  });
});
