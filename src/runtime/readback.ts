/** Reading GPU buffers back to the host: the only place the runtime maps buffers for reading. */
import type { BufferRange } from './bind.js';

export async function readFloats(device: GPUDevice, ranges: readonly BufferRange[]): Promise<Float32Array[]> {
  const total = ranges.reduce((s, r) => s + r.size, 0);
  const staging = device.createBuffer({ size: Math.max(4, total), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const enc = device.createCommandEncoder();
    let off = 0;
    for (const r of ranges) { if (r.size) enc.copyBufferToBuffer(r.buffer, r.offset, staging, off, r.size); off += r.size; }
    device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const all = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    const out: Float32Array[] = [];
    off = 0;
    for (const r of ranges) { out.push(all.slice(off / 4, (off + r.size) / 4)); off += r.size; }
    return out;
  } finally {
    staging.destroy();
  }
}

/** Uploads floats into a range; copies views on SharedArrayBuffer first (Dawn rejects them). */
export function writeFloats(device: GPUDevice, range: BufferRange, data: Float32Array): void {
  const src = data.buffer instanceof ArrayBuffer ? data : new Float32Array(data);
  device.queue.writeBuffer(range.buffer, range.offset, src.buffer, src.byteOffset, Math.min(range.size, src.byteLength));
}
