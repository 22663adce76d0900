/** onnxruntime-node on the CPU (all optimisations, default intra-op threads = physical cores). */
import os from 'node:os';
import type { Peer } from '../types.js';

export async function createOrtNode(): Promise<Peer> {
  const ort = await import('onnxruntime-node').catch((e: Error) => {
    throw new Error(/Cannot find (package|module)/.test(e.message) ? 'onnxruntime-node is not installed here' : e.message);
  });
  const threads = os.availableParallelism?.() ?? os.cpus().length;
  return {
    id: 'ort-node',
    label: `onnxruntime-node ${ort.env.versions?.common ?? ''} CPU`.replace(/\s+/g, ' '),
    device: `CPU, ${threads} threads (${os.cpus()[0]?.model ?? 'unknown'})`,
    async load(model, bytes) {
      const s = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1 });
      return {
        async run(batch, input) {
          const r = await s.run({ [model.inputName]: new ort.Tensor('float32', input, [batch, ...model.chw]) });
          return Float32Array.from(r[s.outputNames[0]!]!.data as Float32Array);
        },
        async dispose() { await s.release(); },
      };
    },
    async close() {},
  };
}
