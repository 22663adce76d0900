/**
 * Splitting a 1-D job over the device's per-dimension workgroup limit. WGSL side: use
 * `flatIndex(gid, nwg)` from src/wgsl/common.ts with the x-extent passed in.
 */
import { BatchTooLargeError } from '../runtime/errors.js';

export function grid1d(items: number, workgroupSize: number, maxPerDim: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(items / workgroupSize));
  if (groups <= maxPerDim) return [groups, 1, 1];
  const y = Math.ceil(groups / maxPerDim);
  const x = Math.ceil(groups / y);
  if (y > maxPerDim) throw new BatchTooLargeError(`job of ${items} items exceeds the device's dispatch limits`);
  return [x, y, 1];
}
