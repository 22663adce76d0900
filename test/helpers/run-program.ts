/** Runs a raw KernelProgram on uploaded inputs; outputs are NaN-poisoned first, then read back. */
import type { BuildContext, KernelProgram } from '../../src/kernels/types.js';
import { PipelineCache } from '../../src/runtime/pipeline-cache.js';
import { makeBuildContext } from '../../src/runtime/build-context.js';
import { bindProgram, encodeDispatches, type BufferRange } from '../../src/runtime/bind.js';
import { readFloats, writeFloats } from '../../src/runtime/readback.js';
import { throwIfDeviceFailed } from '../../src/runtime/device.js';
import { testGpu } from './gpu.js';

export async function runProgram(make: (ctx: BuildContext) => KernelProgram, inputs: readonly Float32Array[], outputFloats: readonly number[]): Promise<Float32Array[]> {
  const gpu = await testGpu();
  const owned: GPUBuffer[] = [];
  const ctx = makeBuildContext(gpu, new PipelineCache(gpu.device), owned);
  const prog = make(ctx);
  const mk = (n: number, data: Float32Array): BufferRange => {
    const size = Math.max(4, n * 4);
    const buffer = gpu.device.createBuffer({ size: Math.ceil(size / 16) * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    owned.push(buffer);
    const r = { buffer, offset: 0, size };
    writeFloats(gpu.device, r, data);
    return r;
  };
  const ins = inputs.map((d) => mk(d.length, d));
  const outs = outputFloats.map((n) => mk(n, new Float32Array(n).fill(NaN)));
  const scratch = (prog.scratchBytes ?? []).map((b) => mk(Math.ceil(b / 4), new Float32Array(Math.ceil(b / 4))));
  try {
    const bound = bindProgram(gpu.device, prog, { input: (i) => ins[i]!, output: (i) => outs[i]!, scratch: (i) => scratch[i]! }, owned);
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    encodeDispatches(pass, bound);
    pass.end();
    gpu.device.queue.submit([enc.finish()]);
    const r = await readFloats(gpu.device, outs);
    throwIfDeviceFailed(gpu);
    return r;
  } finally {
    for (const b of owned) b.destroy();
  }
}
