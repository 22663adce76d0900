/**
 * A small GPU-resident compute facility for explanation methods: allocate tensors, run kernel
 * programs on them, read and write them. Methods in src/xai use this instead of touching WGSL,
 * pipelines or bind groups.
 */
import type { BuildContext, KernelProgram } from '../kernels/types.js';
import type { GpuContext } from './device.js';
import { throwIfDeviceFailed } from './device.js';
import { PipelineCache } from './pipeline-cache.js';
import { makeBuildContext } from './build-context.js';
import { bindProgram, encodeDispatches, type BoundDispatch } from './bind.js';
import type { GpuTensor } from './plan.js';
import { readFloats } from './readback.js';
import { sizeOf } from './tensor.js';

/** The tensors a program's `{ input: i }` / `{ output: i }` / `{ scratch: i }` bindings refer to. */
export interface ComputeIO {
  inputs: readonly GpuTensor[];
  outputs: readonly GpuTensor[];
}

interface BoundEntry {
  key: string;
  /** Ids of the buffers it binds. */
  ids: Set<number>;
  bound: BoundDispatch[];
  /** Uniform buffers created for this binding (freed with the entry). */
  owned: GPUBuffer[];
  scratch: GPUBuffer[];
}

const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

let nextId = 1;
const bufferIds = new WeakMap<GPUBuffer, number>();
function bufferId(b: GPUBuffer): number {
  let id = bufferIds.get(b);
  if (id === undefined) { id = nextId++; bufferIds.set(b, id); }
  return id;
}

export class GpuCompute {
  /** The context kernel builders take (its const buffers are freed by `destroy`). */
  readonly ctx: BuildContext;
  readonly device: GPUDevice;
  private readonly ctxOwned: GPUBuffer[] = [];
  private readonly tensors = new Map<GpuTensor, GPUBuffer>();
  private readonly bound = new Map<KernelProgram, BoundEntry[]>();
  /** Completion of the submissions made through `submit` that may still be running, oldest first. */
  private inFlight: Promise<unknown>[] = [];

  constructor(readonly gpu: GpuContext, readonly pipelines: PipelineCache = new PipelineCache(gpu.device)) {
    this.device = gpu.device;
    this.ctx = makeBuildContext(gpu, pipelines, this.ctxOwned);
  }

  /** A fresh float32 tensor (contents undefined until written or computed). */
  alloc(shape: readonly number[], label = 'compute'): GpuTensor {
    const size = sizeOf(shape) * 4;
    const buffer = this.device.createBuffer({ label, size: Math.max(16, Math.ceil(size / 16) * 16), usage: USAGE() });
    const t: GpuTensor = { buffer, offset: 0, size: Math.max(4, size), shape: [...shape] };
    this.tensors.set(t, buffer);
    return t;
  }

  /** `alloc` + `write`. */
  upload(data: Float32Array | Uint32Array, shape: readonly number[] = [data.length], label?: string): GpuTensor {
    const t = this.alloc(shape, label);
    this.write(t, data);
    return t;
  }

  /** Frees a tensor made by `alloc` (and every cached binding that uses it). Tensors it did not make are ignored. */
  release(t: GpuTensor): void {
    const buf = this.tensors.get(t);
    if (!buf) return;
    this.tensors.delete(t);
    const id = bufferId(buf);
    for (const [prog, list] of this.bound) {
      const keep = list.filter((e) => !e.ids.has(id));
      for (const e of list) if (!keep.includes(e)) freeEntry(e);
      if (keep.length) this.bound.set(prog, keep); else this.bound.delete(prog);
    }
    buf.destroy();
  }

  /**
   * Records `program` on `io` into `encoder` (one compute pass), or submits it at once when no
   * encoder is given. Bind groups are made once per (program, tensors) pair and reused, so build a
   * program once per shape and run it many times; `forget` frees one that will not run again.
   */
  run(program: KernelProgram, io: ComputeIO, encoder?: GPUCommandEncoder): void {
    const entry = this.bind(program, io);
    const enc = encoder ?? this.device.createCommandEncoder();
    const pass = enc.beginComputePass({ label: entry.bound[0]?.label });
    encodeDispatches(pass, entry.bound);
    pass.end();
    if (!encoder) this.device.queue.submit([enc.finish()]);
  }

