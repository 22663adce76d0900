/**
 * onnxruntime-web's WebGPU execution provider on the same Dawn adapter, in Node (see
 * shared/spec/platform.md): navigator shim, a kept create() result, non-shared writeBuffer copies.
 * Single-threaded wasm for the host part (workers would re-load this script). In the bundled bench
 * the wasm binary sits gzipped next to bench.mjs and is handed over as env.wasm.wasmBinary.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { dawnGpu } from '../dawn.js';
import { GraphBuilder } from '../../tools/onnx-writer.js';
import type { Peer } from '../types.js';

const WASM = 'ort-wasm-simd-threaded.asyncify.wasm';

export async function createOrtWeb(): Promise<Peer> {
  const gpu = dawnGpu();
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  const info = adapter?.info;
  const ort = await import('onnxruntime-web/webgpu');
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [join(here, `${WASM}.gz`), join(here, WASM)]) {
    if (existsSync(p)) {
      const raw = readFileSync(p);
      const bin = p.endsWith('.gz') ? gunzipSync(raw) : raw;
      ort.env.wasm.wasmBinary = new Uint8Array(bin.buffer, bin.byteOffset, bin.byteLength);
      break;
    }
  }
  // onnxruntime-web initialises once per process (wasm, the EP, its own shaders): about a minute on
  // lavapipe. A one-node session absorbs that, so model load times below are per model.
  const g = new GraphBuilder('init', 13);
  g.input('x', [1, 4]);
  g.node('Relu', ['x'], ['y']);
  g.output('y', [1, 4]);
  const t0 = performance.now();
  const tiny = await ort.InferenceSession.create(g.toBytes(), { executionProviders: ['webgpu'] });
  await tiny.run({ x: new ort.Tensor('float32', new Float32Array(4), [1, 4]) });
  await tiny.release();
  const initMs = performance.now() - t0;
  return {
    id: 'ort-web',
    initMs,
    label: `onnxruntime-web ${ort.env.versions?.web ?? ''} WebGPU EP`.replace(/\s+/g, ' '),
    device: info ? [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' ') : undefined,
    async load(model, bytes) {
      const s = await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'], graphOptimizationLevel: 'all' });
      return {
        async run(batch, input) {
          const r = await s.run({ [model.inputName]: new ort.Tensor('float32', input, [batch, ...model.chw]) });
          return Float32Array.from(r[s.outputNames[0]!]!.data as Float32Array);
        },
        async dispose() { await s.release(); },
      };
    },
    async close() {
      try {
        const d = await (ort.env.webgpu as unknown as { device?: GPUDevice | Promise<GPUDevice> }).device;
        d?.destroy();
      } catch { /* not created */ }
    },
  };
}
