/**
 * Data-movement kernels. One strided copy serves Concat, Split, Transpose, Slice, Expand and Tile;
 * Pad and Gather have their own. Shapes and strides are uniforms (rank <= 6), so each source is one
 * pipeline for every op and shape that uses it.
 */
import { FLAT_INDEX } from './common.js';

/** Workgroup size of the layout kernels. */
export const LAYOUT_WG = 128;
/** Largest rank the layout kernels handle (after merging contiguous dims). */
export const LAYOUT_MAX_RANK = 6;

/**
 * Strided copy over an iteration space of the given rank (<= 6). For iteration coordinate c:
 * src = srcBase + sum (c_k % srcDim_k) * srcStride_k, dst = dstBase + sum c_k * dstStride_k.
 * The modulo gives Tile; a zero or negative stride gives broadcast and reversed slices.
 * Uniform layout (i32 slots): [0] total, [1] srcBase, [2] dstBase, [3] rank, [4..9] iteration
 * dims, [12..17] source dims, [20..25] source strides, [28..33] destination strides.
 * `vec4` moves vec4s (about 2.5x the bandwidth on lavapipe); the plan is then in units of 4
 * floats, which the host arranges only when every stride and base is a multiple of 4.
 *
 * The rank is baked in and the per-dim loop unrolled so every uniform read has a constant
 * offset: software adapters read a uniform at a computed offset lane by lane (a scalar loop per
 * read), which made a loop over dims cost 5x the copy itself (SqueezeNet's Concats on lavapipe).
 */
export function stridedCopyWgsl(vec4: boolean, rank: number): string {
  const elem = vec4 ? 'vec4<f32>' : 'f32';
  const dims = [...Array(rank).keys()].reverse().map((k) => `
  {
    let n = P(${4 + k});
    let c = rem % n;
    rem = rem / n;
    s += (c % P(${12 + k})) * P(${20 + k});
    d += c * P(${28 + k});
  }`).join('');
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<${elem}>;
@group(0) @binding(1) var<storage, read_write> y: array<${elem}>;
@group(0) @binding(2) var<uniform> u: array<vec4<i32>, 9>;
${FLAT_INDEX}
fn P(k: i32) -> i32 { return u[k >> 2u][k & 3]; }

@compute @workgroup_size(${LAYOUT_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, ${LAYOUT_WG}u);
  if (i >= u32(P(0))) { return; }
  var rem = i32(i);
  var s = P(1);
  var d = P(2);${dims}
  y[d] = x[s];
}`;
}

/**
 * Pad over rank <= 6. mode 0 constant, 1 edge, 2 reflect, 3 wrap. Negative pads crop.
 * Uniform layout (i32 slots): [0] total, [1] rank, [2] mode, [3] constant value (f32 bits),
 * [4..9] output dims, [12..17] input dims, [20..25] pads at the start, [28..33] input strides.
 */
export const PAD_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> u: array<vec4<i32>, 9>;
${FLAT_INDEX}
fn P(k: i32) -> i32 { return u[k >> 2u][k & 3]; }

@compute @workgroup_size(${LAYOUT_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, ${LAYOUT_WG}u);
  if (i >= u32(P(0))) { return; }
  let mode = P(2);
  var rem = i32(i);
  var s = 0;
  var inside = true;
  for (var k = P(1) - 1; k >= 0; k--) {
    let n = P(4 + k);
    let c = rem % n;
    rem = rem / n;
    let len = P(12 + k);
    var ci = c - P(20 + k);
    if (ci < 0 || ci >= len) {
      if (mode == 0) {
        inside = false;
      } else if (mode == 1) {
        ci = clamp(ci, 0, len - 1);
      } else if (mode == 2) {
        // Reflection repeats with period 2 (len - 1) for pads longer than the axis.
        let period = max(2 * (len - 1), 1);
        var m = ((ci % period) + period) % period;
        if (m >= len) { m = period - m; }
        ci = select(m, 0, len == 1);
      } else {
        ci = ((ci % len) + len) % len;
      }
    }
    s += ci * P(28 + k);
  }
  if (inside) {
    y[i] = x[s];
  } else {
    y[i] = bitcast<f32>(P(3));
  }
}`;

/**
 * Gather along one axis with host-known indices (already non-negative, stored as f32 in a
 * constant buffer). The data is viewed as [outer, axisLen, inner]; the output as [outer, nIdx, inner].
 */
export const GATHER_WGSL = /* wgsl */ `
struct U { total: u32, inner: u32, axisLen: u32, nIdx: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> idx: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${FLAT_INDEX}

@compute @workgroup_size(${LAYOUT_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, ${LAYOUT_WG}u);
  if (i >= u.total) { return; }
  let inner = i % u.inner;
  let t = i / u.inner;
  let j = t % u.nIdx;
  let outer = t / u.nIdx;
  y[i] = x[(outer * u.axisLen + u32(idx[j])) * u.inner + inner];
}`;
