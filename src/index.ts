/**
 * webgpu-xai: the browser-safe public surface. Node users import 'webgpu-xai/node', which adds
 * device acquisition through Dawn and file reading.
 */
export * from './runtime/errors.js';
export { createGpuContext, type GpuContext, type DeviceOptions } from './runtime/device.js';
export type { HostTensor, DType } from './runtime/tensor.js';
