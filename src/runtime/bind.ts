/**
 * Turns a kernel's declared program into ready-to-encode dispatches: binding references become
 * buffer ranges, uniforms become (once-created) uniform buffers, and bind groups are made once.
 */
import type { BindingRef, KernelProgram } from '../kernels/types.js';

export interface BufferRange { buffer: GPUBuffer; offset: number; size: number }

export interface BoundDispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
}

export interface BindingResolver {
  input(index: number): BufferRange;
  output(index: number): BufferRange;
  scratch(index: number): BufferRange;
  gradOutput?(index: number): BufferRange;
  gradInput?(index: number): BufferRange;
}

/** Creates bind groups for every dispatch; uniform buffers it creates are pushed onto `owned`. */
export function bindProgram(device: GPUDevice, prog: KernelProgram, resolve: BindingResolver, owned: GPUBuffer[]): BoundDispatch[] {
  return prog.dispatches.map((d) => {
    const entries: GPUBindGroupEntry[] = d.bindings.map((b, binding) => ({ binding, resource: resourceOf(device, b, resolve, owned) }));
    const bindGroup = device.createBindGroup({ label: d.label, layout: d.pipeline.getBindGroupLayout(0), entries });
    return { label: d.label, pipeline: d.pipeline, bindGroup, workgroups: d.workgroups };
  });
}

function resourceOf(device: GPUDevice, b: BindingRef, resolve: BindingResolver, owned: GPUBuffer[]): GPUBufferBinding {
  if ('input' in b) return rangeBinding(resolve.input(b.input));
  if ('output' in b) return rangeBinding(resolve.output(b.output));
  if ('scratch' in b) return rangeBinding(resolve.scratch(b.scratch));
  if ('buffer' in b) return { buffer: b.buffer };
  if ('gradOutput' in b || 'gradInput' in b) {
    const f = 'gradOutput' in b ? resolve.gradOutput : resolve.gradInput;
    if (!f) throw new Error('a gradient binding outside reverse mode');
    return rangeBinding(f('gradOutput' in b ? b.gradOutput : b.gradInput));
  }
  const bytes = Math.max(16, Math.ceil(b.uniform.byteLength / 16) * 16);
  const buf = device.createBuffer({ size: bytes, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, mappedAtCreation: true });
  new Uint8Array(buf.getMappedRange()).set(new Uint8Array(b.uniform));
  buf.unmap();
  owned.push(buf);
  return { buffer: buf };
}

function rangeBinding(r: BufferRange): GPUBufferBinding {
  return { buffer: r.buffer, offset: r.offset, size: r.size };
}

export function encodeDispatches(pass: GPUComputePassEncoder, list: readonly BoundDispatch[]): void {
  for (const d of list) {
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
  }
}

/** Packs mixed u32/i32/f32 uniform fields into a 16-byte-aligned buffer. Integers must be integral. */
export function packUniform(fields: readonly (number | { f32: number })[]): ArrayBuffer {
  const buf = new ArrayBuffer(Math.max(16, Math.ceil(fields.length / 4) * 16));
  const view = new DataView(buf);
  fields.forEach((f, i) => {
    if (typeof f === 'number') view.setInt32(i * 4, f, true);
    else view.setFloat32(i * 4, f.f32, true);
  });
  return buf;
}
