/**
 * The public model: ONNX bytes in, a GPU-resident executable out. Plans are built per batch size
 * (and set of kept tensors) and cached; pipelines and weights are shared by every plan.
 */
import type { Graph, ValueInfo } from './graph.js';
import type { GpuContext } from './device.js';
import { tensorByteLimit, throwIfDeviceFailed } from './device.js';
import { decodeOnnx } from './onnx.js';
import { validateGraph } from './validate.js';
import { specialize, type SpecializedGraph } from './specialize.js';
import { fuseGraph } from './fuse.js';
import { expandGraph } from './expand.js';
import { presentChannelsFirst } from './channels-last.js';
import type { ExternalDataSource } from './external-data.js';
import { ExecutionPlan, type BatchPlan, type GpuTensor } from './plan.js';
import { SplitPlan, chunkRanges, evenChunks, splitObstacle } from './split-plan.js';
import { PipelineCache } from './pipeline-cache.js';
import { PlanCache, type PlanLease } from './plan-cache.js';
import type { BuildContext } from '../kernels/types.js';
import { defaultRegistry } from '../kernels/all.js';
import type { OpRegistry } from '../kernels/registry.js';
import { sizeOf, type HostTensor } from './tensor.js';
import { BatchTooLargeError, DeviceError, GraphError, InputError, XaiError } from './errors.js';
import { readFloats, writeFloats } from './readback.js';
import { profileDispatches, type Profile } from './profiler.js';
import { GradientPlan, type GradientOptions } from './reverse.js';
import type { ScoreMode } from '../kernels/score.js';
import { makeBuildContext } from './build-context.js';
import { revertToStatic, tuneGraph, tunedVariant, tuningCacheFor, type TuneOptions, type TuneReport } from './tuner.js';

/** How a model is loaded: the GPU, fusion, warm-up, tuning and plan caching. */
export interface LoadOptions {
  gpu: GpuContext;
  /** Inputs fixed to host values at load (for example an integer shape input); they are no longer fed. */
  constantInputs?: Record<string, HostTensor>;
  /**
   * Compile every kernel of the batch-1 plan at load so the first real call is fast (default true).
   * Drivers compile at the first dispatch, so each distinct pipeline is dispatched once on a single
   * workgroup: the compile cost without the cost of a whole forward pass.
   */
  warmup?: boolean;
  /** Fuse BatchNormalization, residual Add and activations into convolutions (default true). */
  fuse?: boolean;
  /**
   * Idle plans (forward and gradient) kept for reuse, at most; default 6. Plans in use by a call
   * are never freed, whatever their number (see Model, concurrency).
   */
  maxCachedPlans?: number;
  /**
   * Bytes of GPU memory of all cached plans (in use or idle) above which idle plans are freed,
   * least recently used first; default 1 GiB. Plans in use are never freed.
   */
  planCacheBytes?: number;
  /**
   * Kernel self-tuning (default on). Before a plan for a new shape is built (at load for batch 1,
   * then on the first run, explanation or `model.tune` at any other batch), the convolution and
   * matmul variants of each distinct geometry are timed on this device and the fastest is used;
   * choices are cached per adapter and geometry (in memory, and in `gpu.tuningStore`: a JSON file
   * under the user's cache folder in Node, localStorage in the browser), so later loads skip the
   * timing. Each tuning call stays within `budgetMs` (default 5000); geometries it did not reach
   * keep the static chooser's pick until a later call. `false`: the static chooser only, no cache.
   */
  tune?: boolean | TuneOptions;
  /**
   * Load a model whose float weights hold NaN or infinite values (default false: refused with a
   * ModelFormatError naming the tensor and the first bad index, since such weights usually give
   * plausible-looking but meaningless answers).
   */
  allowNonFiniteWeights?: boolean;
  /**
   * The files initializers stored as external data name (by `location`): a map of file names to
   * bytes, or a function. Node's `loadModelFile` reads them from the model's folder.
   */
  externalData?: ExternalDataSource;
  /**
   * Channels-last images ([N, H, W, C] input, Transpose to NCHW in front): 'nchw' (default) drops
   * the Transpose so the input is [N, C, H, W] like any CNN's (feeds, preprocessing, explanations);
   * 'keep' runs the graph as written (feeds are NHWC; explanations need 'nchw').
   */
  channelsLast?: 'nchw' | 'keep';
}

/** Options of Model.run: tensors to keep and profiling. */
export interface RunOptions {
  /** Intermediate tensors to return besides the outputs (by ONNX value name). */
  keep?: readonly string[];
  /**
   * Measure GPU time per kernel. A batch the plan splits (see Model.plan) is profiled over the
   * dispatches of one chunk (`chunk` rows, run once per chunk), a batch split on the host over its
   * first part.
   */
  profile?: boolean;
}

/** What Model.run returns: outputs, kept tensors and the profile if asked. */
export interface RunResult {
  outputs: Record<string, HostTensor>;
  /** The tensors named in `keep`. */
  kept: Record<string, HostTensor>;
  profile?: Profile;
}

/** A feed: a tensor with its shape, or bare floats whose leading (batch) dimension is inferred. */
export type Feed = HostTensor | Float32Array;

function hashFloats(d: Float32Array | Float64Array): number {
  let h = 2166136261 >>> 0;
  const step = Math.max(1, Math.floor(d.length / 4096));
  for (let i = 0; i < d.length; i += step) h = Math.imul(h ^ Math.round((d[i]! as number) * 1e6), 16777619) >>> 0;
  return h ^ d.length;
}

