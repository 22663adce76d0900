/**
 * The kernel tuner. For every node of a specialised graph whose kernel family declares a
 * `tune` spec, it times each candidate variant of the node's geometry on this device (the very
 * program a plan would run, on random inputs), checks that its output agrees with the static
 * choice's, and records the fastest (the static choice unless another saves at least 5 % of its
 * time) per adapter and geometry in a {@link TuningCache}. Plans then
 * build with those choices through `BuildContext.variant`. Work is bounded by a wall-time budget;
 * geometries it could not finish keep the static chooser's pick (or the best timed so far) and are
 * taken up again by the next call.
 */
import type { GraphNode } from './graph.js';
import type { SpecializedGraph, SpecNode } from './specialize.js';
import type { GpuContext } from './device.js';
import { throwIfDeviceFailed } from './device.js';
import type { BuildContext, KernelProgram, TuneSpec } from '../kernels/types.js';
import { bindProgram, encodeDispatches, type BoundDispatch, type BufferRange } from './bind.js';
import { readFloats, writeFloats } from './readback.js';
import { TuningCache, type TunedChoice, type TuningStore } from './tuning-cache.js';
import { sizeOf } from './tensor.js';

/** How a tuning call runs (`LoadOptions.tune`, `Model.tune`). */
export interface TuneOptions {
  /**
   * Wall-time budget of one tuning call in ms: pipeline compilation, timing and checks together
   * (default 5000). A call may overrun it by one candidate. 0: use cached choices, time nothing.
   */
  budgetMs?: number;
  /**
   * Offer shader-f16 candidates where the adapter has the feature (default false): the tuner may
   * then pick kernels that multiply in half precision, which moves conv outputs by about 1e-3 of
   * their scale (see the conv kernels' doc comments). Choices are cached separately per precision.
   */
  f16?: boolean;
  /** Time geometries again even when the cache has them (the CLI's `tune --force`). */
  force?: boolean;
  /**
   * Check the choices on the whole forward pass (default true): when a call times choices that
   * differ from the static chooser's, `Model.tune` runs the pass at its shapes with them and with
   * the static choices, interleaved, and keeps them only when the pass is faster (see
   * TuneReport.wholePass). A layer timed alone does not always predict the layer inside a pass.
   */
  verify?: boolean;
  /** Called after each geometry. */
  onProgress?: (p: TuneProgress) => void;
}

/** Progress of a tuning call: geometries done of the total, and the one being timed. */
export interface TuneProgress { done: number; total: number; key: string; op: string }

/** What happened to one geometry in a tuning call. */
export interface TunedGeometry {
  /** The family's geometry key (without the precision prefix). */
  key: string;
  opType: string;
  /** Nodes of the graph that share this geometry (and so this choice). */
  nodes: string[];
  /** timed: measured now; cache: a stored choice; budget: not reached in time (static choice, or the best timed so far when `timed` > 0); single: only one candidate. */
  source: 'timed' | 'cache' | 'budget' | 'single';
  /** The variant plans will build, and the static chooser's. */
  choice: string;
  staticChoice: string;
  /** GPU ms per run of the choice and of the static choice (NaN where not measured). */
  ms: number;
  staticMs: number;
  candidates: number;
  timed: number;
  /** Candidates rejected because they failed to build or run, or disagreed with the static choice. */
  rejected: { variant: string; reason: string }[];
}

/** What one tuning call did: each geometry timed, found in the cache or left to the static choice. */
export interface TuneReport {
  adapter: string;
  /** How candidates were timed. */
  timer: 'timestamp-query' | 'host-timer';
  precision: 'f32' | 'f16';
  geometries: TunedGeometry[];
  /** Counts by source. */
  timed: number;
  fromCache: number;
  unfinished: number;
  /** Wall time of the call, ms. */
  ms: number;
  budgetMs: number;
  /** Where choices persist ("memory" when nowhere), and why that failed if it did. */
  store: string;
  storeError?: string;
  /**
   * The whole-pass check of this call's new choices (TuneOptions.verify): median ms of the forward
   * pass with the static and with the tuned choices over `pairs` interleaved runs, and whether the
   * tuned ones were kept. Absent when nothing new differed from the static choice, or the check
   * could not run (`skipped` says why).
   */
  wholePass?: { staticMs: number; tunedMs: number; pairs: number; kept: boolean } | { skipped: string };
}

