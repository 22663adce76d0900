/**
 * Times the forward Conv kernel variants on the ResNet-50 conv geometries (bias + fused Relu), one
 * op at a time: R programs encoded back to back in one compute pass, wall time per program, median
 * of 5 submissions. Prints one JSON line per (geometry, batch, variant).
 *   TUNE_BATCHES=1,8,32 TUNE_LAYERS='3x3' TUNE_VARIANTS='["auto", {"kind":"tiled"}]' node conv-tune.mjs
 * TUNE_LAYERS: a regular expression over the layer names (default: all).
 * TUNE_VARIANTS unset: exactly what the load-time tuner would time, `convOp.tune.candidates` for
 * this adapter (the static choice first); TUNE_F16=1 includes the shader-f16 candidates.
 */
import { createNodeGpu } from '../src/node.js';
import { convOp, convOpWith, chooseConvVariant, convGeometry, type ConvVariant } from '../src/kernels/conv.js';
import { describeConvVariant } from '../src/kernels/conv-tune.js';
import type { TensorArg } from '../src/kernels/types.js';
import type { GraphNode } from '../src/runtime/graph.js';
import { PipelineCache } from '../src/runtime/pipeline-cache.js';
import { makeBuildContext } from '../src/runtime/build-context.js';
import { bindProgram, encodeDispatches, type BufferRange } from '../src/runtime/bind.js';
import { throwIfDeviceFailed } from '../src/runtime/device.js';
import { hostTensor } from '../src/runtime/tensor.js';

/** [name, C, M, H (input), k, stride, occurrences in ResNet-50]. */
const LAYERS: [string, number, number, number, number, number, number][] = [
  ['stem7x7', 3, 64, 224, 7, 2, 1],
  ['l1.1x1.64-64', 64, 64, 56, 1, 1, 1], ['l1.1x1.256-64', 256, 64, 56, 1, 1, 2], ['l1.3x3.64', 64, 64, 56, 3, 1, 3], ['l1.1x1.64-256', 64, 256, 56, 1, 1, 4],
  ['l2.1x1.256-128', 256, 128, 56, 1, 1, 1], ['l2.3x3.128s2', 128, 128, 56, 3, 2, 1], ['l2.1x1.128-512', 128, 512, 28, 1, 1, 4], ['l2.ds.256-512s2', 256, 512, 56, 1, 2, 1],
  ['l2.1x1.512-128', 512, 128, 28, 1, 1, 3], ['l2.3x3.128', 128, 128, 28, 3, 1, 3],
  ['l3.1x1.512-256', 512, 256, 28, 1, 1, 1], ['l3.3x3.256s2', 256, 256, 28, 3, 2, 1], ['l3.1x1.256-1024', 256, 1024, 14, 1, 1, 6], ['l3.ds.512-1024s2', 512, 1024, 28, 1, 2, 1],
  ['l3.1x1.1024-256', 1024, 256, 14, 1, 1, 5], ['l3.3x3.256', 256, 256, 14, 3, 1, 5],
  ['l4.1x1.1024-512', 1024, 512, 14, 1, 1, 1], ['l4.3x3.512s2', 512, 512, 14, 3, 2, 1], ['l4.1x1.512-2048', 512, 2048, 7, 1, 1, 3], ['l4.ds.1024-2048s2', 1024, 2048, 14, 1, 2, 1],
  ['l4.1x1.2048-512', 2048, 512, 7, 1, 1, 2], ['l4.3x3.512', 512, 512, 7, 3, 1, 2],
];