// One cache per device: models loaded on the same device, and the explanation sessions that run
// them, share compiled kernels.
const pipelineCaches = new WeakMap<GPUDevice, PipelineCache>();
/** The device's compiled-kernel cache shared by models and explanation sessions. */
export function pipelineCacheFor(device: GPUDevice): PipelineCache {
  let c = pipelineCaches.get(device);
  if (!c) { c = new PipelineCache(device); pipelineCaches.set(device, c); }
  return c;
}

/** One dispatch of a forward pass and the WGSL it runs (see Model.kernelSources). */
export interface KernelSource {
  /** Graph node (after fusion) the dispatch belongs to. */
  node: string;
  opType: string;
  /** The kernel's own label (variant). */
  label: string;
  workgroups: [number, number, number];
  entryPoint: string;
  wgsl: string;
}

/**
 * A loaded model. Concurrency: any number of calls (`run`, `gradients`, explanations, metrics) may
 * be in flight on one Model at once, with the same results as run one after another. Every call
 * leases the plans it uses (`acquirePlan`, `acquireGradientPlan`); a lease is exclusive, so a plan
 * in use is never freed, rebuilt or run by another call, and concurrent calls at the same shapes
 * each get their own plan (weights and compiled kernels are shared). Idle plans are kept within
 * `planCacheBytes` and `maxCachedPlans`; plans in use are not bounded. Models are independent of
 * each other, on one device or several; models on one device share compiled kernels only.
 */
export class Model {
  readonly inputs: ValueInfo[];
  readonly outputs: ValueInfo[];
  private readonly pipelines: PipelineCache;
  private readonly weights = new Map<string, GPUBuffer>();
  /** Forward and gradient plans, leased by the calls using them. */
  private readonly plans: PlanCache;
  /** Specialised graphs by input shapes, kept tensors and fusion; see specialize. */
  private readonly specialized = new Map<string, SpecializedGraph>();
  private readonly constants: Map<string, HostTensor>;
  private destroyed = false;
  /** undefined: tuning off (static chooser only). */
  private readonly tuneOpts: TuneOptions | undefined;
  private readonly tunedShapes = new Set<string>();
  /** Input shapes `tuneFirstUse` has seen (their plan may run at another batch: the chunk). */
  private readonly firstUses = new Set<string>();
  /** Every tuning call of this model so far, oldest first (the load's first). */
  readonly tuneReports: TuneReport[] = [];

  private constructor(readonly gpu: GpuContext, readonly graph: Graph, private readonly registry: OpRegistry, private readonly opts: LoadOptions) {
    this.pipelines = pipelineCacheFor(gpu.device);
    this.constants = new Map(graph.initializers);
    for (const [k, v] of Object.entries(opts.constantInputs ?? {})) this.constants.set(k, v);
    this.inputs = graph.inputs.filter((i) => !this.constants.has(i.name));
    this.outputs = graph.outputs;
    this.tuneOpts = opts.tune === false ? undefined : opts.tune === true || opts.tune === undefined ? {} : opts.tune;
    this.plans = new PlanCache({ bytes: opts.planCacheBytes ?? 2 ** 30, idle: opts.maxCachedPlans ?? 6 });
  }

  /** Decodes, checks every operator is supported (naming all that are not), and warms the kernels. */
  static async load(bytes: Uint8Array, opts: LoadOptions, registry: OpRegistry = defaultRegistry): Promise<Model> {
    const decoded = decodeOnnx(bytes, opts.externalData);
    validateGraph(decoded, registry, { allowNonFiniteWeights: opts.allowNonFiniteWeights });
    registry.checkSupported(decoded.nodes);
    const expanded = expandGraph(decoded, registry);
    return Model.fromGraph(opts.channelsLast === 'keep' ? expanded : presentChannelsFirst(expanded), opts, registry);
  }

  /**
   * A new model on the same device with some initializers (weights) replaced, each by values of
   * the same size: what the model-randomisation sanity check loads. This model is unchanged; the
   * new one owns its own weights and plans (destroy it too).
   */
  async withWeights(replace: ReadonlyMap<string, Float32Array>, opts: Partial<LoadOptions> = {}): Promise<Model> {
    this.checkAlive();
    const initializers = new Map(this.graph.initializers);
    for (const [name, data] of replace) {
      const old = initializers.get(name);
      if (!old) throw new InputError(`the model has no initializer '${name}'`);
      if (old.data.length !== data.length) throw new InputError(`initializer '${name}' has ${old.data.length} values, got ${data.length}`);
      initializers.set(name, { dtype: 'float32', shape: [...old.shape], data });
    }
    return Model.fromGraph({ ...this.graph, initializers }, { ...this.opts, ...opts }, this.registry);
  }

  private static async fromGraph(graph: Graph, opts: LoadOptions, registry: OpRegistry): Promise<Model> {
    registry.checkSupported(graph.nodes);
    const model = new Model(opts.gpu, graph, registry, opts);
    for (const i of model.inputs) {
      if (i.dtype !== 'float32' && i.dtype !== 'float16' && i.dtype !== 'float64') {
        throw new InputError(`input '${i.name}' has type ${i.dtype}; only float inputs are supported (bind integer inputs with constantInputs)`);
      }
    }
    // Specialising at batch 1 surfaces shape errors at load rather than at the first run.
    const shapes = model.inputShapes();
    if (model.tuneOpts) await model.tuneOnce(shapes);
    if (opts.warmup !== false) await model.compileKernels(shapes);
    else model.specialize(shapes, new Set());
    return model;
  }

