/**
 * WGSL fragments shared by several kernels. Kernel sources are TypeScript template strings so the
 * library bundles for browsers without a loader for .wgsl files.
 */

/**
 * Flat invocation index for a 1-D job dispatched as a 2-D grid (see kernels/dispatch-size.ts):
 * `flatIndex(gid, nwg, WG)` where nwg is @builtin(num_workgroups) and WG the workgroup size.
 */
export const FLAT_INDEX = /* wgsl */ `
fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>, wg: u32) -> u32 {
  return gid.y * nwg.x * wg + gid.x;
}`;
