/**
 * The web page in a real browser: headless Chromium on its bundled SwiftShader WebGPU (not the
 * lavapipe Node uses), driven by playwright-core. The page's class scores are checked against
 * onnxruntime-node on the same photo, its Grad-CAM map against the same method run in Node, and
 * bad input must leave a clear message and a page that still works.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { Model } from '../src/runtime/model.js';
import { explainImage } from '../src/xai/explain.js';
import { PRESETS, preprocessImage } from '../src/xai/preprocess.js';
import { SHARED } from '../tools/cli-common.js';
import { readImage } from '../src/image-io.js';
import { colorbarWidth } from '../src/render.js';
import { startWebServer, type WebServer } from '../tools/web-server.js';
import { buildPage } from '../tools/build-page.mjs';
import { testGpu } from './helpers/gpu.js';
import { compareLogits, runOrt } from './helpers/ort.js';
import type { PageState } from '../web/main.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// The repository's server lists the shared fp32 SqueezeNet first and opens on the shared photo.
const DEFAULT_MODEL = join(SHARED, 'models', 'squeezenet1.1-fp32.onnx');
const DEFAULT_IMAGE = join(SHARED, 'images', 'misc', 'catdog.rise.png');
const have = existsSync(CHROMIUM) && existsSync(DEFAULT_MODEL) && existsSync(DEFAULT_IMAGE);
// Flags from spec/platform.md: WebGPU on in headless mode, and no background network traffic
// (this machine refuses it, and Chromium would retry for the whole run).
const FLAGS = ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];

type Snapshot = Omit<PageState, 'result'> & { result?: PageState['result'] };

/** The page as the package ships it (bundled and minified by the build), not a development bundle. */
async function packagedPage(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'webgpu-xai-page-'));
  await buildPage(dir);
  return dir;
}

