/**
 * Runs one kernel on the GPU in isolation, for kernel reference tests: shapes from the op's own
 * rules, inputs uploaded, outputs poisoned with NaN before the run so unwritten elements show.
 */
import type { GraphNode, AttrValue } from '../../src/runtime/graph.js';
import type { HostTensor } from '../../src/runtime/tensor.js';
import { sizeOf } from '../../src/runtime/tensor.js';
import type { OpDef, TensorArg } from '../../src/kernels/types.js';
import { PipelineCache } from '../../src/runtime/pipeline-cache.js';
import { makeBuildContext } from '../../src/runtime/build-context.js';
import { bindProgram, encodeDispatches, type BufferRange } from '../../src/runtime/bind.js';
import { readFloats, writeFloats } from '../../src/runtime/readback.js';
import { throwIfDeviceFailed } from '../../src/runtime/device.js';
import { testGpu } from './gpu.js';

export function makeNode(opType: string, attrs: Record<string, AttrValue> = {}, nIn = 1, nOut = 1): GraphNode {
  return {
    name: `${opType}_test`, opType, domain: '', attrs,
    inputs: Array.from({ length: nIn }, (_, i) => `in${i}`),
    outputs: Array.from({ length: nOut }, (_, i) => `out${i}`),
  };
}

/**
 * `inputs[i]` undefined = omitted optional input. Inputs listed by `op.hostInputs` are passed as
 * constants; others are uploaded (and also passed as constants when `constant[i]` is true).
 */
export async function runOp(op: OpDef, node: GraphNode, inputs: readonly (HostTensor | undefined)[], constant: readonly boolean[] = []): Promise<HostTensor[]> {
  const gpu = await testGpu();
  const host = new Set(op.hostInputs?.(node) ?? []);
  const args: (TensorArg | undefined)[] = inputs.map((t, i) => t && ({ shape: t.shape, constant: host.has(i) || constant[i] ? t : undefined }));
  const outShapes = op.inferShapes(node, args);
  if (op.alias) {
    const src = inputs[0]!;
    return [{ dtype: src.dtype, shape: outShapes[0]!, data: src.data.slice() }];
  }
  const owned: GPUBuffer[] = [];
  const cache = new PipelineCache(gpu.device);
  const ctx = makeBuildContext(gpu, cache, owned);
  const prog = op.build!(node, args, outShapes, ctx);
  const mk = (floats: number): BufferRange => {
    const size = Math.max(4, floats * 4);
    const buffer = gpu.device.createBuffer({ size: Math.ceil(size / 16) * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    owned.push(buffer);
    return { buffer, offset: 0, size };
  };
  const inRanges = inputs.map((t, i) => {
    if (!t || host.has(i)) return undefined;
    const r = mk(t.data.length);
    writeFloats(gpu.device, r, Float32Array.from(t.data));
    return r;
  });
  const outRanges = outShapes.map((s) => {
    const r = mk(sizeOf(s));
    writeFloats(gpu.device, r, new Float32Array(sizeOf(s)).fill(NaN));
    return r;
  });
  const scratch = (prog.scratchBytes ?? []).map((b) => mk(Math.ceil(b / 4)));
  try {
    const bound = bindProgram(gpu.device, prog, {
      input: (i) => { const r = inRanges[i]; if (!r) throw new Error(`input ${i} is not on the GPU`); return r; },
      output: (i) => outRanges[i]!,
      scratch: (i) => scratch[i]!,
    }, owned);
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    encodeDispatches(pass, bound);
    pass.end();
    gpu.device.queue.submit([enc.finish()]);
    const data = await readFloats(gpu.device, outRanges);
    throwIfDeviceFailed(gpu);
    return data.map((d, i) => ({ dtype: 'float32', shape: outShapes[i]!, data: d }));
  } finally {
    for (const b of owned) b.destroy();
  }
}
