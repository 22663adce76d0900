/**
 * The integer ranges kernel uniforms hold. Sizes, strides and offsets reach WGSL as i32 or u32
 * words; a value outside silently wraps when written into an Int32Array/Uint32Array, so every
 * integer that can get there is checked against these bounds first (attributes at load by
 * validate.ts, inferred shapes by specialize.ts, derived window geometry by the kernels).
 */
import { GraphError } from './errors.js';

export const I32_MAX = 2 ** 31 - 1;
export const I32_MIN = -(2 ** 31);
/** Elements one tensor may hold: indices are u32 in the kernels. */
export const MAX_ELEMENTS = 2 ** 32 - 1;

export function fitsI32(v: number): boolean {
  return Number.isInteger(v) && v >= I32_MIN && v <= I32_MAX;
}

/** Throws a GraphError naming the node and quantity when any value does not fit an i32. */
export function checkI32(node: { name: string; opType: string }, what: string, values: readonly number[]): void {
  const bad = values.find((v) => !fitsI32(v));
  if (bad !== undefined) {
    throw new GraphError(`node '${node.name}' (${node.opType}): ${what} ${bad} is outside the 32-bit integer range the kernels hold`);
  }
}

/** Throws a GraphError when a tensor shape has a dimension or element count the kernels cannot index. */
export function checkShape(node: { name: string; opType: string }, tensor: string, shape: readonly number[]): void {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0 || d > I32_MAX) {
      throw new GraphError(`node '${node.name}' (${node.opType}): output '${tensor}' has dimension ${d} (shape [${shape.join(',')}]), outside 0..${I32_MAX}`);
    }
    n *= d;
  }
  if (n > MAX_ELEMENTS) {
    throw new GraphError(`node '${node.name}' (${node.opType}): output '${tensor}' has ${n} elements (shape [${shape.join(',')}]), more than the ${MAX_ELEMENTS} the kernels can index`);
  }
}