async function main(): Promise<void> {
  const gpu = await createNodeGpu();
  const { device } = gpu;
  console.log(JSON.stringify({ adapter: gpu.adapterName, traits: gpu.traits }));
  const batches = (process.env.TUNE_BATCHES ?? '1,8,32').split(',').map(Number);
  const given = process.env.TUNE_VARIANTS ? (JSON.parse(process.env.TUNE_VARIANTS) as (ConvVariant | 'auto')[]) : undefined;
  const cache = new PipelineCache(device);
  let seed = 1;
  const rand = (n: number) => Float32Array.from({ length: n }, () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 - 0.5; });
  for (const batch of batches) {
    for (const [name, C, M, H, k, st] of LAYERS) {
      if (process.env.TUNE_LAYERS && !new RegExp(process.env.TUNE_LAYERS).test(name)) continue;
      const pad = k >> 1;
      const node: GraphNode = { name, opType: 'Conv', domain: '', attrs: { pads: [pad, pad, pad, pad], strides: [st, st], kernel_shape: [k, k], _activation: 'Relu' }, inputs: ['x', 'w', 'b'], outputs: ['y'] };
      const xShape = [batch, C, H, H]; const wShape = [M, C, k, k];
      const args: TensorArg[] = [{ shape: xShape }, { shape: wShape, constant: hostTensor('float32', wShape, rand(M * C * k * k)) }, { shape: [M], constant: hostTensor('float32', [M], rand(M)) }];
      const geo = convGeometry(node, xShape, wShape);
      const N = batch * geo.OH * geo.OW;
      const flops = 2 * N * M * C * k * k;
      const f16 = process.env.TUNE_F16 === '1' && gpu.traits.hasF16;
      const list: (ConvVariant | 'auto')[] = given ?? (convOp.tune!.candidates(node, args, [geo.outShape], gpu.traits, { f16 }) as ConvVariant[]);
      const owned: GPUBuffer[] = [];
      const mk = (bytes: number): BufferRange => {
        const size = Math.max(16, Math.ceil(bytes / 16) * 16);
        const buffer = device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
        owned.push(buffer);
        return { buffer, offset: 0, size };
      };
      const xr = mk(batch * C * H * H * 4);
      device.queue.writeBuffer(xr.buffer, 0, rand(batch * C * H * H));
      const yr = mk(batch * M * geo.OH * geo.OW * 4);
      for (const vv of list) {
        const v = vv === 'auto' ? undefined : vv;
        const chosen = v ?? chooseConvVariant(gpu.traits, geo);
        const progOwned: GPUBuffer[] = [];
        const ctx = makeBuildContext(gpu, cache, progOwned);
        const prog = convOpWith(v).build!(node, args, [geo.outShape], ctx);
        const scratch = (prog.scratchBytes ?? []).map((b) => mk(b));
        const bound = bindProgram(device, prog, { input: () => xr, output: () => yr, scratch: (i) => scratch[i]! }, progOwned);
        const runR = async (R: number): Promise<number> => {
          const enc = device.createCommandEncoder();
          const pass = enc.beginComputePass();
          for (let r = 0; r < R; r++) encodeDispatches(pass, bound);
          pass.end();
          const t0 = performance.now();
          device.queue.submit([enc.finish()]);
          await device.queue.onSubmittedWorkDone();
          return (performance.now() - t0) / R;
        };
        await runR(2);
        const est = await runR(3);
        const R = Math.max(3, Math.min(400, Math.ceil(8 / Math.max(est, 1e-3))));
        const ts: number[] = [];
        for (let i = 0; i < 5; i++) ts.push(await runR(R));
        ts.sort((a, b) => a - b);
        const ms = ts[2]!;
        throwIfDeviceFailed(gpu);
        const label = describeConvVariant(chosen) + (vv === 'auto' || JSON.stringify(chosen) === JSON.stringify(chooseConvVariant(gpu.traits, geo)) ? ' (static)' : '');
        console.log(JSON.stringify({ batch, name, N, M, K: C * k * k, variant: label, us: Math.round(ms * 1000 * 10) / 10, gflops: Math.round(flops / ms / 1e6) }));
        for (const b of progOwned) b.destroy();
      }
      for (const b of owned) b.destroy();
    }
  }
  gpu.destroy();
}

main().catch((e: unknown) => { console.error(e); process.exit(1); });
