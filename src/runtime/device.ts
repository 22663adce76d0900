/**
 * Device acquisition shared by Node and the browser. The Node entry point passes Dawn's GPU object;
 * the browser passes navigator.gpu. Nothing here imports from Node.
 */
import type { AdapterTraits } from '../kernels/types.js';
import { DeviceError } from './errors.js';
import { localStorageTuningStore, type TuningStore } from './tuning-cache.js';

/** A WebGPU device with what the runtime knows about its adapter; `destroy()` releases it. */
export interface GpuContext {
  device: GPUDevice;
  adapterName: string;
  traits: AdapterTraits;
  hasTimestamps: boolean;
  /**
   * Identifies the adapter for cached kernel choices: vendor, architecture, device, description
   * (which carries the driver version), the enabled features and the traits kernels depend on.
   */
  adapterKey: string;
  /** Where the kernel tuner persists its choices for this adapter; undefined: memory only. */
  tuningStore?: TuningStore;
  /** Set when the device was lost; every later submission throws it. */
  lost?: DeviceError;
  /** Validation or out-of-memory errors captured since the last check. */
  errors: DeviceError[];
  destroy(): void;
}

/** How a GPU context is acquired: adapter preference, limits, and where tuned kernel choices persist. */
export interface DeviceOptions {
  powerPreference?: GPUPowerPreference;
  /** Request shader-f16 when the adapter offers it (default true). */
  f16?: boolean;
  /**
   * Where the kernel tuner keeps its choices between processes. Default: localStorage where the
   * page has it; in Node, `createNodeGpu` passes a JSON file under the user's cache folder.
   * `null`: keep choices in memory only.
   */
  tuningStore?: TuningStore | null;
}

/** The cache identity of an adapter (see GpuContext.adapterKey); pure, for tests. */
export function adapterKeyOf(info: { vendor?: string; architecture?: string; device?: string; description?: string }, features: Iterable<string>, traits: AdapterTraits): string {
  return JSON.stringify({
    vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '', description: info.description ?? '',
    features: [...features].sort(),
    subgroup: traits.fixedSubgroupSize ?? 0,
    limits: [traits.maxWorkgroupInvocations, traits.maxWorkgroupStorageBytes, traits.maxStorageBufferBindingSize],
  });
}

function defaultTuningStore(): TuningStore | undefined {
  try {
    const ls = (globalThis as { localStorage?: Storage }).localStorage;
    return ls ? localStorageTuningStore(ls) : undefined;
  } catch {
    // Opaque origins and some privacy modes throw on access: tune in memory only.
    return undefined;
  }
}

/** Kernel-choice facts from an adapter; a pure function so variant selection can be unit-tested. */
export function adapterTraits(info: { vendor?: string; architecture?: string; description?: string; device?: string; isFallbackAdapter?: boolean; subgroupMinSize?: number; subgroupMaxSize?: number },
  limits: GPUSupportedLimits, features: ReadonlySet<string>): AdapterTraits {
  const text = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.description ?? ''} ${info.device ?? ''}`.toLowerCase();
  const isSoftware = info.isFallbackAdapter === true || /swiftshader|llvmpipe|lavapipe|software|microsoft basic/.test(text);
  return {
    isSoftware,
    vendor: info.vendor ?? '',
    maxWorkgroupInvocations: limits.maxComputeInvocationsPerWorkgroup,
    maxWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
    maxWorkgroupStorageBytes: limits.maxComputeWorkgroupStorageSize,
    maxStorageBuffersPerStage: limits.maxStorageBuffersPerShaderStage,
    maxWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
    maxStorageBufferBindingSize: Number(limits.maxStorageBufferBindingSize),
    ...(features.has('subgroups') && info.subgroupMinSize !== undefined && info.subgroupMinSize === info.subgroupMaxSize
      ? { fixedSubgroupSize: info.subgroupMinSize } : {}),
    hasF16: features.has('shader-f16'),
  };
}

const LIMIT_NAMES = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage',
  'maxBindGroups', 'maxUniformBufferBindingSize',
] as const;

/**
 * Requests a device with the adapter's own limits (the spec defaults cap a storage binding at
 * 128 MiB, too small for batched activations) and timestamp-query / shader-f16 / subgroups where
 * offered.
 */
export async function createGpuContext(gpu: GPU, opts: DeviceOptions = {}): Promise<GpuContext> {
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) throw new DeviceError('no WebGPU adapter found (on Linux without a GPU run tools/setup-gpu.sh to install lavapipe)');
  const requiredFeatures: GPUFeatureName[] = [];
  if (adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
  if (opts.f16 !== false && adapter.features.has('shader-f16')) requiredFeatures.push('shader-f16');
  // Software adapters share conv weights between SIMD lanes through subgroupBroadcast.
  if (adapter.features.has('subgroups')) requiredFeatures.push('subgroups' as GPUFeatureName);
  const requiredLimits: Record<string, number> = {};
  for (const k of LIMIT_NAMES) {
    const v = (adapter.limits as unknown as Record<string, number>)[k];
    if (typeof v === 'number') requiredLimits[k] = v;
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  } catch (e) {
    throw new DeviceError(`requestDevice failed: ${(e as Error).message}`, { cause: e });
  }
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean; subgroupMinSize?: number; subgroupMaxSize?: number };
  const fallback = (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const traits = adapterTraits({ ...plainInfo(info), isFallbackAdapter: info.isFallbackAdapter ?? fallback }, device.limits, device.features as ReadonlySet<string>);
  const tuningStore = opts.tuningStore === null ? undefined : opts.tuningStore ?? defaultTuningStore();
  const ctx: GpuContext = {
    device,
    adapterName: [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' ').trim() || 'unknown adapter',
    traits,
    hasTimestamps: device.features.has('timestamp-query'),
    adapterKey: adapterKeyOf(plainInfo(info), device.features as ReadonlySet<string>, traits),
    ...(tuningStore ? { tuningStore } : {}),
    errors: [],
    destroy: () => device.destroy(),
  };
  device.addEventListener('uncapturederror', (ev) => {
    // preventDefault keeps Dawn from also printing the error to stdout.
    ev.preventDefault();
    const err = (ev as GPUUncapturedErrorEvent).error;
    ctx.errors.push(new DeviceError(`GPU error: ${err.message}`));
  });
  void device.lost.then((info) => {
    if (info.reason !== 'destroyed') ctx.lost = new DeviceError(`GPU device lost: ${info.message || info.reason}`);
    else ctx.lost = new DeviceError('GPU device was destroyed');
  });
  return ctx;
}

function plainInfo(info: GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number }) {
  return { vendor: info.vendor, architecture: info.architecture, description: info.description, device: info.device, subgroupMinSize: info.subgroupMinSize, subgroupMaxSize: info.subgroupMaxSize };
}

/**
 * The most bytes one tensor may take on this device: one storage binding, and one buffer. The one
 * definition of the limit that plans, gradient plans and the methods' own tensors are sized by.
 */
export function tensorByteLimit(gpu: GpuContext): number {
  return Math.min(gpu.traits.maxStorageBufferBindingSize, Number(gpu.device.limits.maxBufferSize));
}

/** Throws the first captured device error, if any (and clears the list). */
export function throwIfDeviceFailed(ctx: GpuContext): void {
  if (ctx.lost) throw ctx.lost;
  const e = ctx.errors.shift();
  if (e) { ctx.errors.length = 0; throw e; }
}
