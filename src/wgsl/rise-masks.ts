/**
 * RISE (methods spec 6.1) on the GPU: random masks generated from a seed, class scores of the
 * masked inputs, and the score-weighted sum of masks for many classes at once.
 *
 * Randomness is a counter-based hash (PCG-RXS-M-XS, Jarzynski & Olano 2020), so mask i depends
 * only on (seed, i): the same masks come out whatever the batch size or dispatch order.
 *   key_i      = pcg(pcg(seed) + i)                 (u32 wrap-around)
 *   draw(i, k) = pcg(key_i ^ pcg(k))
 *   shift rows = draw(i, 0) mod cellH, shift cols = draw(i, 1) mod cellW
 *   grid cell (gy, gx) is 1 iff (draw(i, 2 + gy·s + gx) >> 8) < floor(p · 2^24)
 * (an integer comparison, so host and GPU agree bit for bit on the grid).
 */
import { FLAT_INDEX, WORKGROUP_REDUCE_64 } from './common.js';

const PCG = /* wgsl */ `
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}`;

/**
 * masks[i, y, x] for i < n (mask index start + i): the s×s binary grid, up-sampled bilinearly to
 * ((s+1)·cellH) × ((s+1)·cellW) the way scikit-image `resize(order=1, mode='reflect',
 * anti_aliasing=False)` does (ndimage zoom with grid_mode: source = (r + 0.5)·s/U − 0.5, mirrored
 * about the edge cell centres: −t → t, (s−1)+t → (s−1)−t), then cropped at the per-mask shift:
 * r = y + shiftY, c = x + shiftX.
 */
export const RISE_MASKS_WGSL = /* wgsl */ `
struct U { h: u32, w: u32, s: u32, cellH: u32, cellW: u32, n: u32, start: u32, seed: u32,
  threshold: u32, p0: u32, p1: u32, p2: u32, scaleY: f32, scaleX: f32, p3: f32, p4: f32 }
@group(0) @binding(0) var<storage, read_write> masks: array<f32>;
@group(0) @binding(1) var<uniform> u: U;
${FLAT_INDEX}
${PCG}
fn draw(key: u32, k: u32) -> u32 { return pcg(key ^ pcg(k)); }
fn cell(key: u32, gy: u32, gx: u32) -> f32 {
  return select(0.0, 1.0, (draw(key, 2u + gy * u.s + gx) >> 8u) < u.threshold);
}
struct Taps { i0: u32, i1: u32, l: f32 }
fn taps(r: u32, scale: f32) -> Taps {
  let hi = f32(u.s - 1u);
  var src = abs((f32(r) + 0.5) * scale - 0.5);
  if (src > hi) { src = 2.0 * hi - src; }
  src = clamp(src, 0.0, hi);
  let i0 = min(u32(floor(src)), u.s - 1u);
  return Taps(i0, min(i0 + 1u, u.s - 1u), src - f32(i0));
}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flatIndex(gid, nwg, 64u);
  let pixels = u.h * u.w;
  if (e >= u.n * pixels) { return; }
  let i = e / pixels;
  let p = e % pixels;
  let key = pcg(pcg(u.seed) + u.start + i);
  let ty = taps(p / u.w + draw(key, 0u) % u.cellH, u.scaleY);
  let tx = taps(p % u.w + draw(key, 1u) % u.cellW, u.scaleX);
  let top = (1.0 - tx.l) * cell(key, ty.i0, tx.i0) + tx.l * cell(key, ty.i0, tx.i1);
  let bottom = (1.0 - tx.l) * cell(key, ty.i1, tx.i0) + tx.l * cell(key, ty.i1, tx.i1);
  masks[e] = (1.0 - ty.l) * top + ty.l * bottom;
}`;

/**
 * out[i, j] = scale · Ψ(z_i)[classes[j]] for rows i < n and j < k; MODE as in score.ts (0 logit,
 * 1 softmax, 2 log-softmax, 3 sigmoid). One workgroup per row; the row's max and normaliser come
 * from a workgroup reduction.
 */
export const RISE_SCORES_WGSL = /* wgsl */ `
struct U { rows: u32, kz: u32, k: u32, mode: u32, scale: f32, p0: f32, p1: f32, p2: f32 }
@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> cls: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${WORKGROUP_REDUCE_64}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let row = wid.x + wid.y * 65535u;
  let lid = lid3.x;
  if (row >= u.rows) { return; }
  let base = row * u.kz;
  var m = -3.4028234e38;
  for (var j = lid; j < u.kz; j += WG) { m = max(m, z[base + j]); }
  m = wgMax(m, lid);
  var s = 0.0;
  for (var j = lid; j < u.kz; j += WG) { s += exp(z[base + j] - m); }
  s = wgSum(s, lid);
  for (var j = lid; j < u.k; j += WG) {
    let zc = z[base + cls[j]];
    var v = 0.0;
    switch (u.mode) {
      case 0u: { v = zc; }
      case 1u: { v = exp(zc - m) / s; }
      case 2u: { v = zc - m - log(s); }
      default: { v = 1.0 / (1.0 + exp(-zc)); }
    }
    out[row * u.k + j] = u.scale * v;
  }
}`;

/**
 * acc[c, p] += Σ_{i<n} sc[i·k + c0 + c] · m[i·P + p] for classes c < kc (a GEMM over the batch).
 * Each invocation owns a 4-class × 4-pixel block and sums the masks in order, so the result does
 * not depend on scheduling; adjacent invocations take adjacent pixel quads of the same classes.
 */
export const RISE_ACCUMULATE_WGSL = /* wgsl */ `
struct U { n: u32, pixels: u32, k: u32, c0: u32, kc: u32, quads: u32, p0: u32, p1: u32 }
@group(0) @binding(0) var<storage, read> sc: array<f32>;
@group(0) @binding(1) var<storage, read> m: array<f32>;
@group(0) @binding(2) var<storage, read_write> acc: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${FLAT_INDEX}
fn store(c: u32, p: u32, v: vec4<f32>) {
  if (c >= u.kc) { return; }
  let b = c * u.pixels + p;
  for (var q = 0u; q < 4u; q++) { if (p + q < u.pixels) { acc[b + q] += v[q]; } }
}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flatIndex(gid, nwg, 64u);
  if (e >= u.quads * ((u.kc + 3u) / 4u)) { return; }
  let p = 4u * (e % u.quads);
  let c = 4u * (e / u.quads);
  // Clamped taps keep every load in bounds; their weights are 0 or their sums are never stored.
  let last = u.pixels - 1u;
  let lastC = u.kc - 1u;
  var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
  for (var i = 0u; i < u.n; i++) {
    let mb = i * u.pixels;
    let mv = vec4<f32>(m[mb + min(p, last)], m[mb + min(p + 1u, last)], m[mb + min(p + 2u, last)], m[mb + min(p + 3u, last)]);
    let sb = i * u.k + u.c0;
    a0 += sc[sb + min(c, lastC)] * mv;
    a1 += sc[sb + min(c + 1u, lastC)] * mv;
    a2 += sc[sb + min(c + 2u, lastC)] * mv;
    a3 += sc[sb + min(c + 3u, lastC)] * mv;
  }
  store(c, p, a0); store(c + 1u, p, a1); store(c + 2u, p, a2); store(c + 3u, p, a3);
}`;
