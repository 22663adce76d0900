/// <reference types="@webgpu/types" preserve="true" />
/**
 * Node entry point: acquires a WebGPU device through Dawn (the `webgpu` npm package) and re-exports
 * the library. It and image-io.ts (file reading, PNG and JPEG codecs) are the only modules under src/
 * that import Node built-ins; only this entry reaches them.
 *
 * `webgpu` is an optional peer dependency (its Dawn binaries are 130 MB, useless to browser-only
 * users), so it is imported on the first createNodeGpu() call, not at module load.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ExternalDataSource } from './runtime/external-data.js';
import { Model, type LoadOptions } from './runtime/model.js';
import { createGpuContext, type DeviceOptions, type GpuContext } from './runtime/device.js';
import { DeviceError } from './runtime/errors.js';
import { mergeTuningFile, parseTuningFile, type TuningStore } from './runtime/tuning-cache.js';

let dawn: GPU | undefined;
// Dawn crashes if the object returned by create() is collected while a device lives: keep it forever.
const keepAlive: unknown[] = [];

/**
 * The folder for cached kernel choices: `$WEBGPU_XAI_CACHE_DIR`, else `$XDG_CACHE_HOME/webgpu-xai`,
 * else `~/.cache/webgpu-xai`.
 */
export function defaultCacheDir(): string {
  return process.env.WEBGPU_XAI_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'webgpu-xai');
}

/**
 * Kernel-tuning choices in one JSON file shared by every adapter of the machine. Each save re-reads
 * the file and merges (several processes may tune at once) and replaces it by rename, so a reader
 * never sees half a file.
 */
export function fileTuningStore(path = join(defaultCacheDir(), 'tuning.json')): TuningStore {
  const read = async () => parseTuningFile(await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  }));
  return {
    where: path,
    async load(adapterKey) { return (await read()).adapters[adapterKey]?.entries; },
    async save(adapterKey, entries, adapterName) {
      const merged = mergeTuningFile(await read(), adapterKey, adapterName, entries);
      await mkdir(join(path, '..'), { recursive: true });
      const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
      await writeFile(tmp, JSON.stringify(merged, null, 1));
      await rename(tmp, path);
    },
  };
}

/** The `webgpu` package is not installed: Node has no WebGPU without it. */
export class WebGpuMissingError extends DeviceError {}

async function importDawn(): Promise<{ create: (flags: string[]) => unknown; globals: object }> {
  try {
    return await import('webgpu');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes("'webgpu'")) {
      throw new WebGpuMissingError("WebGPU in Node needs the 'webgpu' package (Dawn), an optional peer dependency of webgpu-xai: run `npm install webgpu`", { cause: e });
    }
    throw new DeviceError(`cannot load the 'webgpu' package: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * A GPU context on the first Dawn adapter. Kernel choices persist in {@link fileTuningStore}
 * unless `opts.tuningStore` says otherwise. Call `ctx.destroy()` when done so Node can exit.
 */
export async function createNodeGpu(opts: DeviceOptions = {}): Promise<GpuContext> {
  if (!dawn) {
    const { create, globals } = await importDawn();
    process.env.XDG_RUNTIME_DIR ??= '/tmp';
    Object.assign(globalThis, globals);
    dawn = create([]) as GPU;
    keepAlive.push(dawn);
  }
  return createGpuContext(dawn, { ...opts, tuningStore: opts.tuningStore === undefined ? fileTuningStore() : opts.tuningStore });
}

/** Reads a file as bytes (for model paths). */
export async function readBytes(path: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(path));
}

/**
 * External-data files read from `dir`, the model's folder (locations are relative to it); a file
 * that is not there is reported by the loader as an ExternalDataError naming it.
 */
export function externalFilesIn(dir: string): ExternalDataSource {
  return (location) => {
    try {
      return new Uint8Array(readFileSync(join(dir, location)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  };
}

/** Loads an ONNX file, with any external-data files beside it. */
export async function loadModelFile(path: string, opts: LoadOptions): Promise<Model> {
  return Model.load(await readBytes(path), { externalData: externalFilesIn(dirname(path)), ...opts });
}

export { decodeImage, readImage, encodePng, ImageDecodeError } from './image-io.js';
// The overlay helpers live in their own entry ('webgpu-xai/overlay') so browser bundles of the
// main entry do not carry the bitmap font and colour maps; Node users get them here too.
export * from './render.js';
export * from './index.js';
