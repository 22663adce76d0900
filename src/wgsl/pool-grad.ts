/**
 * Reverse-mode kernels of the pooling family that are not linear maps (MaxPool, GlobalMaxPool,
 * LRN). AveragePool's adjoint is separable and runs on the shared adjoint kernel (layout-grad.ts).
 */
import { FLAT_INDEX } from './common.js';
import { POOL_WG } from './pool.js';

/**
 * MaxPool gradient: each window's output gradient goes to its argmax, the first maximum in window
 * order (rows, then columns), as PyTorch does; the argmax is recomputed from the forward input.
 * `gatherMain`: one invocation per input element, summing over the windows whose argmax it is
 * (overlapping windows). `scatterMain`: one invocation per window adding into its argmax, valid
 * only when windows never share an element (stride >= window span; GlobalMaxPool), so every
 * gradient element still has at most one writer.
 */
export const MAXPOOL_GRAD_WGSL = /* wgsl */ `
struct U {
  total: u32, _p: i32, H: i32, W: i32,
  OH: i32, OW: i32, kH: i32, kW: i32,
  sH: i32, sW: i32, pT: i32, pL: i32,
  dH: i32, dW: i32, _q: i32, _r: i32,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${FLAT_INDEX}

// Index within the plane of the window's first maximum, -1 for a window entirely in the padding.
fn argmaxOf(base: i32, oh: i32, ow: i32) -> i32 {
  let h0 = oh * u.sH - u.pT;
  let w0 = ow * u.sW - u.pL;
  var best = -1;
  var mx = 0.0;
  for (var kh = 0; kh < u.kH; kh++) {
    let h = h0 + kh * u.dH;
    if (h < 0 || h >= u.H) { continue; }
    for (var kw = 0; kw < u.kW; kw++) {
      let w = w0 + kw * u.dW;
      if (w < 0 || w >= u.W) { continue; }
      let v = x[base + h * u.W + w];
      if (best < 0 || v > mx) { mx = v; best = h * u.W + w; }
    }
  }
  return best;
}

// First window index o with o * s - p + (k - 1) * d >= t, i.e. whose span reaches coordinate t.
fn firstWindow(t: i32, s: i32, p: i32, k: i32, d: i32) -> i32 {
  let a = t + p - (k - 1) * d;
  return select(0, (a + s - 1) / s, a > 0);
}

@compute @workgroup_size(${POOL_WG})
fn gatherMain(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, ${POOL_WG}u);
  if (i >= u.total) { return; }
  let ii = i32(i);
  let HW = u.H * u.W;
  let plane = ii / HW;
  let pos = ii % HW;
  let h = pos / u.W;
  let w = pos % u.W;
  let base = plane * HW;
  let obase = plane * u.OH * u.OW;
  let oh1 = min(u.OH - 1, (h + u.pT) / u.sH);
  let ow1 = min(u.OW - 1, (w + u.pL) / u.sW);
  var acc = 0.0;
  for (var oh = firstWindow(h, u.sH, u.pT, u.kH, u.dH); oh <= oh1; oh++) {
    if ((h + u.pT - oh * u.sH) % u.dH != 0) { continue; }
    for (var ow = firstWindow(w, u.sW, u.pL, u.kW, u.dW); ow <= ow1; ow++) {
      if ((w + u.pL - ow * u.sW) % u.dW != 0) { continue; }
      if (argmaxOf(base, oh, ow) == pos) { acc += gy[obase + oh * u.OW + ow]; }
    }
  }
  gx[i] = gx[i] + acc;
}

@compute @workgroup_size(${POOL_WG})
fn scatterMain(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, ${POOL_WG}u);
  if (i >= u.total) { return; }
  let ii = i32(i);
  let ow = ii % u.OW;
  let t = ii / u.OW;
  let oh = t % u.OH;
  let base = (t / u.OH) * u.H * u.W;
  let a = argmaxOf(base, oh, ow);
  if (a >= 0) { gx[base + a] = gx[base + a] + gy[i]; }
}`;

/**
 * LRN gradient, one invocation per element k of channel c (D_i = bias + alpha/size * sum of x^2
 * over channel i's window, windows [i - lo, i + hi]):
 * dx_k = g_k D_k^-beta - 2 alpha/size beta x_k sum over channels i whose window holds c of
 * g_i x_i D_i^(-beta-1). Each D_i is recomputed (size^2 reads): LRN layers are few and narrow.
 */
export const LRN_GRAD_WGSL = /* wgsl */ `
struct U {
  total: u32, C: i32, HW: i32, lo: i32,
  hi: i32, alphaOverSize: f32, beta: f32, bias: f32,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${FLAT_INDEX}

fn denom(i: i32, c: i32) -> f32 {
  var sq = 0.0;
  for (var k = max(0, c - u.lo); k <= min(u.C - 1, c + u.hi); k++) {
    let v = x[i + (k - c) * u.HW];
    sq += v * v;
  }
  return u.bias + u.alphaOverSize * sq;
}

@compute @workgroup_size(${POOL_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, ${POOL_WG}u);
  if (i >= u.total) { return; }
  let ii = i32(i);
  let c = (ii / u.HW) % u.C;
  var s = 0.0;
  for (var k = max(0, c - u.hi); k <= min(u.C - 1, c + u.lo); k++) {
    let j = ii + (k - c) * u.HW;
    let d = denom(j, k);
    s += gy[j] * x[j] * pow(d, -u.beta) / d;
  }
  let dk = denom(ii, c);
  gx[i] = gx[i] + gy[i] * pow(dk, -u.beta) - 2.0 * u.alphaOverSize * u.beta * x[i] * s;
}`;