describe.skipIf(!have)('web page in headless Chromium (SwiftShader WebGPU)', () => {
  let server: WebServer;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const state = (): Promise<Snapshot> => page.evaluate(() => window.webgpuXaiPage);
  const waitFor = (pred: string, timeout = 240_000) => page.waitForFunction(pred, null, { timeout, polling: 100 });

  let pageDir: string;
  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    pageDir = await packagedPage();
    server = await startWebServer({ port: 0, pageDir });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
    page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (pageDir) rmSync(pageDir, { recursive: true, force: true });
  });

  it('classifies the default photo as onnxruntime-node does and draws the Grad-CAM overlay Node computes', async () => {
    await page.goto(`${server.url}?method=gradcam&run=1`);
    await waitFor("['done', 'error'].includes(window.webgpuXaiPage?.status)");
    const s = await state();
    expect(s.error).toBeUndefined();
    expect(s.adapter).toMatch(/swiftshader/i);
    expect(s.model).toBe('squeezenet1.1-fp32.onnx');

    // Same pixels (PNG decodes losslessly), same preprocessing, the CPU oracle.
    const bytes = new Uint8Array(readFileSync(DEFAULT_MODEL));
    const photo = readImage(DEFAULT_IMAGE);
    const prepared = preprocessImage(photo, PRESETS.caffe);
    const ref = (await runOrt(bytes, { dims: prepared.shape, data: prepared.tensor }))[0]!.data;
    const cmp = compareLogits(s.scores!, ref);
    expect(cmp.maxRelErr).toBeLessThan(1e-3);
    expect(cmp.top5SameOrder).toBe(true);
    expect(s.top5!.map((t) => t.index)).toEqual(cmp.top5[0]!.b);
    expect(s.top5![0]!.label).toBe('bull mastiff');

    const r = s.result!;
    expect(r.method).toBe('gradcam');
    expect(r.classIndex).toBe(cmp.top5[0]!.b[0]);
    expect(r.backwardPasses).toBe(1);
    const gpu = await testGpu();
    const model = await Model.load(bytes, { gpu });
    try {
      const node = await explainImage(model, photo, PRESETS.caffe, 'gradcam', { classIndex: r.classIndex });
      expect([r.map.width, r.map.height]).toEqual([node.map.width, node.map.height]);
      let maxDiff = 0, spread = 0;
      for (let i = 0; i < node.map.data.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(r.map.data[i]! - node.map.data[i]!));
        spread = Math.max(spread, node.map.data[i]!);
      }
      expect(spread).toBeGreaterThan(0.5);
      expect(maxDiff).toBeLessThan(2e-3);
    } finally {
      model.destroy();
    }

    // The overlay: photo width plus the colour bar, and not a blank canvas.
    const canvas = await page.evaluate(() => {
      const c = document.getElementById('overlay') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      const colours = new Set<number>();
      for (let i = 0; i < d.length; i += 4 * 97) colours.add((d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!);
      return { width: c.width, height: c.height, colours: colours.size };
    });
    expect(canvas).toMatchObject({ width: photo.width + colorbarWidth(photo.height), height: photo.height });
    expect(canvas.colours).toBeGreaterThan(50);
    expect(pageErrors).toEqual([]);
  }, 300_000);

  it('reports a truncated model, a non-image file and a class out of range, and keeps working', async () => {
    const runs = (await state()).runs;
    const full = readFileSync(DEFAULT_MODEL);
    await page.setInputFiles('#model-file', { name: 'truncated.onnx', mimeType: 'application/octet-stream', buffer: full.subarray(0, 5000) });
    await waitFor("window.webgpuXaiPage.status === 'error'");
    expect((await state()).error).toMatch(/^ModelFormatError: \S/);
    expect(await page.textContent('#error')).toBe((await state()).error);

    await page.setInputFiles('#image-file', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('these are not pixels') });
    await waitFor("window.webgpuXaiPage.error?.includes('not an image')");

    await page.fill('#class', '5000');
    await page.click('#explain');
    await waitFor("window.webgpuXaiPage.error?.includes('out of range')");

    // The model and photo loaded before are still there: explaining the runner-up class works.
    const second = (await state()).top5![1]!.index;
    await page.fill('#class', String(second));
    await page.click('#explain');
    await waitFor(`window.webgpuXaiPage.runs === ${runs + 1}`);
    const s = await state();
    expect(s.status).toBe('done');
    expect(s.error).toBeUndefined();
    expect(s.model).toBe('squeezenet1.1-fp32.onnx');
    expect(s.result!.classIndex).toBe(second);
    expect(pageErrors).toEqual([]);
  }, 300_000);

  it('cancels a long explanation and explains again afterwards', async () => {
    const runs = (await state()).runs;
    await page.fill('#class', '');
    // Small batches: cancellation takes effect between batches.
    await page.fill('#batch', '4');
    await page.selectOption('#method', 'sise');
    await page.click('#explain');
    // Cancel once the masked passes have started (the progress line names the phase).
    await waitFor("document.getElementById('phase').textContent.length > 0 && window.webgpuXaiPage.status === 'running'");
    await page.click('#cancel');
    await waitFor("window.webgpuXaiPage.error === 'Cancelled.'", 120_000);
    expect((await state()).runs).toBe(runs);

    await page.selectOption('#method', 'gradcam');
    await page.click('#explain');
    await waitFor(`window.webgpuXaiPage.runs === ${runs + 1}`);
    expect((await state()).result!.method).toBe('gradcam');
    expect(pageErrors).toEqual([]);
  }, 300_000);

  it('tunes the kernels on SwiftShader at load, keeps the choices in localStorage, and reuses them on the next visit', async () => {
    // The page has loaded the default model once already (first test): its load tuned batch 1.
    const first = (await state()).tuning;
    expect(first.length).toBeGreaterThan(0);
    const t = first[0]!;
    expect(t.store).toMatch(/localStorage/);
    const measured = t.geometries.filter((g) => g.source === 'timed');
    // SqueezeNet's convs have several candidates each on this adapter; the 5 s budget reaches some.
    expect(measured.length).toBeGreaterThan(0);
    for (const g of measured) {
      expect(g.candidates).toBeGreaterThan(1);
      expect(g.timed).toBeGreaterThan(1);
      expect(g.ms).toBeGreaterThan(0);
      expect(g.ms).toBeLessThanOrEqual(g.staticMs);
    }
    const stored = await page.evaluate(() => localStorage.getItem('webgpu-xai.tuning'));
    const adapters = (JSON.parse(stored!) as { adapters: Record<string, { entries: Record<string, { complete: boolean }> }> }).adapters;
    const entries = Object.values(adapters).flatMap((a) => Object.values(a.entries));
    expect(entries.filter((e) => e.complete).length).toBeGreaterThanOrEqual(measured.length);

    // A new visit (same browser profile): every geometry measured before comes from the cache with the same choice.
    await page.goto(server.url);
    await waitFor("window.webgpuXaiPage?.status === 'ready' && window.webgpuXaiPage.tuning.length > 0 && !!window.webgpuXaiPage.scores");
    const again = await state();
    const r = again.tuning[0]!;
    for (const g of measured) {
      const h = r.geometries.find((x) => x.key === g.key)!;
      expect(h.source).toBe('cache');
      expect(h.choice).toBe(g.choice);
    }
    expect(r.fromCache).toBeGreaterThanOrEqual(measured.length);
    expect(await page.textContent('#model-info')).toMatch(/kernels: \d+ shapes tuned in [\d.]+ s, \d+ from this browser's cache/);
    expect(again.top5![0]!.label).toBe('bull mastiff');
    expect(pageErrors).toEqual([]);
  }, 300_000);

  it('takes class names from a file on disk, and ignores a file whose length does not match the model', async () => {
    const names = Array.from({ length: 1000 }, (_, k) => `custom class ${k}`).join('\n');
    await page.setInputFiles('#labels-file', { name: 'names.txt', mimeType: 'text/plain', buffer: Buffer.from(names) });
    await waitFor("window.webgpuXaiPage.top5?.[0]?.label === 'custom class 243'");
    await page.setInputFiles('#labels-file', { name: 'ten.txt', mimeType: 'text/plain', buffer: Buffer.from('zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine') });
    await waitFor("window.webgpuXaiPage.top5?.[0]?.label === 'class 243'");
    expect(pageErrors).toEqual([]);
  }, 120_000);
});

