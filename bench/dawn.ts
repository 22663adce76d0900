/**
 * Dawn for the peers that find WebGPU through `navigator.gpu` (onnxruntime-web, TensorFlow.js):
 * one permanent `create()` result (Dawn crashes if it is collected while a device lives), a
 * `navigator` shim, and queue.writeBuffer given non-shared copies (Dawn rejects views on a
 * SharedArrayBuffer, which onnxruntime-web's threaded wasm memory is).
 */
import { create, globals } from 'webgpu';

const keep: unknown[] = [];
let gpu: GPU | undefined;

export function dawnGpu(): GPU {
  if (gpu) return gpu;
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  Object.assign(globalThis, globals);
  gpu = create([]) as GPU;
  keep.push(gpu);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: `Node.js ${process.version}` }, configurable: true, writable: true });
  patchWriteBuffer();
  return gpu;
}

function patchWriteBuffer(): void {
  const Q = (globals as unknown as { GPUQueue: { prototype: GPUQueue } }).GPUQueue.prototype;
  const original = Q.writeBuffer as (...a: unknown[]) => void;
  if ((original as { __benchPatched?: boolean }).__benchPatched) return;
  const patched = function (this: GPUQueue, buffer: GPUBuffer, offset: number, data: BufferSource | SharedArrayBuffer, dataOffset?: number, size?: number) {
    const shared = data instanceof SharedArrayBuffer || (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer);
    if (!shared) return original.call(this, buffer, offset, data, dataOffset, size);
    const view = ArrayBuffer.isView(data) ? data : new Uint8Array(data);
    const el = 'BYTES_PER_ELEMENT' in view ? (view as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT : 1;
    const start = (dataOffset ?? 0) * el;
    const n = size !== undefined ? size * el : view.byteLength - start;
    const copy = new Uint8Array(n);
    copy.set(new Uint8Array(view.buffer, view.byteOffset + start, n));
    return original.call(this, buffer, offset, copy);
  };
  (patched as { __benchPatched?: boolean }).__benchPatched = true;
  Q.writeBuffer = patched as GPUQueue['writeBuffer'];
}
