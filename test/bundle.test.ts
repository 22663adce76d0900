import { describe, expect, it } from 'vitest';
import { build } from 'esbuild';

describe('browser bundle', () => {
  it('bundles the core for the browser with no Node built-ins', async () => {
    const r = await build({
      entryPoints: ['src/index.ts'], bundle: true, platform: 'browser', format: 'esm', write: false,
      logLevel: 'silent', metafile: true,
    });
    expect(r.errors).toHaveLength(0);
    const inputs = Object.keys(r.metafile!.inputs);
    expect(inputs.some((p) => p.includes('src/runtime/model.ts'))).toBe(true);
    expect(inputs.filter((p) => p.startsWith('node:') || p.includes('webgpu/index.js'))).toEqual([]);
    expect(r.outputFiles[0]!.text.length).toBeGreaterThan(10_000);
  });
});