/** Builds a BuildContext whose `variant` answers with `choose`; buffers it makes go to `owned`. */
export type TuningContextFactory = (owned: GPUBuffer[], choose: (key: string) => unknown) => BuildContext;

const DEFAULT_BUDGET_MS = 5000;
/** Repetitions per timed sample are chosen so a sample lasts about this long. */
const SAMPLE_MS = 3;
const SAMPLES = 3;
/** Fraction of the static choice's time another variant must save to replace it. */
const MIN_GAIN = 0.05;

const caches = new WeakMap<GPUDevice, TuningCache>();

/** The choices of every model on this device (loaded from the context's store once). */
export function tuningCacheFor(gpu: GpuContext): TuningCache {
  let c = caches.get(gpu.device);
  if (!c) { c = new TuningCache(gpu.adapterKey, gpu.adapterName, gpu.tuningStore); caches.set(gpu.device, c); }
  return c;
}

/** Cache key of a geometry under a precision. */
export function precisionKey(key: string, f16: boolean): string {
  return `${f16 ? 'f16' : 'f32'}|${key}`;
}

/**
 * The variant plans should build for `key`, or undefined for the static chooser: only choices
 * this process validated against the current candidate lists are used, so a stale cache entry
 * (an older release, another candidate set) can never reach a kernel builder.
 */
export function tunedVariant(cache: TuningCache, key: string, f16: boolean): unknown {
  const k = precisionKey(key, f16);
  return validated.get(cache)?.has(k) ? cache.get(k)?.variant : undefined;
}
const validated = new WeakMap<TuningCache, Set<string>>();
function markValid(cache: TuningCache, k: string): void {
  let s = validated.get(cache);
  if (!s) { s = new Set(); validated.set(cache, s); }
  s.add(k);
}

interface Geometry { key: string; spec: TuneSpec; nodes: SpecNode[]; candidates: unknown[] }

/** The tunable geometries of a graph, in first-use order, nodes with one key grouped. */
export function tunableGeometries(g: SpecializedGraph, gpu: GpuContext, f16: boolean): Geometry[] {
  const byKey = new Map<string, Geometry>();
  for (const s of g.nodes) {
    const spec = s.op.tune;
    if (!spec || s.op.alias || !s.op.build) continue;
    const key = spec.key(s.node, s.inputs, s.outShapes, gpu.traits);
    if (key === undefined) continue;
    const hit = byKey.get(key);
    if (hit) { hit.nodes.push(s); continue; }
    const candidates = spec.candidates(s.node, s.inputs, s.outShapes, gpu.traits, { f16: f16 && gpu.traits.hasF16 });
    byKey.set(key, { key, spec, nodes: [s], candidates });
  }
  return [...byKey.values()];
}

/**
 * Tunes every tunable geometry of `g` that the cache lacks (all of them with `force`), within the
 * budget, and returns what each geometry will run.
 */
