/**
 * Runs one op's backward kernels in isolation: forward values and the output gradient are
 * uploaded, input-gradient buffers start at a known value that is subtracted afterwards (so a
 * kernel must add, as in reverse mode), and the gradients of the
 * inputs flagged in `wants` are read back. Check them against central finite differences of a
 * float64 CPU reference of the forward op (`numericGradient`).
 */
import type { GraphNode } from '../../src/runtime/graph.js';
import type { HostTensor } from '../../src/runtime/tensor.js';
import { sizeOf } from '../../src/runtime/tensor.js';
import type { OpDef, TensorArg } from '../../src/kernels/types.js';
import { PipelineCache } from '../../src/runtime/pipeline-cache.js';
import { makeBuildContext } from '../../src/runtime/build-context.js';
import { bindProgram, encodeDispatches, type BufferRange } from '../../src/runtime/bind.js';
import { readFloats, writeFloats } from '../../src/runtime/readback.js';
import { throwIfDeviceFailed } from '../../src/runtime/device.js';
import { runOp } from './run-op.js';
import { testGpu } from './gpu.js';

export async function runOpBackward(op: OpDef, node: GraphNode, inputs: readonly (HostTensor | undefined)[], gradOutputs: readonly Float32Array[], wants: readonly boolean[], constant: readonly boolean[] = []): Promise<(Float32Array | undefined)[]> {
  const gpu = await testGpu();
  const outputs = await runOp(op, node, inputs, constant);
  const host = new Set(op.hostInputs?.(node) ?? []);
  const args: (TensorArg | undefined)[] = inputs.map((t, i) => t && ({ shape: t.shape, constant: host.has(i) || constant[i] ? t : undefined }));
  const owned: GPUBuffer[] = [];
  const cache = new PipelineCache(gpu.device);
  const ctx = makeBuildContext(gpu, cache, owned);
  const prog = op.backward!(node, args, outputs.map((o) => [...o.shape]), ctx, wants);
  const mk = (floats: number, data?: Float32Array): BufferRange => {
    const size = Math.max(4, floats * 4);
    const buffer = gpu.device.createBuffer({ size: Math.ceil(size / 16) * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    owned.push(buffer);
    const r = { buffer, offset: 0, size };
    if (data) writeFloats(gpu.device, r, data);
    return r;
  };
  const fIn = inputs.map((t, i) => (t && !host.has(i) ? mk(t.data.length, Float32Array.from(t.data)) : undefined));
  const fOut = outputs.map((o) => mk(o.data.length, Float32Array.from(o.data)));
  const gOut = gradOutputs.map((g) => mk(g.length, g));
  // Gradient buffers start at a known non-zero value: a kernel that overwrites instead of adding
  // (reverse mode sums several consumers' contributions) then fails the comparison.
  const PRIOR = 0.25;
  const gIn = inputs.map((t, i) => (t && wants[i] ? mk(sizeOf(t.shape), new Float32Array(sizeOf(t.shape)).fill(PRIOR)) : undefined));
  const scratch = (prog.scratchBytes ?? []).map((b) => mk(Math.ceil(b / 4)));
  try {
    const bound = bindProgram(gpu.device, prog, {
      input: (i) => fIn[i] ?? (() => { throw new Error(`input ${i} not on GPU`); })(),
      output: (i) => fOut[i]!,
      scratch: (i) => scratch[i]!,
      gradOutput: (i) => gOut[i]!,
      gradInput: (i) => gIn[i] ?? (() => { throw new Error(`gradient of input ${i} was not requested`); })(),
    }, owned);
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    encodeDispatches(pass, bound);
    pass.end();
    gpu.device.queue.submit([enc.finish()]);
    const wanted = gIn.filter((g): g is BufferRange => !!g);
    const read = await readFloats(gpu.device, wanted);
    throwIfDeviceFailed(gpu);
    let k = 0;
    return gIn.map((g) => (g ? read[k++]!.map((v) => v - PRIOR) : undefined));
  } finally {
    for (const b of owned) b.destroy();
  }
}

/**
 * d(Σ gradOut · f(x)) / d x_i by central differences in float64, where `f` is a CPU reference of
 * the forward op returning its (first) output.
 */
export function numericGradient(f: (x: Float64Array) => ArrayLike<number>, x: ArrayLike<number>, gradOut: ArrayLike<number>, h = 1e-3): Float64Array {
  const xs = Float64Array.from(x);
  const g = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i]!;
    xs[i] = v + h; const a = f(xs);
    xs[i] = v - h; const b = f(xs);
    xs[i] = v;
    let s = 0;
    for (let j = 0; j < gradOut.length; j++) s += gradOut[j]! * (a[j]! - b[j]!);
    g[i] = s / (2 * h);
  }
  return g;
}