  /**
   * Builds the plan for these input shapes and dispatches each of its distinct pipelines once, on
   * one workgroup, so the driver compiles them now. The stray writes land in the plan's own
   * activation buffers, which every run rewrites in order before reading.
   */
  private async compileKernels(shapes: ReadonlyMap<string, number[]>): Promise<void> {
    const { device } = this.gpu;
    await this.inErrorScopes(async () => {
      const plan = this.plan(shapes);
      const seen = new Set<GPUComputePipeline>();
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass({ label: 'compile kernels' });
      for (const d of plan.dispatches) {
        if (seen.has(d.pipeline)) continue;
        seen.add(d.pipeline);
        pass.setPipeline(d.pipeline);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(1, 1, 1);
      }
      pass.end();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
    });
  }

  /**
   * Runs `work` inside validation and out-of-memory error scopes; a captured GPU error becomes a
   * typed DeviceError (thrown once the scopes are closed, so they never leak).
   */
  private async inErrorScopes<T>(work: () => Promise<T>): Promise<T> {
    const { device } = this.gpu;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let out: T;
    try {
      out = await work();
    } finally {
      const v = await device.popErrorScope();
      const m = await device.popErrorScope();
      const err = v ?? m;
      if (err) this.gpu.errors.push(new DeviceError(`GPU ${v ? 'validation' : 'out-of-memory'} error: ${err.message}`));
    }
    throwIfDeviceFailed(this.gpu);
    return out;
  }

  /**
   * The declared input shapes with dimension 0 set to `batch` (when given) and other symbolic
   * dimensions set to 1.
   */
  inputShapes(batch?: number): Map<string, number[]> {
    return new Map(this.inputs.map((i) => [i.name, i.shape.map((d, k) => (k === 0 && batch !== undefined ? batch : typeof d === 'number' ? d : 1))]));
  }

  /** The batch size the model was exported with (1 when the batch dimension is symbolic). */
  get declaredBatch(): number {
    const d = this.inputs[0]?.shape[0];
    return typeof d === 'number' ? d : 1;
  }

  /** Names of every tensor a plan computes, with its shape (for choosing taps). */
  tensorShapes(batch = 1): Map<string, number[]> {
    const g = this.specialize(this.inputShapes(batch), new Set(), false);
    const out = new Map<string, number[]>();
    for (const s of g.nodes) s.node.outputs.forEach((o, i) => { if (o) out.set(o, s.outShapes[i]!); });
    return out;
  }

  /**
   * The specialised, fused graph for these input shapes (what a plan executes). Cached per input
   * shapes, kept tensors and fusion (the last 16): methods, plans and the batch fitting ask for the
   * same graphs many times. The graph is shared: callers read it, never change it.
   */
  specialize(shapes: ReadonlyMap<string, number[]>, keep: ReadonlySet<string>, fuse = this.opts.fuse !== false): SpecializedGraph {
    const key = JSON.stringify([[...shapes], [...keep].sort(), fuse]);
    const hit = this.specialized.get(key);
    if (hit) { this.specialized.delete(key); this.specialized.set(key, hit); return hit; }
    const batch = [...shapes.values()][0]?.[0];
    const g = specialize(this.graph, this.registry, { constants: this.constants, inputShapes: shapes, declaredBatch: this.declaredBatch, batch });
    fuseGraph(g, { keep, fuse });
    this.specialized.set(key, g);
    if (this.specialized.size > 16) this.specialized.delete(this.specialized.keys().next().value!);
    return g;
  }

  /**
   * A cached plan for these input shapes whose `keep` tensors stay readable after a run. Any batch
   * works: when a tensor of the plan at this batch would exceed the device's storage-binding or
   * buffer limit (or a kernel its dispatch limit), the plan runs a smaller plan chunk by chunk on
   * the GPU (a SplitPlan: `chunk` < `batch`), with the same full-batch input, output and kept
   * tensors. That needs every input, output and kept tensor to carry the batch in dimension 0 and
   * rows that do not mix; otherwise the limit is reported as a GraphError.
   */
  plan(shapes: ReadonlyMap<string, number[]>, keep: readonly string[] = []): BatchPlan {
    this.checkAlive();
    const keepSet = new Set(keep);
    return this.plans.peek(planKey(shapes, keepSet), () => this.buildPlan(shapes, keepSet));
  }

  /**
   * `plan` under a lease: the plan stays alive, whatever other calls on this model build, until
   * `release()` (call it in a `finally`, so cancellation and errors release too). Tunes the kernels
   * of these shapes on their first use when the model tunes (LoadOptions.tune; bounded by its
   * budget, and free once the choices are in the adapter's cache). What explanation methods,
   * metrics and benchmarks use.
   */
  async acquirePlan(shapes: ReadonlyMap<string, number[]>, keep: readonly string[] = []): Promise<PlanLease<BatchPlan>> {
    await this.tuneFirstUse(shapes);
    this.checkAlive();
    const keepSet = new Set(keep);
    return this.plans.acquire(planKey(shapes, keepSet), () => this.buildPlan(shapes, keepSet));
  }

  /**
   * `plan` after tuning these shapes on their first use, without a lease: valid until this model
   * next builds a plan or a call releases one, so only for synchronous use or a single caller.
   * Concurrent callers use `acquirePlan`.
   */
  async planFor(shapes: ReadonlyMap<string, number[]>, keep: readonly string[] = []): Promise<BatchPlan> {
    await this.tuneFirstUse(shapes);
    return this.plan(shapes, keep);
  }

  private buildPlan(shapes: ReadonlyMap<string, number[]>, keepSet: ReadonlySet<string>): BatchPlan {
    const g = this.specialize(shapes, keepSet);
    for (const k of keepSet) if (!g.shapes.has(k)) throw new InputError(`no tensor named '${k}' in the model`);
    const batch = sharedBatch(shapes);
    const { value: inner, rows } = this.fitBatch(g, batch ?? [...shapes.values()][0]?.[0] ?? 1, batch !== undefined,
      (b) => this.specialize(withBatch(shapes, b), keepSet),
      (gb, b) => new ExecutionPlan(this.gpu, gb, this.buildContext(), (name) => this.constTensor(name, gb), b, keepSet));
    return batch !== undefined && rows < batch ? new SplitPlan(this.gpu, g, inner, batch, [...g.outputNames, ...keepSet]) : inner;
  }

