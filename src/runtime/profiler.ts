/**
 * Per-kernel GPU time. With `timestamp-query` every dispatch runs in its own compute pass with
 * begin/end timestamps. Without it (documented fallback) each dispatch is submitted alone and timed
 * by the host between submission and onSubmittedWorkDone, which adds submission overhead.
 */
import type { PlannedDispatch } from './plan.js';
import type { GpuContext } from './device.js';

/** GPU time of one dispatch of a profiled pass. */
export interface KernelTiming { node: string; opType: string; label: string; startMs: number; durationMs: number }

/** GPU time of all dispatches of one operator type. */
export interface OpTimeRow { opType: string; dispatches: number; totalMs: number; share: number }

/** GPU time per kernel of one pass (timestamp queries, or wall time per dispatch). */
export interface Profile {
  /** How the times were measured. */
  method: 'timestamp-query' | 'host-timer';
  adapter: string;
  kernels: KernelTiming[];
  totalMs: number;
  /** Time per op type, largest first. */
  byOp: OpTimeRow[];
}

export async function profileDispatches(gpu: GpuContext, dispatches: readonly PlannedDispatch[], prelude?: (enc: GPUCommandEncoder) => void): Promise<Profile> {
  const { device } = gpu;
  const kernels: KernelTiming[] = [];
  if (gpu.hasTimestamps && dispatches.length > 0) {
    const count = dispatches.length * 2;
    const querySet = device.createQuerySet({ type: 'timestamp', count });
    const resolve = device.createBuffer({ size: count * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: count * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      const enc = device.createCommandEncoder();
      prelude?.(enc);
      dispatches.forEach((d, i) => {
        const pass = enc.beginComputePass({ label: d.label, timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
        pass.setPipeline(d.pipeline);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(...d.workgroups);
        pass.end();
      });
      enc.resolveQuerySet(querySet, 0, count, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, read, 0, count * 8);
      device.queue.submit([enc.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      const t = new BigUint64Array(read.getMappedRange().slice(0));
      read.unmap();
      const t0 = t[0]!;
      dispatches.forEach((d, i) => {
        const a = Number(t[2 * i]! - t0) / 1e6;
        const b = Number(t[2 * i + 1]! - t0) / 1e6;
        kernels.push({ node: d.node, opType: d.opType, label: d.label, startMs: a, durationMs: Math.max(0, b - a) });
      });
    } finally {
      querySet.destroy(); resolve.destroy(); read.destroy();
    }
    return summarise('timestamp-query', gpu.adapterName, kernels);
  }
  if (prelude) { const enc = device.createCommandEncoder(); prelude(enc); device.queue.submit([enc.finish()]); await device.queue.onSubmittedWorkDone(); }
  const origin = performance.now();
  for (const d of dispatches) {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(d.pipeline); pass.setBindGroup(0, d.bindGroup); pass.dispatchWorkgroups(...d.workgroups);
    pass.end();
    const start = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    kernels.push({ node: d.node, opType: d.opType, label: d.label, startMs: start - origin, durationMs: performance.now() - start });
  }
  return summarise('host-timer', gpu.adapterName, kernels);
}

function summarise(method: Profile['method'], adapter: string, kernels: KernelTiming[]): Profile {
  const totalMs = kernels.reduce((s, k) => s + k.durationMs, 0);
  const rows = new Map<string, OpTimeRow>();
  for (const k of kernels) {
    const r = rows.get(k.opType) ?? { opType: k.opType, dispatches: 0, totalMs: 0, share: 0 };
    r.dispatches++; r.totalMs += k.durationMs;
    rows.set(k.opType, r);
  }
  const byOp = [...rows.values()].map((r) => ({ ...r, share: totalMs ? r.totalMs / totalMs : 0 })).sort((a, b) => b.totalMs - a.totalMs);
  return { method, adapter, kernels, totalMs, byOp };
}

/** Chrome trace-event JSON (chrome://tracing, Perfetto): one complete event per dispatch. */
export function chromeTrace(p: Profile): string {
  const events = p.kernels.map((k) => ({ name: `${k.opType} ${k.node}`, cat: k.opType, ph: 'X', ts: k.startMs * 1000, dur: k.durationMs * 1000, pid: 1, tid: 1, args: { dispatch: k.label } }));
  return JSON.stringify({ traceEvents: [{ name: 'process_name', ph: 'M', pid: 1, args: { name: `webgpu-xai (${p.adapter}, ${p.method})` } }, ...events], displayTimeUnit: 'ms' });
}

/** A Markdown table of time per op type. */
export function profileTable(p: Profile): string {
  const lines = ['| op | dispatches | GPU ms | share |', '|---|---:|---:|---:|'];
  for (const r of p.byOp) lines.push(`| ${r.opType} | ${r.dispatches} | ${r.totalMs.toFixed(3)} | ${(r.share * 100).toFixed(1)}% |`);
  lines.push(`| **total** | ${p.kernels.length} | ${p.totalMs.toFixed(3)} | 100% |`);
  return lines.join('\n');
}
