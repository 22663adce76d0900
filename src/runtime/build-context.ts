import type { BuildContext } from '../kernels/types.js';
import type { GpuContext } from './device.js';
import type { PipelineCache } from './pipeline-cache.js';

/** The BuildContext kernels see; buffers it creates are recorded in `owned` for release. */
export function makeBuildContext(gpu: GpuContext, cache: PipelineCache, owned: GPUBuffer[]): BuildContext {
  return {
    device: gpu.device,
    traits: gpu.traits,
    pipeline: (wgsl, entryPoint) => cache.get(wgsl, entryPoint),
    constBuffer: (data, label) => {
      const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
      const buf = gpu.device.createBuffer({ label, size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, mappedAtCreation: true });
      new Float32Array(buf.getMappedRange()).set(data);
      buf.unmap();
      owned.push(buf);
      return buf;
    },
  };
}