export async function tuneGraph(gpu: GpuContext, g: SpecializedGraph, makeCtx: TuningContextFactory, opts: TuneOptions = {}): Promise<TuneReport> {
  const t0 = performance.now();
  const budgetMs = opts.budgetMs ?? DEFAULT_BUDGET_MS;
  const deadline = t0 + budgetMs;
  const f16 = opts.f16 === true && gpu.traits.hasF16;
  const cache = tuningCacheFor(gpu);
  await cache.ready();
  const geos = tunableGeometries(g, gpu, f16);
  const timer = new Timer(gpu);
  const out: TunedGeometry[] = [];
  try {
    for (const [i, geo] of geos.entries()) {
      const k = precisionKey(geo.key, f16);
      const texts = geo.candidates.map((c) => JSON.stringify(c));
      const names = geo.candidates.map((c) => geo.spec.describe(c));
      const base = { key: geo.key, opType: geo.nodes[0]!.node.opType, nodes: geo.nodes.map((s) => s.node.name), staticChoice: names[0] ?? 'static', candidates: geo.candidates.length, rejected: [] as TunedGeometry['rejected'] };
      const stored = cache.get(k);
      const storedIdx = stored ? texts.indexOf(JSON.stringify(stored.variant)) : -1;
      if (stored && storedIdx < 0) cache.delete(k);
      if (geo.candidates.length < 2) {
        out.push({ ...base, source: 'single', choice: names[0] ?? 'static', ms: NaN, staticMs: NaN, timed: 0 });
      } else if (stored && storedIdx >= 0 && !opts.force && (stored.complete || performance.now() >= deadline)) {
        markValid(cache, k);
        out.push({ ...base, source: stored.complete ? 'cache' : 'budget', choice: stored.label, ms: stored.ms, staticMs: stored.staticMs, timed: stored.timed });
      } else if (performance.now() >= deadline) {
        out.push({ ...base, source: 'budget', choice: names[0]!, ms: NaN, staticMs: NaN, timed: 0 });
      } else {
        const r = await timeGeometry(gpu, geo, makeCtx, timer, deadline, f16);
        const complete = r.timed + r.rejected.length === geo.candidates.length;
        const best = r.best;
        if (best !== undefined) {
          const choice: TunedChoice = {
            variant: geo.candidates[best], label: names[best]!, ms: r.ms[best]!, staticLabel: names[0]!, staticMs: r.ms[0] ?? NaN,
            candidates: geo.candidates.length, timed: r.timed, complete, at: Date.now(),
          };
          cache.set(k, choice, complete);
          markValid(cache, k);
        }
        out.push({
          ...base, source: complete ? 'timed' : 'budget', choice: best !== undefined ? names[best]! : names[0]!,
          ms: best !== undefined ? r.ms[best]! : NaN, staticMs: r.ms[0] ?? NaN, timed: r.timed,
          rejected: r.rejected.map((j) => ({ variant: names[j.index]!, reason: j.reason })),
        });
      }
      opts.onProgress?.({ done: i + 1, total: geos.length, key: geo.key, op: base.opType });
    }
  } finally {
    timer.destroy();
  }
  await cache.flush();
  throwIfDeviceFailed(gpu);
  return {
    adapter: gpu.adapterName, timer: gpu.hasTimestamps ? 'timestamp-query' : 'host-timer', precision: f16 ? 'f16' : 'f32',
    geometries: out,
    timed: out.filter((x) => x.source === 'timed').length,
    fromCache: out.filter((x) => x.source === 'cache').length,
    unfinished: out.filter((x) => x.source === 'budget').length,
    ms: performance.now() - t0, budgetMs,
    store: cache.store?.where ?? 'memory',
    ...(cache.storeError ? { storeError: cache.storeError } : {}),
  };
}

/**
 * Sets the cached choices of these geometries of `g` (keys as in TunedGeometry.key) back to the
 * static chooser's pick, as complete entries, so later calls do not time them again.
 */
export async function revertToStatic(gpu: GpuContext, g: SpecializedGraph, keys: ReadonlySet<string>, f16Option: boolean): Promise<void> {
  const f16 = f16Option && gpu.traits.hasF16;
  const cache = tuningCacheFor(gpu);
  for (const geo of tunableGeometries(g, gpu, f16)) {
    const k = precisionKey(geo.key, f16);
    const old = cache.get(k);
    if (!keys.has(geo.key) || !old || geo.candidates.length === 0) continue;
    cache.set(k, { ...old, variant: geo.candidates[0], label: old.staticLabel, ms: old.staticMs, complete: true, at: Date.now() }, true);
  }
  await cache.flush();
}

interface GeometryTiming {
  /** ms per run by candidate index (undefined: not timed). */
  ms: (number | undefined)[];
  best?: number;
  timed: number;
  rejected: { index: number; reason: string }[];
}

