/**
 * webgpu-xai itself: Model.load (kernels compiled and warmed at load), Model.run with upload and
 * readback. Two peers: 'ours' tunes (the kernel tuner times each conv/matmul geometry's variants on
 * the device, starting from whatever tuning cache the process finds: bench/run.ts points
 * WEBGPU_XAI_CACHE_DIR at an empty folder of its own, so that is a cold one), 'ours-static' runs the
 * static chooser only (`tune: false`).
 *
 * Tuning of the tuned peer: batch 1 is tuned by Model.load itself (LoadOptions.tune with the bench's
 * budget), because load builds and warms the batch-1 plan and a plan keeps the kernels it was built
 * with; its TuneReport is `model.tuneReports[0]`. Every other batch is tuned by `model.tune(batch)`
 * before that batch's first (warm-up) run, which builds its plan. Both calls get the same budget.
 * After its own timed runs the tuned peer also runs the static chooser in the same process, the two
 * interleaved, for a tuned/static ratio that process-to-process variation (30 % on lavapipe) does
 * not swamp.
 */
import { existsSync } from 'node:fs';
import { createNodeGpu } from '../../src/node.js';
import { Model } from '../../src/runtime/model.js';
import type { GpuContext } from '../../src/runtime/device.js';
import type { TuneReport } from '../../src/runtime/tuner.js';
import { measureMatmul } from '../../src/kernels/matmul-bench.js';
import type { MatmulVariant } from '../../src/kernels/gemm.js';
import { tuneSummary } from '../../tools/commands/tune.js';
import { countFlops, type FlopCount } from '../flops.js';
import type { ModelSpec, Peer, PeerSession, TuneInfo } from '../types.js';

export interface OursPeer extends Peer {
  gpu: GpuContext;
  /** Where the tuned peer's choices persist (the tuner's store), for the report. */
  tuningStore?: string;
  flops(model: ModelSpec, bytes: Uint8Array): Promise<FlopCount>;
  ceiling(quick: boolean): Promise<{ M: number; N: number; K: number; variant: string; ms: number; gflops: number }[]>;
}

/** The bench's summary of one tuning call (speed-up weighted by nodes, as tuneSummary computes it). */
export function tuneInfo(r: TuneReport): TuneInfo {
  const measured = r.geometries.filter((g) => g.staticMs > 0 && g.ms > 0);
  const staticLayerMs = measured.reduce((s, g) => s + g.staticMs * g.nodes.length, 0);
  const tunedLayerMs = measured.reduce((s, g) => s + g.ms * g.nodes.length, 0);
  return {
    ms: r.ms, budgetMs: r.budgetMs, timer: r.timer,
    geometries: r.geometries.length, timed: r.timed, fromCache: r.fromCache, unfinished: r.unfinished,
    single: r.geometries.filter((g) => g.source === 'single').length,
    rejected: r.geometries.reduce((s, g) => s + g.rejected.length, 0),
    changed: r.geometries.filter((g) => g.choice !== g.staticChoice).length,
    nodes: r.geometries.reduce((s, g) => s + g.nodes.length, 0),
    staticLayerMs, tunedLayerMs, speedup: measured.length ? staticLayerMs / tunedLayerMs : NaN,
    summary: tuneSummary(r),
    detail: r.geometries.map((g) => ({
      key: g.key, op: g.opType, nodes: g.nodes.length, source: g.source, staticChoice: g.staticChoice, choice: g.choice,
      staticMs: g.staticMs, ms: g.ms, candidates: g.candidates, timed: g.timed, rejected: g.rejected.map((x) => `${x.variant}: ${x.reason}`),
    })),
  };
}

/** `tuned`: the kernel tuner with `tuneBudgetMs` per model and batch; else the static chooser only. */
export async function createOurs(tuned = true, tuneBudgetMs = 600_000): Promise<OursPeer> {
  // The static peer never reads or writes choices; the tuned one keeps them where the environment says.
  const gpu = await createNodeGpu(tuned ? {} : { tuningStore: null });
  const store = gpu.tuningStore?.where;
  if (tuned && store && existsSync(store)) {
    gpu.destroy();
    throw new Error(`the tuning cache ${store} exists: tuning would not be measured cold (run through bench/run.ts, which gives each run an empty one)`);
  }
  const peer: OursPeer = {
    id: tuned ? 'ours' : 'ours-static',
    label: tuned ? `webgpu-xai, tuned (kernel tuner from an empty cache, budget ${(tuneBudgetMs / 1000).toFixed(0)} s per model and batch)` : 'webgpu-xai, static chooser (tune: false)',
    device: gpu.adapterName,
    ...(tuned ? { tuningStore: store ?? 'memory only' } : {}),
    gpu,
    async load(model, bytes): Promise<PeerSession> {
      const m = await Model.load(bytes, { gpu, tune: tuned ? { budgetMs: tuneBudgetMs } : false });
      const atLoad = m.tuneReports[0];
      const tunedBatches = new Set(tuned ? [1] : []);
      let fixed: Model | undefined;
      const runOn = async (mm: Model, batch: number, input: Float32Array) =>
        mm.run({ [model.inputName]: { dtype: 'float32', shape: [batch, ...model.chw], data: input } });
      return {
        ...(atLoad ? { loadTune: tuneInfo(atLoad) } : {}),
        async run(batch, input) {
          const { outputs } = await runOn(m, batch, input);
          return Float32Array.from(Object.values(outputs)[0]!.data);
        },
        ...(tuned ? {
          async tune(batch: number): Promise<TuneInfo | undefined> {
            if (tunedBatches.has(batch)) return undefined;
            tunedBatches.add(batch);
            return tuneInfo(await m.tune(batch, { budgetMs: tuneBudgetMs }));
          },
          async interleavedStatic(batch: number, input: Float32Array, pairs: number) {
            fixed ??= await Model.load(bytes, { gpu, tune: false });
            await runOn(fixed, batch, input); // its warm-up at this batch (builds the plan)
            const tunedMs: number[] = [], staticMs: number[] = [];
            for (let i = 0; i < pairs; i++) {
              for (const first of i % 2 ? [false, true] : [true, false]) {
                const t = performance.now();
                await runOn(first ? m : fixed, batch, input);
                (first ? tunedMs : staticMs).push(performance.now() - t);
              }
            }
            return { tunedMs, staticMs };
          },
        } : {}),
        async dispose() { m.destroy(); fixed?.destroy(); },
      };
    },
    async flops(model, bytes) {
      // No tuning here: it would fill the cache before the measured load.
      const m = await Model.load(bytes, { gpu, warmup: false, tune: false });
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
