/**
 * A forward pass over a batch too large for one plan: an ExecutionPlan built at a smaller chunk
 * runs once per chunk, with the chunk's rows copied in from full-batch input tensors and its
 * outputs (and kept tensors) copied out into full-batch tensors. Callers see a plan at the full
 * batch; the cost is the copies, one read and one write of every input, output and kept row.
 */
import type { SpecializedGraph } from './specialize.js';
import type { GpuContext } from './device.js';
import type { BatchPlan, ExecutionPlan, GpuTensor, PlannedDispatch } from './plan.js';
import { sizeOf } from './tensor.js';
import { GraphError } from './errors.js';

/** How a batch is cut: `count` chunks of `size` rows, the last one possibly shorter. */
export interface ChunkLayout { count: number; size: number }

/**
 * Even chunks of at most `maxChunk` rows: n = ceil(batch / maxChunk), size = ceil(batch / n). Even
 * chunks keep the last one from being mostly idle (batch 33 at most 32 runs 17 + 16, not 32 + 1).
 */
export function evenChunks(batch: number, maxChunk: number): ChunkLayout {
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch must be a positive integer, got ${batch}`);
  if (!Number.isInteger(maxChunk) || maxChunk < 1) throw new RangeError(`maxChunk must be a positive integer, got ${maxChunk}`);
  const count = Math.ceil(batch / Math.min(maxChunk, batch));
  return { count, size: Math.ceil(batch / count) };
}

/** The rows [start, start + rows) of each chunk of `layout` over `batch` rows. */
export function chunkRanges(batch: number, layout: ChunkLayout): { start: number; rows: number }[] {
  const out: { start: number; rows: number }[] = [];
  for (let start = 0; start < batch; start += layout.size) out.push({ start, rows: Math.min(layout.size, batch - start) });
  return out;
}

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

interface Row { name: string; full: GpuTensor; inner: GpuTensor; rowBytes: number }

/** A plan for a batch over the device's limits: a smaller plan recorded once per chunk. */
export class SplitPlan implements BatchPlan {
  private readonly full = new Map<string, GpuTensor>();
  private readonly owned: GPUBuffer[] = [];
  private readonly ins: Row[] = [];
  private readonly outs: Row[] = [];
  private readonly ranges: { start: number; rows: number }[];
  readonly bytes: number;

  /**
   * `inner` runs the same graph at `inner.batch` rows; `graph` is the graph at `batch` (shapes of
   * the full tensors). `outputs` are the output and kept tensor names to gather. Every input,
   * output and kept tensor must carry the batch in dimension 0 (the caller checks row independence).
   */
  constructor(gpu: GpuContext, readonly graph: SpecializedGraph, readonly inner: ExecutionPlan, readonly batch: number, outputs: readonly string[]) {
    this.ranges = chunkRanges(batch, { count: Math.ceil(batch / inner.batch), size: inner.batch });
    let bytes = 0;
    try {
      const make = (name: string): Row | undefined => {
        if (!inner.has(name)) return undefined; // a constant output: no storage, read from graph.constants
        const shape = graph.shapes.get(name);
        const t = inner.tensor(name);
        if (!shape || shape[0] !== batch || t.shape[0] !== inner.batch || sizeOf(shape) / batch !== sizeOf(t.shape) / inner.batch) {
          throw new GraphError(`cannot split tensor '${name}' over the batch: [${shape?.join(', ')}] at batch ${batch}, [${t.shape.join(', ')}] at ${inner.batch}`);
        }
        let f = this.full.get(name);
        if (!f) {
          const size = sizeOf(shape) * 4;
          // Full tensors are only copied from and to, never bound, so only the buffer size limits them.
          const maxBuffer = Number(gpu.device.limits.maxBufferSize);
          if (size > maxBuffer) throw new GraphError(`tensor '${name}' [${shape.join(', ')}] needs ${size} bytes at batch ${batch}, over the device's buffer size limit (${maxBuffer} bytes); use a smaller batch`);
          const buffer = gpu.device.createBuffer({ label: `full:${name}`, size: Math.max(16, Math.ceil(size / 16) * 16), usage: STORAGE() });
          this.owned.push(buffer);
          bytes += buffer.size;
          f = { buffer, offset: 0, size, shape: [...shape] };
          this.full.set(name, f);
        }
        return { name, full: f, inner: t, rowBytes: (sizeOf(t.shape) * 4) / inner.batch };
      };
      for (const n of graph.inputNames) { const r = make(n); if (r) this.ins.push(r); }
      for (const n of new Set(outputs)) { const r = make(n); if (r) this.outs.push(r); }
    } catch (e) {
      this.destroy();
      throw e;
    }
    this.bytes = bytes + inner.bytes;
  }

  get chunk(): number { return this.inner.batch; }
  get dispatches(): readonly PlannedDispatch[] { return this.inner.dispatches; }

  tensor(name: string): GpuTensor {
    const t = this.full.get(name);
    if (!t) throw new GraphError(`tensor '${name}' is not kept by this plan (ask for it in 'keep')`);
    return { ...t, shape: [...t.shape] };
  }

  has(name: string): boolean { return this.full.has(name); }

  /**
   * Per chunk: copy its input rows in, run the inner plan, copy its output rows out. Only the valid
   * rows of the last chunk move; the inner plan's rows past them hold the previous chunk's values,
   * which are computed on and never copied out. WebGPU orders copies and passes within an encoder.
   */
  encode(encoder: GPUCommandEncoder, rows = this.batch): void {
    for (const { start, rows: n } of this.ranges) {
      if (start >= rows) break;
      for (const r of this.ins) encoder.copyBufferToBuffer(r.full.buffer, r.full.offset + start * r.rowBytes, r.inner.buffer, r.inner.offset, n * r.rowBytes);
      this.inner.encode(encoder);
      for (const r of this.outs) encoder.copyBufferToBuffer(r.inner.buffer, r.inner.offset, r.full.buffer, r.full.offset + start * r.rowBytes, n * r.rowBytes);
    }
  }

  destroy(): void {
    this.inner.destroy();
    for (const b of this.owned) b.destroy();
    this.owned.length = 0;
    this.full.clear();
  }
}

