/**
 * WGSL for the reductions of Gemm / MatMul reverse mode that are not themselves matmuls (the
 * products dA and dB run on the forward matmul kernel with `accumulate`). Both gather: one
 * invocation owns one gradient element and ADDS its sum into it.
 */
import { FLAT_INDEX } from './common.js';

/** Invocations per workgroup of both kernels. */
export const MATMUL_GRAD_WG = 64;

/**
 * Sums per-batch products over broadcast batch dims: dst[t] += Σ_z src[z * R + r] over the output
 * batch entries z whose target batch offset (up to 4 merged dims, stride 0 where the target
 * broadcast) equals t's. O(Z) per element: batch counts in classifier heads are small.
 */
export const BATCH_REDUCE_WGSL = /* wgsl */ `
struct U {
  R: u32, Z: u32, total: u32, nb1: u32,
  nb2: u32, nb3: u32, s0: u32, s1: u32,
  s2: u32, s3: u32, pad0: u32, pad1: u32,
}
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
${FLAT_INDEX}

@compute @workgroup_size(${MATMUL_GRAD_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = flatIndex(gid, nwg, ${MATMUL_GRAD_WG}u);
  if (idx >= u.total) { return; }
  let r = idx % u.R;
  let t = idx - r;
  var acc = 0.0;
  for (var z = 0u; z < u.Z; z = z + 1u) {
    let i3 = z % u.nb3;
    let t2 = z / u.nb3;
    let i2 = t2 % u.nb2;
    let t1 = t2 / u.nb2;
    let i1 = t1 % u.nb1;
    let i0 = t1 / u.nb1;
    if (i0 * u.s0 + i1 * u.s1 + i2 * u.s2 + i3 * u.s3 == t) { acc = acc + src[z * u.R + r]; }
  }
  dst[idx] = dst[idx] + acc;
}`;

/**
 * Gemm's dC: dC[i] += beta * Σ dY over the dims C broadcast along (C is cm x cn with cm in {1, M},
 * cn in {1, N}).
 */
export const BIAS_GRAD_WGSL = /* wgsl */ `
struct U {
  M: u32, N: u32, cm: u32, cn: u32,
  total: u32, beta: f32, pad0: u32, pad1: u32,
}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> dc: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
${FLAT_INDEX}

@compute @workgroup_size(${MATMUL_GRAD_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = flatIndex(gid, nwg, ${MATMUL_GRAD_WG}u);
  if (idx >= u.total) { return; }
  let mi = idx / u.cn;
  let ni = idx - mi * u.cn;
  let m1 = select(mi + 1u, u.M, u.cm == 1u);
  let n1 = select(ni + 1u, u.N, u.cn == 1u);
  var acc = 0.0;
  for (var m = select(mi, 0u, u.cm == 1u); m < m1; m = m + 1u) {
    for (var n = select(ni, 0u, u.cn == 1u); n < n1; n = n + 1u) { acc = acc + dy[m * u.N + n]; }
  }
  dc[idx] = dc[idx] + u.beta * acc;
}`;