  /** Plans cached now, how many a call is using, and the bytes they hold. */
  get planCacheStats(): { plans: number; inUse: number; bytes: number } {
    return this.plans.stats;
  }

  /**
   * With tuning on, tunes the kernel geometries of these shapes the first time they are used
   * (`planFor`, `run`), so explanations at their own batch size run tuned kernels, not only the
   * batch-1 plan tuned at load. A batch the plan will split is tuned at its chunk, the batch its
   * kernels run at (estimated from tensor sizes as `plan` first does). Shapes that do not
   * specialise are left for `plan` to report.
   */
  private async tuneFirstUse(shapes: ReadonlyMap<string, number[]>): Promise<void> {
    const key = JSON.stringify([...shapes]);
    if (!this.tuneOpts || this.firstUses.has(key)) return;
    // Marked first: a later call with these shapes is free whatever happens below.
    this.firstUses.add(key);
    let at: ReadonlyMap<string, number[]> = shapes;
    try {
      const batch = sharedBatch(shapes);
      if (batch !== undefined && batch > 1) {
        const rows = evenChunks(batch, this.fittingRows(shapes, batch)).size;
        if (rows < batch) at = withBatch(shapes, rows);
      }
      this.specialize(at, new Set());
    } catch (e) {
      if (e instanceof XaiError) return;
      throw e;
    }
    await this.tuneOnce(at);
  }

  /**
   * Builds `make` at `batch` rows when it fits the device, else at the largest even chunk that
   * does. The chunk is first estimated from the largest tensor of the specialised graph (sizes grow
   * with the rows), then halved while building still throws BatchTooLargeError (scratch buffers and
   * dispatch limits are known only to the kernels), down to one row. Only a `splittable` batch
   * whose rows are independent (splitObstacle) is cut; every other overflow is a GraphError.
   */
  private fitBatch<T>(full: SpecializedGraph, batch: number, splittable: boolean,
    graphAt: (rows: number) => SpecializedGraph, make: (g: SpecializedGraph, rows: number) => T): { value: T; rows: number } {
    const limit = this.tensorLimit();
    const first = largestTensor(full);
    let error: BatchTooLargeError | undefined;
    if (first.bytes <= limit || !splittable || batch === 1) {
      try {
        return { value: make(full, batch), rows: batch };
      } catch (e) {
        if (!(e instanceof BatchTooLargeError)) throw e;
        if (batch === 1) throw new GraphError(`${e.message}: the model does not fit this device even at batch 1`, { cause: e });
        if (!splittable) throw new GraphError(`${e.message}, and the inputs share no batch dimension to split over`, { cause: e });
        error = e;
      }
    }
    const shrink = (rows: number, bytes: number) => Math.max(1, Math.min(rows - 1, Math.floor((rows * limit) / bytes)));
    let max = error ? Math.floor(batch / 2) : shrink(batch, first.bytes);
    error ??= new BatchTooLargeError(`at batch ${batch}, tensor '${first.name}' [${first.shape.join(', ')}] needs ${first.bytes} bytes, over the device's limit of ${limit} bytes per tensor`);
    for (;;) {
      const rows = evenChunks(batch, max).size;
      let g: SpecializedGraph;
      let obstacle: string | undefined;
      try {
        g = graphAt(rows);
        obstacle = splitObstacle(full, g, batch, rows);
      } catch (e) {
        if (!(e instanceof XaiError)) throw e;
        throw new GraphError(`${error.message}, and the graph does not specialise at ${rows} rows to split the batch: ${e.message}`, { cause: e });
      }
      if (obstacle) throw new GraphError(`${error.message}, and the batch cannot be split: ${obstacle}`, { cause: error });
      const big = largestTensor(g);
      if (big.bytes > limit && rows > 1) { max = shrink(rows, big.bytes); continue; }
      try {
        return { value: make(g, rows), rows };
      } catch (e) {
        if (!(e instanceof BatchTooLargeError)) throw e;
        if (rows === 1) throw new GraphError(`${e.message}: the model does not fit this device even at batch 1`, { cause: e });
        error = e;
        max = Math.max(1, Math.floor(rows / 2));
      }
    }
  }

  /** The most bytes one plan tensor may take: a storage binding, and a buffer. */
  private tensorLimit(): number {
    return tensorByteLimit(this.gpu);
  }

  /**
   * A cached reverse-mode plan: forward over the unfused graph, the class score Ψ per row, and one
   * backward pass to every tensor in `opts.wrt`. GPU-resident; see GradientPlan.
   */
  gradientPlan(shapes: ReadonlyMap<string, number[]>, opts: GradientOptions): GradientPlan {
    this.checkAlive();
    return this.plans.peek(gradKey(shapes, opts), () => this.buildGradientPlan(shapes, opts));
  }

  /** `gradientPlan` under a lease (see acquirePlan): alive until `release()`. */
  acquireGradientPlan(shapes: ReadonlyMap<string, number[]>, opts: GradientOptions): PlanLease<GradientPlan> {
    this.checkAlive();
    return this.plans.acquire(gradKey(shapes, opts), () => this.buildGradientPlan(shapes, opts));
  }

