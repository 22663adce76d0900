/** webgpu-xai itself: Model.load (kernels compiled and warmed at load), Model.run with upload and readback. */
import { createNodeGpu } from '../../src/node.js';
import { Model } from '../../src/runtime/model.js';
import type { GpuContext } from '../../src/runtime/device.js';
import { measureMatmul } from '../../src/kernels/matmul-bench.js';
import type { MatmulVariant } from '../../src/kernels/gemm.js';
import { countFlops, type FlopCount } from '../flops.js';
import type { ModelSpec, Peer, PeerSession } from '../types.js';

export interface OursPeer extends Peer {
  gpu: GpuContext;
  flops(model: ModelSpec, bytes: Uint8Array): Promise<FlopCount>;
  ceiling(quick: boolean): Promise<{ M: number; N: number; K: number; variant: string; ms: number; gflops: number }[]>;
}

export async function createOurs(): Promise<OursPeer> {
  const gpu = await createNodeGpu();
  const peer: OursPeer = {
    id: 'ours',
    label: 'webgpu-xai',
    device: gpu.adapterName,
    gpu,
    async load(model, bytes): Promise<PeerSession> {
      const m = await Model.load(bytes, { gpu });
      return {
        async run(batch, input) {
          const { outputs } = await m.run({ [model.inputName]: { dtype: 'float32', shape: [batch, ...model.chw], data: input } });
          return Float32Array.from(Object.values(outputs)[0]!.data);
        },
        async dispose() { m.destroy(); },
      };
    },
    async flops(model, bytes) {
      const m = await Model.load(bytes, { gpu, warmup: false });
      try {
        return countFlops(m.specialize(m.inputShapes(1), new Set(), false));
      } finally { m.destroy(); }
    },
    async ceiling(quick) {
      // The chooser's pick plus the register-blocked and shared-memory tilings: the best is the ceiling.
      const variants: (MatmulVariant | undefined)[] = [undefined, { variant: 'reg', rows: 8, cols4: 2 }, { variant: 'reg', rows: 4, cols4: 2 }, { variant: 'tiled', rows: 4, cols4: 1 }];
      const sizes = quick ? [1024] : [1024, 2048];
      const out = [];
      const seen = new Set<string>();
      for (const n of sizes) {
        for (const v of variants) {
          try {
            // A first measurement sizes the number of dispatches per submission (about 0.3 s each).
            const probe = await measureMatmul(gpu, n, n, n, { reps: 1, inner: 1, variant: v });
            const key = `${n}:${JSON.stringify(probe.variant)}`;
            if (seen.has(key)) continue;
            seen.add(key);
            const inner = Math.max(1, Math.min(200, Math.ceil(300 / Math.max(probe.ms, 0.01))));
            const r = await measureMatmul(gpu, n, n, n, { reps: quick ? 3 : 5, inner, variant: probe.variant });
            out.push({ M: n, N: n, K: n, variant: `${r.variant.variant} ${r.variant.rows}x${r.variant.cols4 * 4}`, ms: r.ms, gflops: r.gflops });
          } catch (e) {
            out.push({ M: n, N: n, K: n, variant: `${JSON.stringify(v)} failed: ${(e as Error).message}`, ms: NaN, gflops: NaN });
          }
        }
        // On a slow adapter 2048^3 takes seconds per run: stop at 1024 when that is already slow.
        if (out.every((r) => !(r.gflops > 50))) break;
      }
      return out;
    },
    async close() { gpu.destroy(); },
  };
  return peer;
}