  /** Frees the bind groups, uniforms and scratch of a program. Call only after its work was submitted. */
  forget(program: KernelProgram): void {
    for (const e of this.bound.get(program) ?? []) freeEntry(e);
    this.bound.delete(program);
  }

  /**
   * Submits an encoder's work, then waits until at most `depth` of the submissions made here are
   * unfinished. Why: the methods' batch loops encode far faster than the GPU runs the batches; a
   * deep queue delays cancellation by its whole length (minutes on a software adapter) and pins
   * memory, while two in flight keep the GPU busy as the host encodes the next batch.
   */
  async submit(encoder: GPUCommandEncoder, depth = 2): Promise<void> {
    this.device.queue.submit([encoder.finish()]);
    // A rejection (lost device) surfaces through throwIfDeviceFailed, not as an unhandled promise.
    this.inFlight.push(this.device.queue.onSubmittedWorkDone().catch(() => undefined));
    while (this.inFlight.length > depth) await this.inFlight.shift();
  }

  /** Waits for all submitted work. */
  async drain(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    this.inFlight = [];
    throwIfDeviceFailed(this.gpu);
  }

  /** Reads a tensor back (waits for all submitted work that writes it). */
  async read(t: GpuTensor): Promise<Float32Array> {
    const [r] = await readFloats(this.device, [t]);
    throwIfDeviceFailed(this.gpu);
    return r!;
  }

  /** Uploads floats (or raw u32 words, for index lists) into a tensor's range. */
  write(t: GpuTensor, data: Float32Array | Uint32Array, elementOffset = 0): void {
    const copy = data.buffer instanceof ArrayBuffer ? data : data.slice();
    const bytes = Math.min(t.size - elementOffset * 4, copy.byteLength);
    if (bytes <= 0) return;
    this.device.queue.writeBuffer(t.buffer, t.offset + elementOffset * 4, copy.buffer, copy.byteOffset, bytes);
  }

  /** Fills a tensor with one value (NaN to poison outputs in tests, 0 to clear accumulators). */
  fill(t: GpuTensor, value: number): void {
    this.write(t, new Float32Array(t.size / 4).fill(value));
  }

  /** Frees every tensor, binding and build-time buffer this instance made. */
  destroy(): void {
    for (const list of this.bound.values()) for (const e of list) freeEntry(e);
    this.bound.clear();
    for (const b of this.tensors.values()) b.destroy();
    this.tensors.clear();
    for (const b of this.ctxOwned) b.destroy();
    this.ctxOwned.length = 0;
  }

  private bind(program: KernelProgram, io: ComputeIO): BoundEntry {
    const rk = (t: GpuTensor) => `b${bufferId(t.buffer)}:${t.offset}:${t.size}`;
    const key = `${io.inputs.map(rk).join(',')}|${io.outputs.map(rk).join(',')}`;
    let list = this.bound.get(program);
    const hit = list?.find((e) => e.key === key);
    if (hit) return hit;
    const owned: GPUBuffer[] = [];
    const scratch = (program.scratchBytes ?? []).map((b, i) => this.device.createBuffer({ label: `scratch${i}`, size: Math.max(16, Math.ceil(b / 16) * 16), usage: USAGE() }));
    const missing = (kind: string, i: number): never => { throw new Error(`program binds ${kind} ${i}, which was not given`); };
    const bound = bindProgram(this.device, program, {
      input: (i) => io.inputs[i] ?? missing('input', i),
      output: (i) => io.outputs[i] ?? missing('output', i),
      scratch: (i) => ({ buffer: scratch[i]!, offset: 0, size: scratch[i]!.size }),
    }, owned);
    const ids = new Set([...io.inputs, ...io.outputs].map((t) => bufferId(t.buffer)));
    const entry: BoundEntry = { key, ids, bound, owned, scratch };
    if (!list) { list = []; this.bound.set(program, list); }
    list.push(entry);
    return entry;
  }
}

function freeEntry(e: BoundEntry): void {
  for (const b of e.owned) b.destroy();
  for (const b of e.scratch) b.destroy();
}