  private buildGradientPlan(shapes: ReadonlyMap<string, number[]>, opts: GradientOptions): GradientPlan {
    const g = this.specialize(shapes, new Set(), false);
    return new GradientPlan(this.gpu, g, this.buildContext(), (name) => this.constTensor(name, g), [...shapes.values()][0]?.[0] ?? 1, opts);
  }

  /**
   * Gradients of the class score Ψ (per batch row, class `classes[row]`) with respect to the named
   * tensors, read back to the host. Explanation methods use gradientPlan directly and keep
   * everything on the GPU; this is the convenient form.
   */
  async gradients(feeds: Record<string, Feed>, opts: { wrt: readonly string[]; classes: readonly number[]; mode?: ScoreMode }): Promise<{ scores: Float32Array; grads: Record<string, HostTensor> }> {
    this.checkAlive();
    const tensors = this.normaliseFeeds(feeds);
    const shapes = new Map([...tensors].map(([k, t]) => [k, [...t.shape]]));
    const batch = sharedBatch(shapes);
    const rowsOf = batch ?? [...shapes.values()][0]?.[0] ?? 1;
    if (opts.classes.length !== rowsOf) throw new InputError(`need ${rowsOf} classes (one per batch row), got ${opts.classes.length}`);
    const gopts: GradientOptions = { wrt: opts.wrt, mode: opts.mode ?? 'logit' };
    const { device } = this.gpu;
    return this.inErrorScopes(async () => {
      // A batch too large for the device runs as host-level chunks of one plan (GradientPlan stays
      // unsplit: the methods use it at batch 1). The last chunk is padded with copies of its last
      // row so every chunk reuses the same plan; the padded rows are dropped.
      const { value: lease, rows: c } = this.fitBatch(this.specialize(shapes, new Set(), false), rowsOf, batch !== undefined,
        (b) => this.specialize(withBatch(shapes, b), new Set(), false), (_g, b) => this.acquireGradientPlan(b === rowsOf ? shapes : withBatch(shapes, b), gopts));
      const plan = lease.plan;
      try {
      const ranges = c >= rowsOf ? [{ start: 0, rows: rowsOf }] : chunkRanges(rowsOf, { count: Math.ceil(rowsOf / c), size: c });
      const scores = new Float32Array(rowsOf);
      const grads: Record<string, HostTensor> = {};
      for (const w of opts.wrt) {
        const shape = [...plan.grad(w).shape];
        if (c < rowsOf) shape[0] = rowsOf;
        grads[w] = { dtype: 'float32', shape, data: new Float32Array(sizeOf(shape)) };
      }
      for (const { start, rows } of ranges) {
        const pick = (i: number) => start + Math.min(i, rows - 1);
        plan.setClasses(Array.from({ length: c >= rowsOf ? rowsOf : c }, (_, i) => opts.classes[pick(i)]!));
        for (const [k, t] of tensors) {
          const per = sizeOf(t.shape) / t.shape[0]!;
          const data = t.data as Float32Array;
          const dst = plan.forward.tensor(k);
          if (c >= rowsOf) { writeFloats(device, dst, data); continue; }
          writeFloats(device, dst, data.subarray(start * per, (start + rows) * per));
          for (let i = rows; i < c; i++) writeFloats(device, { ...dst, offset: dst.offset + i * per * 4, size: per * 4 }, data.subarray((start + rows - 1) * per, (start + rows) * per));
        }
        const enc = device.createCommandEncoder();
        plan.encode(enc);
        device.queue.submit([enc.finish()]);
        const read = await readFloats(device, [plan.scores, ...opts.wrt.map((w) => plan.grad(w))]);
        scores.set(read[0]!.subarray(0, rows), start);
        opts.wrt.forEach((w, i) => {
          const g = grads[w]!;
          const per = sizeOf(g.shape) / rowsOf;
          (g.data as Float32Array).set(read[i + 1]!.subarray(0, rows * per), start * per);
        });
      }
      return { scores, grads };
      } finally {
        lease.release();
      }
    });
  }

  /**
   * The largest batch (at most `batch`) whose every tensor of the forward plan, by the estimate
   * from tensor sizes, fits the device's binding and buffer limits: `plan` at a larger batch runs
   * chunks of at most this many rows (fewer when a kernel's own limits say so).
   */
  maxBatch(batch: number): number {
    return this.fittingRows(this.inputShapes(batch), batch);
  }

  /** maxBatch for these input shapes, whose dimension 0 is `batch`. */
  private fittingRows(shapes: ReadonlyMap<string, number[]>, batch: number): number {
    const limit = this.tensorLimit();
    let b = batch;
    for (;;) {
      const big = largestTensor(this.specialize(withBatch(shapes, b), new Set())).bytes;
      if (b === 1 || big <= limit) return b;
      b = Math.max(1, Math.min(b - 1, Math.floor((b * limit) / big)));
    }
  }

