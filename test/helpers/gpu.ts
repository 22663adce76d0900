import { createNodeGpu } from '../../src/node.js';
import type { GpuContext } from '../../src/runtime/device.js';

let shared: Promise<GpuContext> | undefined;
/** One device per test file (vitest isolates files); reused by every test in the file. */
export function testGpu(): Promise<GpuContext> {
  shared ??= createNodeGpu();
  return shared;
}
