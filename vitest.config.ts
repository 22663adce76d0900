import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Kernel-tuning choices of a test run live beside the checkout, not in the user's cache, and every
// run starts without them, as a clean clone in CI does (later test files reuse earlier choices).
const tuningCache = fileURLToPath(new URL('.cache/test-tuning', import.meta.url));
rmSync(tuningCache, { recursive: true, force: true });

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Two cores and a software GPU: files in parallel would only fight over the rasteriser.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    env: { WEBGPU_XAI_CACHE_DIR: tuningCache },
  },
});
