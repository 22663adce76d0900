/**
 * Softmax / LogSoftmax over one axis, numerically stable (the row maximum is subtracted first).
 * The tensor is viewed as [outer, len, inner] with the reduced axis in the middle.
 * - `rows` (inner == 1, long rows): one workgroup per row, a tree reduction in workgroup memory.
 * - `strided`: one invocation per (outer, inner) pair walking the axis; adjacent invocations read
 *   adjacent addresses, and short rows need no barriers.
 */
import { FLAT_INDEX } from './common.js';

function finish(log: boolean): string {
  return log ? 'x - m - log(s)' : 'exp(x - m) / s';
}

/** Uniform: rows, len (x, y). Dispatch one workgroup per row on a 2-D grid. */
export function softmaxRowsWgsl(log: boolean, wg: number): string {
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> u: vec4<u32>;
var<workgroup> part: array<f32, ${wg}>;

fn reduceMax(t: u32) -> f32 {
  for (var w = ${wg}u / 2u; w > 0u; w = w / 2u) {
    if (t < w) { part[t] = max(part[t], part[t + w]); }
    workgroupBarrier();
  }
  let r = part[0];
  workgroupBarrier();
  return r;
}

fn reduceSum(t: u32) -> f32 {
  for (var w = ${wg}u / 2u; w > 0u; w = w / 2u) {
    if (t < w) { part[t] = part[t] + part[t + w]; }
    workgroupBarrier();
  }
  let r = part[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let row = wid.y * nwg.x + wid.x;
  // Every invocation of a workgroup shares the row, so this exit is uniform.
  if (row >= u.x) { return; }
  let len = u.y;
  let base = row * len;
  var lm = -3.4028234e38;
  for (var k = t; k < len; k += ${wg}u) { lm = max(lm, src[base + k]); }
  part[t] = lm;
  workgroupBarrier();
  let m = reduceMax(t);
  var ls = 0.0;
  for (var k = t; k < len; k += ${wg}u) { ls += exp(src[base + k] - m); }
  part[t] = ls;
  workgroupBarrier();
  let s = reduceSum(t);
  for (var k = t; k < len; k += ${wg}u) {
    let x = src[base + k];
    dst[base + k] = ${finish(log)};
  }
}
`;
}

/** Uniform: count = outer * inner, len, inner (x, y, z). */
export function softmaxStridedWgsl(log: boolean, wg: number): string {
  return /* wgsl */ `${FLAT_INDEX}
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> u: vec4<u32>;

@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, ${wg}u);
  if (i >= u.x) { return; }
  let len = u.y;
  let inner = u.z;
  let base = (i / inner) * len * inner + i % inner;
  var m = -3.4028234e38;
  for (var k = 0u; k < len; k++) { m = max(m, src[base + k * inner]); }
  var s = 0.0;
  for (var k = 0u; k < len; k++) { s += exp(src[base + k * inner] - m); }
  for (var k = 0u; k < len; k++) {
    let x = src[base + k * inner];
    dst[base + k * inner] = ${finish(log)};
  }
}
`;
}

/**
 * Backward of Softmax (`u.w` = 0): gx += y·(gy − Σ gy·y), and LogSoftmax (`u.w` = 1):
 * gx += gy − exp(y)·Σ gy, from the forward output only. One invocation per (outer, inner) row
 * walks the axis twice, so every element is written once. Uniform: count, len, inner, log.
 */
export function softmaxGradWgsl(wg: number): string {
  return /* wgsl */ `${FLAT_INDEX}
@group(0) @binding(0) var<storage, read> yv: array<f32>;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;
@group(0) @binding(3) var<uniform> u: vec4<u32>;

@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, ${wg}u);
  if (i >= u.x) { return; }
  let len = u.y;
  let inner = u.z;
  let isLog = u.w == 1u;
  let base = (i / inner) * len * inner + i % inner;
  var s = 0.0;
  for (var k = 0u; k < len; k++) {
    let o = base + k * inner;
    s += select(gy[o] * yv[o], gy[o], isLog);
  }
  for (var k = 0u; k < len; k++) {
    let o = base + k * inner;
    let y = yv[o];
    gx[o] = gx[o] + select(y * (gy[o] - s), gy[o] - exp(y) * s, isLog);
  }
}
`;
}