/** Times the candidates of one geometry in order until done or past the deadline. */
async function timeGeometry(gpu: GpuContext, geo: Geometry, makeCtx: TuningContextFactory, timer: Timer, deadline: number, f16: boolean): Promise<GeometryTiming> {
  const { device } = gpu;
  const s = geo.nodes[0]!;
  const host = new Set(s.op.hostInputs?.(s.node) ?? []);
  const io: GPUBuffer[] = [];
  const mk = (floats: number): BufferRange => {
    const size = Math.max(16, Math.ceil((floats * 4) / 16) * 16);
    const buffer = device.createBuffer({ label: `tune ${geo.key}`, size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    io.push(buffer);
    return { buffer, offset: 0, size: Math.max(4, floats * 4) };
  };
  const res: GeometryTiming = { ms: [], timed: 0, rejected: [] };
  try {
    const inputs = s.inputs.map((t, i) => {
      if (!t || host.has(i)) return undefined;
      const r = mk(sizeOf(t.shape));
      writeFloats(device, r, randomFloats(sizeOf(t.shape), i + 1));
      return r;
    });
    const outputs = s.outShapes.map((shape) => mk(sizeOf(shape)));
    let reference: Float32Array | undefined;
    for (let c = 0; c < geo.candidates.length; c++) {
      if (c > 0 && performance.now() >= deadline) break;
      const owned: GPUBuffer[] = [];
      try {
        for (const o of outputs) writeFloats(device, o, new Float32Array(o.size / 4).fill(NaN));
        device.pushErrorScope('out-of-memory');
        device.pushErrorScope('validation');
        let bound: BoundDispatch[] | undefined;
        let failure: string | undefined;
        try {
          const candidate = geo.candidates[c];
          const prog: KernelProgram = s.op.build!(timedNode(s.node), s.inputs, s.outShapes, makeCtx(owned, (k) => (k === geo.key ? candidate : undefined)));
          const scratch = (prog.scratchBytes ?? []).map((b) => {
            const buffer = device.createBuffer({ label: 'tune scratch', size: Math.max(16, Math.ceil(b / 16) * 16), usage: GPUBufferUsage.STORAGE });
            owned.push(buffer);
            return { buffer, offset: 0, size: Math.max(16, Math.ceil(b / 16) * 16) };
          });
          bound = bindProgram(device, prog, {
            input: (k) => inputs[k] ?? fail(`input ${k} is not a GPU tensor`),
            output: (k) => outputs[k] ?? fail(`output ${k} does not exist`),
            scratch: (k) => scratch[k]!,
          }, owned);
          // The first run compiles the pipelines (drivers compile at the first dispatch).
          await timer.wall(bound, 1);
        } catch (e) {
          failure = (e as Error).message;
        }
        const v = await device.popErrorScope();
        const m = await device.popErrorScope();
        if (v ?? m) failure = (v ?? m)!.message;
        if (gpu.lost) throw gpu.lost;
        if (failure !== undefined || !bound) { res.rejected.push({ index: c, reason: failure ?? 'did not build' }); continue; }
        const [got] = await readFloats(device, [outputs[0]!]);
        const bad = disagreement(got!, reference, f16);
        if (bad) { res.rejected.push({ index: c, reason: bad }); continue; }
        reference ??= got;
        const best = res.best === undefined ? Infinity : res.ms[res.best]!;
        const first = await timer.gpuTime(bound, 1);
        let ms = first;
        // A candidate already 3x slower than the best on one run will not win: spare its samples.
        if (first < 3 * best) {
          const reps = Math.max(1, Math.min(100, Math.round(SAMPLE_MS / Math.max(first, 1e-3))));
          const samples: number[] = [];
          for (let i = 0; i < SAMPLES; i++) samples.push(await timer.gpuTime(bound, reps));
          samples.sort((a, b) => a - b);
          ms = samples[SAMPLES >> 1]!;
        }
        res.ms[c] = ms;
        res.timed++;
        if (ms < best) res.best = c;
      } finally {
        for (const b of owned) b.destroy();
      }
    }
  } finally {
    for (const b of io) b.destroy();
  }
  res.best = pickVariant(res.ms);
  return res;
}

/**
 * The candidate to keep, from ms per run by candidate index (index 0 the static choice; undefined
 * where not timed): the fastest, unless the static choice was timed and the fastest saves less
 * than 5 % of its time. A layer timed alone on random inputs differs from the same layer inside a
 * pass (caches, neighbours), and a few per cent is within that noise on a shared machine.
 */
export function pickVariant(ms: readonly (number | undefined)[]): number | undefined {
  let best: number | undefined;
  ms.forEach((t, i) => { if (t !== undefined && (best === undefined || t < ms[best]!)) best = i; });
  const staticMs = ms[0];
  if (best !== undefined && staticMs !== undefined && ms[best]! > staticMs * (1 - MIN_GAIN)) return 0;
  return best;
}

function fail(msg: string): never { throw new Error(msg); }

/**
 * The node as timed: without a fused quantisation (fuse.ts `_fakequant`), whose rounding to levels
 * would turn float-rounding differences between candidates into whole-level ones and get sound
 * candidates rejected; it costs a few operations per output either way.
 */
function timedNode(n: GraphNode): GraphNode {
  if (!('_fakequant' in n.attrs)) return n;
  const { _fakequant: _, ...attrs } = n.attrs;
  return { ...n, attrs };
}

/**
 * Why a candidate's output is unacceptable next to the reference (the first candidate that ran,
 * normally the static choice), or undefined. The tolerance is loose on purpose: this guards
 * against a variant that miscompiles on some driver (garbage, unwritten NaN elements), while the
 * kernel tests pin accuracy down against float64 references.
 */
export function disagreement(got: Float32Array, ref: Float32Array | undefined, f16: boolean): string | undefined {
  let scale = 0;
  for (let i = 0; i < got.length; i++) {
    if (!Number.isFinite(got[i]!)) return `element ${i} is ${got[i]} (unwritten or overflowed)`;
    if (ref) scale = Math.max(scale, Math.abs(ref[i]!));
  }
  if (!ref) return undefined;
  const tol = (f16 ? 2e-2 : 1e-3) * Math.max(scale, 1e-6);
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i]! - ref[i]!);
    if (!(d <= tol)) return `element ${i} differs from the static choice by ${d.toPrecision(3)} (scale ${scale.toPrecision(3)})`;
  }
  return undefined;
}