  /**
   * Runs the model on host inputs and reads the outputs (and any kept tensors) back. Device limits
   * are handled by `plan` (chunks on the GPU); only inputs and read-backs too large for one host
   * transfer (1 GiB, or the device's buffer size) are cut into parts here, one plan run per part.
   */
  async run(feeds: Record<string, Feed>, opts: RunOptions = {}): Promise<RunResult> {
    this.checkAlive();
    const tensors = this.normaliseFeeds(feeds);
    const shapes = new Map([...tensors].map(([k, t]) => [k, [...t.shape]]));
    const batch = sharedBatch(shapes);
    const chunk = batch === undefined ? undefined : this.hostChunk(shapes, opts.keep ?? [], batch);
    if (batch === undefined || chunk === undefined || chunk >= batch) return this.runChunk(tensors, opts);
    const parts: RunResult[] = [];
    for (const { start, rows: n } of chunkRanges(batch, evenChunks(batch, chunk))) {
      const sub = new Map([...tensors].map(([k, t]) => {
        const per = sizeOf(t.shape) / t.shape[0]!;
        return [k, { dtype: t.dtype, shape: [n, ...t.shape.slice(1)], data: t.data.subarray(start * per, (start + n) * per) }];
      }));
      parts.push(await this.runChunk(sub, { ...opts, profile: opts.profile === true && start === 0 }));
    }
    const cat = (pick: (r: RunResult) => Record<string, HostTensor>): Record<string, HostTensor> => {
      const out: Record<string, HostTensor> = {};
      for (const k of Object.keys(pick(parts[0]!))) {
        const list = parts.map((r) => pick(r)[k]!);
        const data = new Float32Array(list.reduce((s, t) => s + t.data.length, 0));
        let off = 0;
        for (const t of list) { data.set(t.data, off); off += t.data.length; }
        out[k] = { dtype: 'float32', shape: [batch, ...list[0]!.shape.slice(1)], data };
      }
      return out;
    };
    return { outputs: cat((r) => r.outputs), kept: cat((r) => r.kept), ...(parts[0]!.profile ? { profile: parts[0]!.profile } : {}) };
  }

  /**
   * Rows per host part of `run`: every input, and the outputs and kept tensors read back together,
   * within one host transfer. Undefined when no part is needed, or when the rows are not
   * independent (the run is then attempted whole and reports what does not fit).
   */
  private hostChunk(shapes: ReadonlyMap<string, number[]>, keep: readonly string[], batch: number): number | undefined {
    const limit = Math.min(HOST_TRANSFER_LIMIT, Number(this.gpu.device.limits.maxBufferSize));
    const keepSet = new Set(keep);
    const g = this.specialize(shapes, keepSet);
    const bytes = (n: string) => (g.constants.has(n) || !g.shapes.has(n) ? 0 : sizeOf(g.shapes.get(n)!) * 4);
    const read = [...new Set([...g.outputNames, ...keepSet])].reduce((a, n) => a + bytes(n), 0);
    const most = Math.max(read, ...g.inputNames.map(bytes));
    if (most <= limit || batch === 1) return undefined;
    const rows = Math.max(1, Math.floor((batch * limit) / most));
    if (splitObstacle(g, this.specialize(withBatch(shapes, rows), keepSet), batch, rows)) return undefined;
    return rows;
  }

  private async runChunk(tensors: Map<string, HostTensor>, opts: RunOptions): Promise<RunResult> {
    const { device } = this.gpu;
    const shapes = new Map([...tensors].map(([k, t]) => [k, [...t.shape]]));
    let plan!: BatchPlan;
    let profile: Profile | undefined;
    const names = [...this.outputs.map((o) => o.name), ...(opts.keep ?? [])];
    await this.tuneFirstUse(shapes);
    let lease: PlanLease<BatchPlan> | undefined;
    const read = await this.inErrorScopes(async () => {
      this.checkAlive();
      const keepSet = new Set(opts.keep ?? []);
      lease = this.plans.acquire(planKey(shapes, keepSet), () => this.buildPlan(shapes, keepSet));
      plan = lease.plan;
      const tooBig = names.filter((n) => plan.has(n)).find((n) => plan.tensor(n).size > HOST_TRANSFER_LIMIT);
      if (tooBig) throw new InputError(`output '${tooBig}' would need ${plan.tensor(tooBig).size} bytes of host memory`);
      // Poison outputs first so an element no kernel wrote shows as NaN (inputs may alias outputs).
      for (const n of names) if (plan.has(n)) writeFloats(device, plan.tensor(n), new Float32Array(plan.tensor(n).size / 4).fill(NaN));
      for (const [k, t] of tensors) writeFloats(device, plan.tensor(k), t.data instanceof Float32Array ? t.data : Float32Array.from(t.data));
      if (opts.profile) {
        // A split plan's dispatches cover one chunk: run every chunk first (the outputs), then
        // time one chunk again on the inner plan's own buffers.
        if (plan.chunk < plan.batch) {
          const enc = device.createCommandEncoder();
          plan.encode(enc);
          device.queue.submit([enc.finish()]);
        }
        profile = await profileDispatches(this.gpu, plan.dispatches);
      } else {
        const enc = device.createCommandEncoder();
        plan.encode(enc);
        device.queue.submit([enc.finish()]);
      }
      return readFloats(device, names.filter((n) => plan.has(n)).map((n) => plan.tensor(n)));
    }).finally(() => lease?.release());
    const result: RunResult = { outputs: {}, kept: {}, profile };
    let r = 0;
    names.forEach((n, i) => {
      const c = plan.graph.constants.get(n);
      const t: HostTensor = c ? { dtype: 'float32', shape: c.shape, data: Float32Array.from(c.data) } : { dtype: 'float32', shape: plan.tensor(n).shape, data: read[r++]! };
      if (i < this.outputs.length) result.outputs[n] = t; else result.kept[n] = t;
    });
    return result;
  }

