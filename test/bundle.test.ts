/**
 * The browser bundle: what a web app pays for the library. esbuild bundles and minifies as an
 * app's bundler would (ES modules, tree shaking), gzip -9 measures what goes over the wire.
 * Budget (README): everything in the main entry under 110 KB gzipped (the target is 100 KB: see README); importing one method costs
 * less than importing all of them.
 */
import { describe, expect, it } from 'vitest';
import { build, type Metafile } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
const BUDGET = 110_000;

async function bundle(contents: string): Promise<{ gzip: number; minified: number; inputs: string[] }> {
  const r = await build({
    stdin: { contents, resolveDir: ROOT, loader: 'ts', sourcefile: 'app.ts' }, bundle: true, minify: true,
    platform: 'browser', format: 'esm', target: 'es2022', write: false, logLevel: 'silent', metafile: true,
  });
  expect(r.errors).toHaveLength(0);
  const out = r.outputFiles[0]!.contents;
  // Modules that contributed code (tree shaking leaves some with nothing in the output).
  const used = Object.entries(Object.values((r.metafile as Metafile).outputs)[0]!.inputs).filter(([, v]) => v.bytesInOutput > 0).map(([k]) => k);
  return { gzip: gzipSync(out, { level: 9 }).length, minified: out.length, inputs: used };
}

describe('browser bundle', () => {
  it('bundles everything in the main entry with no Node built-ins, under the 110 KB gzip budget', async () => {
    const all = await bundle(`export * from './src/index.ts';`);
    expect(all.inputs.some((p) => p.includes('src/runtime/model.ts'))).toBe(true);
    expect(all.inputs.filter((p) => p.startsWith('node:') || p.includes('node_modules/'))).toEqual([]);
    console.log(`main entry: ${(all.minified / 1000).toFixed(1)} KB minified, ${(all.gzip / 1000).toFixed(1)} KB gzipped`);
    expect(all.gzip).toBeLessThan(BUDGET);
  });

  it('costs less for Grad-CAM alone than for every method, and the overlay entry stays out of the main one', async () => {
    const all = await bundle(`export * from './src/index.ts';`);
    const gradcam = await bundle(`export { createGpuContext, loadModel, gradCam, preprocessImage, PRESETS } from './src/index.ts';`);
    console.log(`Grad-CAM only: ${(gradcam.minified / 1000).toFixed(1)} KB minified, ${(gradcam.gzip / 1000).toFixed(1)} KB gzipped`);
    expect(gradcam.gzip).toBeLessThan(all.gzip * 0.9);
    for (const m of ['src/xai/sise.ts', 'src/xai/lime.ts', 'src/xai/rise.ts', 'src/xai/iassa.ts']) expect(gradcam.inputs).not.toContain(m);
    expect(all.inputs).not.toContain('src/render.ts');
    const withOverlay = await bundle(`export * from './src/index.ts'; export { overlay } from './src/render.ts';`);
    expect(withOverlay.gzip).toBeGreaterThan(all.gzip);
  });
});
