#!/usr/bin/env node
/**
 * `npm run build` (and `prepack`): compiles the library and the command-line tool into dist/ with
 * tsc (ES modules, .d.ts, source maps), bundles and minifies the web page into dist/web/ so the
 * installed package serves it without esbuild, and writes the CommonJS entry that explains the
 * package is ESM only. Plain Node so it runs before anything is compiled.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPage } from './build-page.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const require = createRequire(import.meta.url);

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });
chmodSync(join(dist, 'tools', 'cli.js'), 0o755);
// The generated protobuf decoder is JavaScript with its own declarations: tsc does not copy it.
mkdirSync(join(dist, 'src', 'runtime', 'onnx-pb'), { recursive: true });
for (const f of ['onnx.js', 'onnx.d.ts']) copyFileSync(join(root, 'src', 'runtime', 'onnx-pb', f), join(dist, 'src', 'runtime', 'onnx-pb', f));

// The page: one minified ES module; the HTML as it is.
await buildPage(join(dist, 'web'));

writeFileSync(join(dist, 'require.cjs'), `'use strict';
// webgpu-xai is an ES module package: require() cannot load it.
throw new Error("webgpu-xai is ESM only: use import (import { loadModel } from 'webgpu-xai/node') or, from CommonJS, await import('webgpu-xai/node'); require('webgpu-xai') is not supported");
`);
// What a browser bundler gets for 'webgpu-xai/node' (the `browser` export condition): a clear
// message at start-up instead of Dawn, node:fs and the image codecs pulled into a web bundle.
writeFileSync(join(dist, 'node-in-browser.js'), `// webgpu-xai/node needs Node (Dawn, files); browsers use the main entry.
throw new Error("webgpu-xai/node is for Node; in a browser import from 'webgpu-xai' and pass navigator.gpu to createGpuContext");
`);
console.log(`built ${dist}`);
