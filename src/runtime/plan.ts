/**
 * An execution plan: one specialised graph bound to GPU buffers. Built once per batch size (and
 * set of kept tensors); running it is encoding pre-made bind groups, nothing else.
 */
import type { SpecializedGraph } from './specialize.js';
import type { GpuContext } from './device.js';
import type { PipelineCache } from './pipeline-cache.js';
import type { BuildContext } from '../kernels/types.js';
import { bindProgram, encodeDispatches, type BoundDispatch, type BufferRange } from './bind.js';
import { assignSlots, type SlotRequest } from './memory.js';
import { sizeOf } from './tensor.js';
import { BatchTooLargeError, GraphError } from './errors.js';

/** A tensor resident on the GPU: float32, contiguous, row-major. */
export interface GpuTensor extends BufferRange { shape: number[] }

/** One recorded dispatch of an execution plan, with the node it runs. */
export interface PlannedDispatch extends BoundDispatch { node: string; opType: string }

/**
 * What `Model.plan` returns and the explanation methods run: a forward pass at `batch` whose graph
 * inputs, outputs and kept tensors are full-batch GPU tensors. Either one ExecutionPlan, or a
 * SplitPlan that runs a smaller ExecutionPlan chunk by chunk when the batch would exceed a device
 * limit; callers see the same tensors either way.
 */
export interface BatchPlan {
  /** The specialised graph at `batch` (tensor shapes at the full batch). */
  readonly graph: SpecializedGraph;
  readonly batch: number;
  /** Rows one GPU pass computes: `batch` when unsplit, less when split. */
  readonly chunk: number;
  /** The dispatches of one pass over `chunk` rows (a split plan records them once per chunk). */
  readonly dispatches: readonly PlannedDispatch[];
  /** Bytes of GPU memory the plan holds (activations, uniforms, full-batch copies); weights belong to the model. */
  readonly bytes: number;
  /** The storage of a graph input, output or kept tensor ([batch, ...]). */
  tensor(name: string): GpuTensor;
  has(name: string): boolean;
  /**
   * Records the forward pass into `encoder`. `rows` (default all) says only the first `rows` batch
   * rows are wanted, as in a method's partial last batch: a split plan then skips the chunks past
   * them; an unsplit plan computes every row anyway. Rows past `rows` hold unspecified values.
   */
  encode(encoder: GPUCommandEncoder, rows?: number): void;
  destroy(): void;
}

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** One specialised graph bound to buffers at one batch; throws BatchTooLargeError when a slot would exceed a device limit. */
export class ExecutionPlan implements BatchPlan {
  readonly dispatches: PlannedDispatch[] = [];
  private readonly storage = new Map<string, GpuTensor>();
  private readonly owned: GPUBuffer[] = [];
  /** Bytes of GPU memory this plan holds (activations, uniforms); weights belong to the model. */
  readonly bytes: number;

  constructor(
    readonly gpu: GpuContext,
    readonly graph: SpecializedGraph,
    build: BuildContext,
    constTensor: (name: string) => GpuTensor,
    readonly batch: number,
    keep: ReadonlySet<string>,
  ) {
    try {
      this.bytes = this.build(build, constTensor, keep);
    } catch (e) {
      // Uniform buffers made before a throw would otherwise leak with the half-built plan.
      this.destroy();
      throw e;
    }
  }

  get chunk(): number { return this.batch; }

