/**
 * The adapter's fp32 matmul ceiling with this library's own kernel: the number the benchmark
 * reports next to model throughput, so a slow model can be judged against what the device can do.
 */
import type { GpuContext } from '../runtime/device.js';
import { throwIfDeviceFailed } from '../runtime/device.js';
import type { BuildContext, KernelProgram } from './types.js';
import { PipelineCache } from '../runtime/pipeline-cache.js';
import { makeBuildContext } from '../runtime/build-context.js';
import { bindProgram, encodeDispatches, type BufferRange } from '../runtime/bind.js';
import { buildPlainMatmul, chooseMatmulVariant, type MatmulVariant } from './gemm.js';

/** The program for Y (M x N) = A (M x K, input 0) x B (K x N, constant, deterministic values). */
export function buildMatmulProgram(ctx: BuildContext, M: number, N: number, K: number, variant?: MatmulVariant): KernelProgram {
  const b = new Float32Array(K * N);
  for (let i = 0; i < b.length; i++) b[i] = ((i * 7919) % 1000) / 1000 - 0.5;
  return buildPlainMatmul(ctx, M, N, K, b, variant);
}

export interface MatmulBenchResult {
  M: number; N: number; K: number;
  variant: MatmulVariant;
  /** Median time of one dispatch, milliseconds (wall clock around submit + completion). */
  ms: number;
  gflops: number;
}

/**
 * Times `reps` runs (after one warm-up run that also compiles the shader) of an M x K by K x N
 * product and returns the median. Each run is `inner` dispatches in one submission, so the
 * per-submission overhead does not dominate small sizes.
 */
export async function measureMatmul(gpu: GpuContext, M: number, N: number, K: number, opts: { reps?: number; inner?: number; variant?: MatmulVariant } = {}): Promise<MatmulBenchResult> {
  const reps = opts.reps ?? 5; const inner = opts.inner ?? 1;
  const owned: GPUBuffer[] = [];
  const ctx = makeBuildContext(gpu, new PipelineCache(gpu.device), owned);
  const variant = opts.variant ?? chooseMatmulVariant(gpu.traits, { M, N, K, batch: 1 });
  try {
    const prog = buildMatmulProgram(ctx, M, N, K, variant);
    const mk = (floats: number, fill?: (i: number) => number): BufferRange => {
      const size = Math.ceil((floats * 4) / 16) * 16;
      const buffer = gpu.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, mappedAtCreation: !!fill });
      if (fill) {
        const v = new Float32Array(buffer.getMappedRange());
        for (let i = 0; i < floats; i++) v[i] = fill(i);
        buffer.unmap();
      }
      owned.push(buffer);
      return { buffer, offset: 0, size };
    };
    const a = mk(M * K, (i) => ((i * 104729) % 997) / 997 - 0.5);
    const y = mk(M * N);
    const bound = bindProgram(gpu.device, prog, { input: () => a, output: () => y, scratch: () => { throw new Error('no scratch'); } }, owned);
    const run = async (): Promise<number> => {
      const enc = gpu.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (let i = 0; i < inner; i++) encodeDispatches(pass, bound);
      pass.end();
      const t0 = performance.now();
      gpu.device.queue.submit([enc.finish()]);
      await gpu.device.queue.onSubmittedWorkDone();
      return (performance.now() - t0) / inner;
    };
    await run();
    throwIfDeviceFailed(gpu);
    const times: number[] = [];
    for (let r = 0; r < reps; r++) times.push(await run());
    times.sort((p, q) => p - q);
    const ms = times[Math.floor(times.length / 2)]!;
    return { M, N, K, variant, ms, gflops: (2 * M * N * K) / (ms * 1e6) };
  } finally {
    for (const b of owned) b.destroy();
  }
}
