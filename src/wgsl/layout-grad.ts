/**
 * The adjoint of every separable linear op (Concat, Split, Transpose, Slice, Pad, Expand, Tile,
 * Gather, Resize, AveragePool, GlobalAveragePool): one gather kernel, so reverse mode costs one
 * pipeline for all of them. Each input element sums, over a product of per-axis lists the host
 * precomputed, weighted output-gradient terms, and adds the sum into its own gradient element:
 * every gradient element has exactly one writer, so no atomics are needed.
 */
import { FLAT_INDEX } from './common.js';

/** Workgroup size of the adjoint kernel. */
export const ADJOINT_WG = 128;
/** Most axes an adjoint iterates over (after merging). */
export const ADJOINT_MAX_AXES = 8;

/**
 * gx[inBase + sum c_k inStride_k] += sum over the product of lists_k(c_k) of
 * (prod w_k) * gy[outBase + sum_identity c_k outStride_k + sum_list o_k].
 * Uniform (i32 slots): [0] total, [1] axes, [2] inBase, [3] outBase; axis k (outermost first) at
 * 4 + 4k: extent, inStride, outStride, table start (-1: identity axis, offset c * outStride).
 * Table (u32 words): per list axis, extent + 1 word indices where each coordinate's entries begin
 * (the last one ends the list), entries being (offset, f32 weight bits) pairs.
 */
export const ADJOINT_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read> gy: array<f32>;
@group(0) @binding(1) var<storage, read> tab: array<u32>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;
@group(0) @binding(3) var<uniform> u: array<vec4<i32>, ${1 + ADJOINT_MAX_AXES}>;
${FLAT_INDEX}
fn P(k: i32) -> i32 { return u[k >> 2u][k & 3]; }

@compute @workgroup_size(${ADJOINT_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, ${ADJOINT_WG}u);
  if (i >= u32(P(0))) { return; }
  var rem = i32(i);
  var xi = P(2);
  var yo = P(3);
  var lo: array<u32, ${ADJOINT_MAX_AXES}>;
  var hi: array<u32, ${ADJOINT_MAX_AXES}>;
  var nl = 0;
  for (var k = P(1) - 1; k >= 0; k--) {
    let n = P(4 + 4 * k);
    let c = rem % n;
    rem = rem / n;
    xi += c * P(5 + 4 * k);
    let ts = P(7 + 4 * k);
    if (ts < 0) {
      yo += c * P(6 + 4 * k);
    } else {
      let a = tab[u32(ts + c)];
      let b = tab[u32(ts + c + 1)];
      // Nothing reads this element: its gradient contribution is zero.
      if (a == b) { return; }
      lo[nl] = a;
      hi[nl] = b;
      nl++;
    }
  }
  var acc = 0.0;
  if (nl == 0) {
    acc = gy[yo];
  } else {
    var cur = lo;
    loop {
      var off = yo;
      var w = 1.0;
      for (var j = 0; j < nl; j++) {
        off += i32(tab[cur[j]]);
        w *= bitcast<f32>(tab[cur[j] + 1u]);
      }
      acc += w * gy[off];
      var j = 0;
      loop {
        if (j == nl) { break; }
        cur[j] += 2u;
        if (cur[j] < hi[j]) { break; }
        cur[j] = lo[j];
        j++;
      }
      if (j == nl) { break; }
    }
  }
  gx[xi] = gx[xi] + acc;
}`;