  /** Validates feeds against the declared inputs; bare Float32Arrays get their shape. */
  normaliseFeeds(feeds: Record<string, Feed>): Map<string, HostTensor> {
    const out = new Map<string, HostTensor>();
    for (const k of Object.keys(feeds)) if (!this.inputs.some((i) => i.name === k)) {
      throw new InputError(`the model has no input '${k}' (inputs: ${this.inputs.map((i) => i.name).join(', ')})`);
    }
    for (const info of this.inputs) {
      const f = feeds[info.name];
      if (!f) throw new InputError(`missing input '${info.name}'`);
      let t: HostTensor;
      if (f instanceof Float32Array) {
        const per = info.shape.slice(1).reduce<number>((s, d) => s * (typeof d === 'number' ? d : NaN), 1);
        if (!Number.isFinite(per)) throw new InputError(`input '${info.name}' has symbolic dimensions [${info.shape}]: pass a tensor with its shape`);
        if (f.length === 0 || f.length % per !== 0) throw new InputError(`input '${info.name}' needs a multiple of ${per} values, got ${f.length}`);
        t = { dtype: 'float32', shape: [f.length / per, ...(info.shape.slice(1) as number[])], data: f };
      } else {
        t = f;
        if (!(t.data instanceof Float32Array) || (t.dtype !== 'float32')) throw new InputError(`input '${info.name}' must be float32, got ${t.dtype}`);
        if (t.data.length !== sizeOf(t.shape)) throw new InputError(`input '${info.name}': ${t.data.length} values do not fill shape [${t.shape}]`);
      }
      if (t.shape.length !== info.shape.length) throw new InputError(`input '${info.name}' must have rank ${info.shape.length} ([${info.shape}]), got [${t.shape}]`);
      t.shape.forEach((d, k) => {
        const want = info.shape[k];
        if (k > 0 && typeof want === 'number' && want !== d) throw new InputError(`input '${info.name}' must have shape [${info.shape}], got [${t.shape}]`);
      });
      if (t.shape.length > 0 && t.shape[0]! < 1) throw new InputError(`input '${info.name}' has an empty batch`);
      out.set(info.name, t);
    }
    return out;
  }

  private buildContext(): BuildContext {
    const o = this.tuneOpts;
    const cache = o ? tuningCacheFor(this.gpu) : undefined;
    return {
      device: this.gpu.device,
      traits: this.gpu.traits,
      pipeline: (wgsl, entry) => this.pipelines.get(wgsl, entry),
      constBuffer: (data, label) => this.weightBuffer(`${label}#${hashFloats(data)}`, data),
      ...(cache ? { variant: (key: string) => tunedVariant(cache, key, o?.f16 === true && this.gpu.traits.hasF16) } : {}),
    };
  }

  /**
   * Times the kernel variants of every convolution and matmul geometry of the plan at these input
   * shapes (or at `batch`) that the adapter's cache lacks, keeps the fastest, and reports what each
   * geometry will run. Plans built afterwards use the choices; plans already built keep theirs.
   * `opts` overrides the model's `tune` options for this call (`force` re-times cached ones).
   * Runs even when the model was loaded with `tune: false`, but such a model never uses the results.
   */
  async tune(shapesOrBatch: ReadonlyMap<string, number[]> | number = 1, opts: TuneOptions = {}): Promise<TuneReport> {
    this.checkAlive();
    const shapes = typeof shapesOrBatch === 'number' ? this.inputShapes(shapesOrBatch) : shapesOrBatch;
    const g = this.specialize(shapes, new Set());
    const merged: TuneOptions = { ...this.tuneOpts, ...opts };
    const report = await this.inErrorScopes(() => tuneGraph(this.gpu, g, (owned, choose) => ({ ...makeBuildContext(this.gpu, this.pipelines, owned), variant: choose }), merged));
    const changed = new Set(report.geometries.filter((x) => x.source === 'timed' && x.choice !== x.staticChoice).map((x) => x.key));
    if (merged.verify !== false && changed.size > 0) {
      const t0 = performance.now();
      report.wholePass = await this.inErrorScopes(() => this.compareWholePass(g, merged.f16 === true));
      report.ms += performance.now() - t0;
      if ('kept' in report.wholePass && !report.wholePass.kept) {
        await revertToStatic(this.gpu, g, changed, merged.f16 === true);
        for (const x of report.geometries) if (changed.has(x.key)) { x.choice = x.staticChoice; x.ms = x.staticMs; }
      }
    }
    this.tunedShapes.add(JSON.stringify([...shapes]));
    this.tuneReports.push(report);
    return report;
  }

  /**
   * The forward pass of `g` with the tuned choices and with the static chooser's, as two plans on
   * the same random input, run in turn (the order alternating per pair) and timed on the host from
   * submission to completion. Up to about 2 s of passes, at least 3 pairs. A graph too large for
   * one plan is not checked (the split plan's chunk was tuned instead).
   */
  private async compareWholePass(g: SpecializedGraph, f16: boolean): Promise<NonNullable<TuneReport['wholePass']>> {
    const batch = g.shapes.get(g.inputNames[0]!)?.[0] ?? 1;
    const { variant: _tuned, ...staticCtx } = this.buildContext();
    const plans: ExecutionPlan[] = [];
    try {
      try {
        const cache = tuningCacheFor(this.gpu);
        const tunedCtx: BuildContext = { ...staticCtx, variant: (key: string) => tunedVariant(cache, key, f16 && this.gpu.traits.hasF16) };
        plans.push(new ExecutionPlan(this.gpu, g, tunedCtx, (name) => this.constTensor(name, g), batch, new Set()));
        plans.push(new ExecutionPlan(this.gpu, g, staticCtx, (name) => this.constTensor(name, g), batch, new Set()));
      } catch (e) {
        if (e instanceof BatchTooLargeError) return { skipped: e.message };
        throw e;
      }
      const { device } = this.gpu;
      for (const p of plans) {
        for (const n of g.inputNames) {
          const t = p.tensor(n);
          writeFloats(device, t, Float32Array.from({ length: t.size / 4 }, (_, i) => Math.sin(i * 0.37) * 1.5));
        }
      }
      const pass = async (p: ExecutionPlan) => {
        const t = performance.now();
        const enc = device.createCommandEncoder();
        p.encode(enc);
        device.queue.submit([enc.finish()]);
        await device.queue.onSubmittedWorkDone();
        return performance.now() - t;
      };
      // First runs compile and warm; they size the number of pairs.
      const first = (await pass(plans[0]!)) + (await pass(plans[1]!));
      const pairs = Math.max(3, Math.min(9, Math.floor(2000 / Math.max(first, 1e-3))));
      const ms: [number[], number[]] = [[], []];
      for (let i = 0; i < pairs; i++) for (const j of i % 2 ? [1, 0] : [0, 1]) ms[j]!.push(await pass(plans[j]!));
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
      const tunedMs = med(ms[0]), staticMs = med(ms[1]);
      return { staticMs, tunedMs, pairs, kept: tunedMs < staticMs };
    } finally {
      for (const p of plans) p.destroy();
    }
  }