describe.skipIf(!existsSync(DEFAULT_MODEL))('web page server', () => {
  let server: WebServer;
  let pageDir: string;
  beforeAll(async () => { pageDir = await packagedPage(); server = await startWebServer({ port: 0, pageDir }); }, 60_000);
  afterAll(async () => { await server?.close(); rmSync(pageDir, { recursive: true, force: true }); });
  /** A raw GET (fetch would normalise the dot segments this test needs to send as they are). */
  const get = (path: string, method = 'GET') => new Promise<{ status: number; body: Buffer }>((ok, fail) => {
    const u = new URL(server.url);
    const req = request({ host: u.hostname, port: u.port, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', fail);
    req.end();
  });

  it('serves the page, its bundle, the built-in model and class names and the shared models, and nothing else of the disk', async () => {
    expect((await get('/')).status).toBe(200);
    const js = await get('/main.js');
    expect(js.status).toBe(200);
    expect(js.body.toString()).not.toMatch(/from ["']node:/);
    expect(js.body.equals(readFileSync(join(pageDir, 'main.js')))).toBe(true); // the built page, not a fresh development bundle
    expect(js.body.toString()).not.toContain('sourceMappingURL'); // minified, no 2.9 MB development bundle with its inline map
    expect(js.body.length).toBeLessThan(500_000);
    const all = JSON.parse((await get('/defaults.json')).body.toString()) as { models: { name: string; url: string }[]; labels: string };
    expect(all.models.map((m) => m.name)).toContain('squeezenet1.1-fp16.onnx (built in)');
    const classes = (await get(all.labels)).body.toString().split('\n');
    expect(classes[243]).toBe('bull mastiff');
    expect((await get('/assets/squeezenet1.1-fp16.onnx')).body.length).toBe(readFileSync(join(__dirname, '..', 'assets', 'squeezenet1.1-fp16.onnx')).length);
    const defaults = JSON.parse((await get('/defaults.json')).body.toString()) as { models: { name: string; url: string }[] };
    expect(defaults.models[0]!.name).toBe('squeezenet1.1-fp32.onnx');
    const model = await get(defaults.models[0]!.url);
    expect(model.status).toBe(200);
    expect(model.body.equals(readFileSync(DEFAULT_MODEL))).toBe(true);
    for (const p of ['/shared/../README.md', '/shared/models/../../main/package.json', '/shared/%2e%2e/README.md', '/shared/models/..%2f..%2fREADME.md',
      '/shared/spec/methods.md', '/shared/models', '/shared//etc/passwd', '/package.json', '/shared/models/missing.onnx']) {
      expect((await get(p)).status, p).toBe(404);
    }
    expect((await get('/shared/%E0%A4%A')).status).toBe(400);
    expect((await get('/', 'POST')).status).toBe(405);
  });
});