/**
 * Why a batch of this graph cannot be computed chunk by chunk, or undefined when it can. `atBatch`
 * and `atChunk` are the same graph specialised at `batch` and at `chunk` rows. A split is sound
 * only if each row's results depend on that row alone: every computed tensor must carry the batch
 * in dimension 0 at both sizes with the same row shape (a reduction, concatenation, transpose or
 * reshape across rows changes dimension 0 and is caught here), and no softmax may run along
 * dimension 0 (the one common row-mixing op that keeps the shape).
 */
export function splitObstacle(atBatch: SpecializedGraph, atChunk: SpecializedGraph, batch: number, chunk: number): string | undefined {
  for (const [name, s] of atBatch.shapes) {
    if (atBatch.constants.has(name)) continue;
    const c = atChunk.shapes.get(name);
    if (!c || atChunk.constants.has(name)) return `tensor '${name}' is computed at batch ${batch} but not at ${chunk}`;
    const rowsMatch = s.length === c.length && s.length > 0 && s[0] === batch && c[0] === chunk && s.every((d, k) => k === 0 || d === c[k]);
    if (!rowsMatch) return `tensor '${name}' does not carry the batch in dimension 0 ([${s.join(', ')}] at batch ${batch}, [${c.join(', ')}] at ${chunk})`;
  }
  for (const { node, inputs } of atBatch.nodes) {
    if (node.opType !== 'Softmax' && node.opType !== 'LogSoftmax' && node.opType !== 'Hardmax') continue;
    const rank = inputs[0]?.shape.length ?? 0;
    const raw = node.attrs.axis;
    // The default axis (1 before opset 13, -1 since) is 0 only for a rank-1 tensor, where -1 is.
    const axis = typeof raw === 'number' ? raw : -1;
    if (rank > 0 && (axis + rank) % rank === 0) return `node '${node.name}' (${node.opType}) normalises across the batch (axis 0)`;
  }
  return undefined;
}