/** Deterministic values in [-1, 1): timing must not depend on data, but zeros could. */
function randomFloats(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

/** GPU time of a program repeated in one compute pass: timestamp queries, or wall time without. */
class Timer {
  private query?: { set: GPUQuerySet; resolve: GPUBuffer; read: GPUBuffer };
  constructor(private readonly ctx: GpuContext) {
    const { device } = ctx;
    if (ctx.hasTimestamps) {
      this.query = {
        set: device.createQuerySet({ type: 'timestamp', count: 2 }),
        resolve: device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }),
        read: device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
      };
    }
  }

  /** ms per repetition, measured on the host around submission and completion. */
  async wall(bound: readonly BoundDispatch[], reps: number): Promise<number> {
    const { device } = this.ctx;
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass({ label: 'tune' });
    for (let r = 0; r < reps; r++) encodeDispatches(pass, bound);
    pass.end();
    const t = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    return (performance.now() - t) / reps;
  }

  /** ms per repetition of GPU time (timestamp queries around one pass), or wall time without them. */
  async gpuTime(bound: readonly BoundDispatch[], reps: number): Promise<number> {
    const q = this.query;
    if (!q) return this.wall(bound, reps);
    const { device } = this.ctx;
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass({ label: 'tune', timestampWrites: { querySet: q.set, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
    for (let r = 0; r < reps; r++) encodeDispatches(pass, bound);
    pass.end();
    enc.resolveQuerySet(q.set, 0, 2, q.resolve, 0);
    enc.copyBufferToBuffer(q.resolve, 0, q.read, 0, 16);
    device.queue.submit([enc.finish()]);
    await q.read.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(q.read.getMappedRange().slice(0));
    q.read.unmap();
    const ns = Number(t[1]! - t[0]!);
    // Some drivers report 0 for a very short pass or wrap: fall back to the host clock.
    if (!(ns > 0)) return this.wall(bound, reps);
    return ns / 1e6 / reps;
  }

  destroy(): void {
    if (!this.query) return;
    this.query.set.destroy(); this.query.resolve.destroy(); this.query.read.destroy();
  }
}

export type { TuningStore };
