/**
 * Node entry point: acquires a WebGPU device through Dawn (the `webgpu` npm package) and re-exports
 * the library. The only module under src/ that imports Node built-ins.
 */
import { create, globals } from 'webgpu';
import { readFile } from 'node:fs/promises';
import { createGpuContext, type DeviceOptions, type GpuContext } from './runtime/device.js';

let dawn: GPU | undefined;
// Dawn crashes if the object returned by create() is collected while a device lives: keep it forever.
const keepAlive: unknown[] = [];

/** A GPU context on the first Dawn adapter. Call `ctx.destroy()` when done so Node can exit. */
export async function createNodeGpu(opts: DeviceOptions = {}): Promise<GpuContext> {
  if (!dawn) {
    process.env.XDG_RUNTIME_DIR ??= '/tmp';
    Object.assign(globalThis, globals);
    dawn = create([]) as GPU;
    keepAlive.push(dawn);
  }
  return createGpuContext(dawn, opts);
}

/** Reads a file as bytes (for model paths). */
export async function readBytes(path: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(path));
}

export * from './index.js';
