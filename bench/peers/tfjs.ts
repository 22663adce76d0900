/** TensorFlow.js with its WebGPU backend on the same Dawn adapter (navigator shim), graph translated by onnx-to-tf.ts. */
import { dawnGpu } from '../dawn.js';
import { buildTfModel } from '../onnx-to-tf.js';
import type { Peer } from '../types.js';

export async function createTfjs(): Promise<Peer> {
  const gpu = dawnGpu();
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  const info = adapter?.info;
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('tf.setBackend(webgpu) returned false');
  await tf.ready();
  return {
    id: 'tfjs',
    label: `TensorFlow.js ${tf.version_core} WebGPU backend`,
    device: info ? [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' ') : undefined,
    async load(model, bytes) {
      const m = buildTfModel(tf, bytes);
      return {
        run: (batch, input) => m.run([batch, ...model.chw], input),
        async dispose() { m.dispose(); },
      };
    },
    async close() {
      try { tf.backend().dispose(); } catch { /* already gone */ }
      try { tf.engine().reset(); } catch { /* ignore */ }
    },
  };
}