  /** Tunes these shapes on their first use when tuning is on; later calls return at once. */
  private async tuneOnce(shapes: ReadonlyMap<string, number[]>): Promise<void> {
    if (!this.tuneOpts || this.tunedShapes.has(JSON.stringify([...shapes]))) return;
    await this.tune(shapes);
  }

  private weightBuffer(key: string, data: Float32Array): GPUBuffer {
    let b = this.weights.get(key);
    if (!b) {
      const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
      b = this.gpu.device.createBuffer({ label: key, size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC, mappedAtCreation: true });
      new Float32Array(b.getMappedRange()).set(data);
      b.unmap();
      this.weights.set(key, b);
    }
    return b;
  }

  private constTensor(name: string, g: SpecializedGraph): GpuTensor {
    const c = g.constants.get(name)!;
    const data = c.data instanceof Float32Array ? c.data : Float32Array.from(c.data);
    const buffer = this.weightBuffer(`const:${name}#${hashFloats(data)}`, data);
    return { buffer, offset: 0, size: Math.max(4, data.byteLength), shape: [...c.shape] };
  }

  /** Number of distinct compiled pipelines (kernel variants) so far. */
  get pipelineCount(): number { return this.pipelines.size; }
  /** The WGSL of every compiled kernel variant (for inspection). */
  wgslSources(): string[] { return this.pipelines.sources(); }

  /**
   * Every dispatch of the forward pass at `batch`, in order, with the node it serves and the final
   * WGSL it runs (after fusion and variant choice for this adapter): what a kernel researcher reads
   * next to the profile. Builds the batch's plan if it is not cached; a batch the plan splits lists
   * the dispatches of one chunk (`plan(...).chunk` rows), which run once per chunk.
   */
  kernelSources(batch = 1): KernelSource[] {
    const plan = this.plan(this.inputShapes(batch));
    return plan.dispatches.map((d) => {
      const src = this.pipelines.sourceOf(d.pipeline);
      if (!src) throw new XaiError(`dispatch '${d.label}' of node '${d.node}' has no recorded source`);
      return { node: d.node, opType: d.opType, label: d.label, workgroups: [...d.workgroups], entryPoint: src.entryPoint, wgsl: src.wgsl };
    });
  }

  private checkAlive(): void {
    if (this.destroyed) throw new XaiError('this model was destroyed');
    if (this.gpu.lost) throw this.gpu.lost;
  }

  /**
   * Releases every GPU buffer of the model and its plans (the device stays). New calls are refused
   * at once; plans and weights that calls in flight are using are freed when those calls end.
   */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.plans.close(() => {
      for (const b of this.weights.values()) b.destroy();
      this.weights.clear();
    });
  }
}

/** The most bytes `run` moves between host and GPU in one transfer (per part of a batch). */
const HOST_TRANSFER_LIMIT = 2 ** 30;

function planKey(shapes: ReadonlyMap<string, number[]>, keep: ReadonlySet<string>): string {
  return JSON.stringify(['fwd', [...shapes], [...keep].sort()]);
}

function gradKey(shapes: ReadonlyMap<string, number[]>, opts: GradientOptions): string {
  return JSON.stringify(['grad', [...shapes], [...opts.wrt].sort(), opts.mode]);
}

/** The batch every input carries in dimension 0, or undefined when they do not share one. */
function sharedBatch(shapes: ReadonlyMap<string, readonly number[]>): number | undefined {
  const firsts = [...shapes.values()].map((s) => (s.length > 0 ? s[0]! : -1));
  return firsts.length > 0 && firsts.every((d) => d === firsts[0] && d > 0) ? firsts[0] : undefined;
}

/** The same input shapes with dimension 0 set to `rows`. */
function withBatch(shapes: ReadonlyMap<string, readonly number[]>, rows: number): Map<string, number[]> {
  return new Map([...shapes].map(([k, s]) => [k, [rows, ...s.slice(1)]]));
}

/** The largest tensor a plan of `g` stores (graph inputs and every node's operands), in slot bytes. */
function largestTensor(g: SpecializedGraph): { name: string; shape: number[]; bytes: number } {
  let best = { name: '', shape: [] as number[], bytes: 0 };
  const see = (n: string) => {
    const s = g.shapes.get(n);
    if (!n || !s || g.constants.has(n)) return;
    const bytes = Math.max(16, Math.ceil((sizeOf(s) * 4) / 16) * 16);
    if (bytes > best.bytes) best = { name: n, shape: s, bytes };
  };
  for (const n of g.inputNames) see(n);
  for (const { node } of g.nodes) { node.inputs.forEach(see); node.outputs.forEach(see); }
  return best;
}

/** Loads an ONNX model from bytes onto a GPU context. See {@link LoadOptions}. */
export function loadModel(bytes: Uint8Array, opts: LoadOptions): Promise<Model> {
  return Model.load(bytes, opts);
}
