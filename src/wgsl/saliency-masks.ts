/**
 * SISE / Score-CAM masks from a feature tensor A [C, h, w]: bilinear up-sampling (half-pixel
 * centres, edge clamp, taps from a host-built table) and min-max normalisation with the min and
 * max of the UP-SAMPLED map.
 *
 * Table layout (f32): rows [H × (i0, i1, λ)], cols [W × (i0, i1, λ)], then the candidate output
 * rows (nY) and columns (nX) where the up-sampled map can reach its extremes (see kernels/
 * saliency-masks.ts), as float-coded indices.
 */
import { FLAT_INDEX } from './common.js';
import { workgroupReduce } from './map-ops.js';

const UNIFORM = /* wgsl */ `
struct U { channels: u32, h: u32, w: u32, bigH: u32, bigW: u32, n: u32, start: u32, offset: u32, nY: u32, nX: u32, p4: u32, p0: u32, eps: f32, p1: f32, p2: f32, p3: f32 }`;

// PyTorch's order of operations (upsample_bilinear2d): rows outer, columns inner.
const SAMPLE = /* wgsl */ `
fn sampleAt(base: u32, y: u32, x: u32) -> f32 {
  let ty = 3u * y;
  let tx = 3u * (u.bigH + x);
  let y0 = u32(tab[ty]); let y1 = u32(tab[ty + 1u]); let ly = tab[ty + 2u];
  let x0 = u32(tab[tx]); let x1 = u32(tab[tx + 1u]); let lx = tab[tx + 2u];
  let r0 = base + y0 * u.w; let r1 = base + y1 * u.w;
  return (1.0 - ly) * ((1.0 - lx) * a[r0 + x0] + lx * a[r0 + x1]) + ly * ((1.0 - lx) * a[r1 + x0] + lx * a[r1 + x1]);
}`;

/**
 * Per channel: range[4c..4c+3] = (min, max, constant ? 1 : 0, 0) of the up-sampled map, from the
 * candidate rows × columns only (one workgroup per channel).
 */
export const UPSAMPLED_RANGE_WGSL = /* wgsl */ `
${UNIFORM}
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> tab: array<f32>;
@group(0) @binding(2) var<storage, read_write> range: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${SAMPLE}
${workgroupReduce(64)}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let c = wid.x + wid.y * 65535u;
  if (c >= u.channels) { return; }
  let base = u.offset + c * u.h * u.w;
  let cand = 3u * (u.bigH + u.bigW);
  var lo = 3.4028234e38; var hi = -3.4028234e38;
  for (var k = l.x; k < u.nY * u.nX; k += 64u) {
    let y = u32(tab[cand + k / u.nX]);
    let x = u32(tab[cand + u.nY + k % u.nX]);
    let v = sampleAt(base, y, x);
    lo = min(lo, v); hi = max(hi, v);
  }
  lo = wgMin(lo, l.x); hi = wgMax(hi, l.x);
  if (l.x == 0u) { range[4u * c] = lo; range[4u * c + 1u] = hi; range[4u * c + 2u] = select(0.0, 1.0, hi <= lo); range[4u * c + 3u] = 0.0; }
}`;

/**
 * masks[i, y, x] = (Up(A_k)(y, x) − min_k) / (max_k − min_k + eps) for k = idx[start + i]
 * (0 for a constant channel), i < n.
 */
export const SALIENCY_MASKS_WGSL = /* wgsl */ `
${UNIFORM}
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> idx: array<u32>;
@group(0) @binding(2) var<storage, read> range: array<f32>;
@group(0) @binding(3) var<storage, read> tab: array<f32>;
@group(0) @binding(4) var<storage, read_write> masks: array<f32>;
@group(0) @binding(5) var<uniform> u: U;
${FLAT_INDEX}
${SAMPLE}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flatIndex(gid, nwg, 64u);
  let pixels = u.bigH * u.bigW;
  if (e >= u.n * pixels) { return; }
  let i = e / pixels;
  let p = e % pixels;
  let k = idx[u.start + i];
  let lo = range[4u * k]; let hi = range[4u * k + 1u];
  var m = 0.0;
  if (range[4u * k + 2u] == 0.0) {
    let v = sampleAt(u.offset + k * u.h * u.w, p / u.bigW, p % u.bigW);
    m = max(v - lo, 0.0) / (hi - lo + u.eps);
  }
  masks[e] = m;
}`;