  private build(build: BuildContext, constTensor: (name: string) => GpuTensor, keep: ReadonlySet<string>): number {
    const { gpu, graph, batch } = this;
    const { nodes, shapes } = graph;
    // Alias ops (Reshape, Flatten...) share their input's storage: resolve each name to its root.
    const rootOf = new Map<string, string>();
    const root = (n: string): string => rootOf.get(n) ?? n;
    for (const s of nodes) if (s.op.alias) rootOf.set(s.node.outputs[0]!, root(s.node.inputs[0]!));

    const pinnedNames = new Set([...graph.inputNames, ...graph.outputNames, ...keep]);
    const reqIndex = new Map<string, number>();
    const reqs: SlotRequest[] = [];
    const want = (name: string, at: number) => {
      const r = root(name);
      if (graph.constants.has(r)) return;
      let k = reqIndex.get(r);
      if (k === undefined) {
        const shape = shapes.get(r);
        if (!shape) throw new GraphError(`no shape for tensor '${r}'`);
        k = reqs.length;
        reqIndex.set(r, k);
        reqs.push({ bytes: Math.max(16, Math.ceil((sizeOf(shape) * 4) / 16) * 16), first: at, last: at, pinned: false });
      }
      const q = reqs[k]!;
      q.first = Math.min(q.first, at);
      q.last = Math.max(q.last, at);
      if (pinnedNames.has(name)) q.pinned = true;
    };
    for (const name of graph.inputNames) want(name, -1);
    nodes.forEach((s, i) => {
      const host = new Set(s.op.hostInputs?.(s.node) ?? []);
      s.node.inputs.forEach((n, k) => { if (n && !host.has(k)) want(n, i); });
      // An optional output the op does not produce (Dropout's mask) has no shape and no reader.
      s.node.outputs.forEach((n) => { if (n && shapes.has(n)) want(n, i); });
    });
    for (const name of [...graph.outputNames, ...keep]) if (!graph.constants.has(root(name))) want(name, nodes.length);
    // Scratch regions live for their node only.
    const programs = nodes.map((s) => (s.op.alias ? undefined : s.op.build!(s.node, s.inputs, s.outShapes, build)));
    const scratchReq: number[][] = programs.map((p, i) => (p?.scratchBytes ?? []).map((b) => {
      reqs.push({ bytes: Math.max(16, Math.ceil(b / 16) * 16), first: i, last: i, pinned: false });
      return reqs.length - 1;
    }));
    const { slotOf, slotBytes } = assignSlots(reqs);
    // Every slot is checked before any buffer exists, so a plan too large for the device costs no
    // GPU memory and the caller can retry at a smaller batch.
    const maxBinding = gpu.traits.maxStorageBufferBindingSize;
    const maxBuffer = Number(gpu.device.limits.maxBufferSize);
    const over = slotBytes.findIndex((b) => b > maxBinding || b > maxBuffer);
    if (over >= 0) {
      const names = [...reqIndex].filter(([, k]) => slotOf[k] === over).map(([n]) => n);
      const scratchOf = scratchReq.findIndex((list) => list.some((q) => slotOf[q] === over));
      const what = names.length
        ? names.slice(0, 3).map((n) => `'${n}' [${shapes.get(n)!.join(', ')}]`).join(', ')
        : `the scratch of node '${nodes[scratchOf]?.node.name ?? '?'}'`;
      const b = slotBytes[over]!;
      const limit = b > maxBinding ? `storage binding limit (${maxBinding} bytes)` : `buffer size limit (${maxBuffer} bytes)`;
      throw new BatchTooLargeError(`at batch ${batch}, tensor ${what} needs ${b} bytes, over the device's ${limit}`);
    }
    const buffers = slotBytes.map((b, i) => {
      const buf = gpu.device.createBuffer({ label: `slot${i}`, size: b, usage: STORAGE() });
      this.owned.push(buf);
      return buf;
    });
    for (const [name, k] of reqIndex) {
      const shape = shapes.get(name)!;
      this.storage.set(name, { buffer: buffers[slotOf[k]!]!, offset: 0, size: sizeOf(shape) * 4, shape: [...shape] });
    }
    const lookup = (name: string): GpuTensor => {
      const r = root(name);
      const t = this.storage.get(r) ?? (graph.constants.has(r) ? constTensor(r) : undefined);
      if (!t) throw new GraphError(`tensor '${name}' has no storage`);
      const shape = shapes.get(name) ?? t.shape;
      return { ...t, shape: [...shape] };
    };
    for (const [name, r] of rootOf) if (this.storage.has(r)) this.storage.set(name, lookup(name));
    nodes.forEach((s, i) => {
      const prog = programs[i];
      if (!prog) return;
      const bound = bindProgram(gpu.device, prog, {
        input: (k) => lookup(s.node.inputs[k]!),
        output: (k) => lookup(s.node.outputs[k]!),
        scratch: (k) => { const q = scratchReq[i]![k]!; return { buffer: buffers[slotOf[q]!]!, offset: 0, size: reqs[q]!.bytes }; },
      }, this.owned);
      for (const d of bound) this.dispatches.push({ ...d, node: s.node.name, opType: s.node.opType });
    });
    return slotBytes.reduce((a, b) => a + b, 0);
  }

  /** The storage of a graph input, output or kept tensor. */
  tensor(name: string): GpuTensor {
    const t = this.storage.get(name);
    if (!t) throw new GraphError(`tensor '${name}' is not kept by this plan (ask for it in 'keep')`);
    return t;
  }

  has(name: string): boolean { return this.storage.has(name); }

  /** Records the whole graph into one compute pass of `encoder` (every row; see BatchPlan.encode). */
  encode(encoder: GPUCommandEncoder, _rows?: number): void {
    const pass = encoder.beginComputePass({ label: `forward(batch ${this.batch})` });
    encodeDispatches(pass, this.dispatches);
    pass.end();
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
    this.owned.length = 0;
  }
}
