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

/**
 * Sum, min and max over a 64-invocation workgroup (`wgSum(v, lid)` etc.); every invocation of the
 * workgroup must call them in uniform control flow. Declares WG = 64 and a workgroup array.
 */
export const WORKGROUP_REDUCE_64 = /* wgsl */ `
const WG: u32 = 64u;
var<workgroup> red: array<f32, 64>;
fn wgSum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn wgMin(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { red[lid] = min(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn wgMax(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}`;
