/**
 * CAM-family reductions over a feature tensor A [C, P] (P = h*w pixels) and its gradient G.
 * One workgroup per channel reduces P values; one invocation per pixel forms the weighted sum.
 */
import { WORKGROUP_REDUCE_64 } from './common.js';

/** out[4c..4c+3] = mean, min, max, sum of channel c of x [C, P] (x starts at element `offset`). */
export const CHANNEL_STATS_WGSL = /* wgsl */ `
struct U { channels: u32, pixels: u32, offset: u32, pad: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
${WORKGROUP_REDUCE_64}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let c = wid.x + wid.y * 65535u;
  if (c >= u.channels) { return; }
  let base = u.offset + c * u.pixels;
  var s = 0.0; var lo = 3.4028234e38; var hi = -3.4028234e38;
  for (var p = l.x; p < u.pixels; p += WG) { let v = x[base + p]; s += v; lo = min(lo, v); hi = max(hi, v); }
  s = wgSum(s, l.x); lo = wgMin(lo, l.x); hi = wgMax(hi, l.x);
  if (l.x == 0u) { out[4u * c] = s / f32(u.pixels); out[4u * c + 1u] = lo; out[4u * c + 2u] = hi; out[4u * c + 3u] = s; }
}`;

/**
 * Grad-CAM++ channel weights: alpha = g² / (2g² + ΣA·g³) (0 where undefined),
 * w = Σ alpha·ReLU(g), with alpha divided by its spatial sum when NORMALISE (the official code).
 */
export const GRADCAMPP_WEIGHTS_WGSL = /* wgsl */ `
struct U { channels: u32, pixels: u32, offsetA: u32, offsetG: u32, normalise: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> w: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${WORKGROUP_REDUCE_64}
fn alphaAt(g1: f32, sumA: f32) -> f32 {
  let g2 = g1 * g1;
  let den = 2.0 * g2 + sumA * g2 * g1;
  return select(0.0, g2 / den, den != 0.0);
}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let c = wid.x + wid.y * 65535u;
  if (c >= u.channels) { return; }
  let ba = u.offsetA + c * u.pixels;
  let bg = u.offsetG + c * u.pixels;
  var sa = 0.0;
  for (var p = l.x; p < u.pixels; p += WG) { sa += a[ba + p]; }
  sa = wgSum(sa, l.x);
  var num = 0.0; var asum = 0.0;
  for (var p = l.x; p < u.pixels; p += WG) {
    let gv = g[bg + p];
    let al = alphaAt(gv, sa);
    num += al * max(gv, 0.0);
    asum += al;
  }
  num = wgSum(num, l.x); asum = wgSum(asum, l.x);
  if (l.x == 0u) {
    w[c] = select(num, select(0.0, num / asum, asum != 0.0), u.normalise != 0u);
  }
}`;

/** cam[p] = Σ_c w[c]·A[c,p] over channels, then ReLU when RELU is set. */
export const WEIGHTED_SUM_WGSL = /* wgsl */ `
struct U { channels: u32, pixels: u32, offsetA: u32, relu: u32, wStride: u32, wOffset: u32, p0: u32, p1: u32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> cam: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = gid.x;
  if (p >= u.pixels) { return; }
  var s = 0.0;
  for (var c = 0u; c < u.channels; c++) { s += w[u.wOffset + c * u.wStride] * a[u.offsetA + c * u.pixels + p]; }
  cam[p] = select(s, max(s, 0.0), u.relu != 0u);
}`;

/**
 * cam[p] = Σ_c f(G[c,p])·A[c,p], then ReLU: f = identity (HiResCAM) or ReLU when RELU_GRAD
 * (LayerCAM). Per-pixel weights, where Grad-CAM averages the gradient over the pixels first.
 */
export const GRADIENT_PRODUCT_SUM_WGSL = /* wgsl */ `
struct U { channels: u32, pixels: u32, reluGrad: u32, pad: u32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> cam: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = gid.x;
  if (p >= u.pixels) { return; }
  var s = 0.0;
  for (var c = 0u; c < u.channels; c++) {
    let gv = g[c * u.pixels + p];
    s += select(gv, max(gv, 0.0), u.reluGrad != 0u) * a[c * u.pixels + p];
  }
  cam[p] = max(s, 0.0);
}`;

/** XGrad-CAM channel weights: w[c] = Σ_p A·G / (Σ_p A + 1e-7) (pytorch-grad-cam's eps). */
export const XGRADCAM_WEIGHTS_WGSL = /* wgsl */ `
struct U { channels: u32, pixels: u32, p0: u32, p1: u32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> w: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${WORKGROUP_REDUCE_64}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let c = wid.x + wid.y * 65535u;
  if (c >= u.channels) { return; }
  let b = c * u.pixels;
  var sa = 0.0; var sag = 0.0;
  for (var p = l.x; p < u.pixels; p += WG) { let av = a[b + p]; sa += av; sag += av * g[b + p]; }
  sa = wgSum(sa, l.x); sag = wgSum(sag, l.x);
  if (l.x == 0u) { w[c] = sag / (sa + 1e-7); }
}`;
