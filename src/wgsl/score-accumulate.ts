/**
 * Score-weighted sums of masks. The sum over masks runs inside one invocation per pixel, in mask
 * order, so results do not depend on scheduling (no float atomics).
 */
import { workgroupReduce } from './map-ops.js';

/** mass[i] = Σ_p masks[maskOffset + i·P + p] (one workgroup per mask). */
export const MASK_MASS_WGSL = /* wgsl */ `
struct U { n: u32, pixels: u32, maskOffset: u32, p0: u32 }
@group(0) @binding(0) var<storage, read> m: array<f32>;
@group(0) @binding(1) var<storage, read_write> mass: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
${workgroupReduce(64)}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let i = wid.x + wid.y * 65535u;
  if (i >= u.n) { return; }
  let base = u.maskOffset + i * u.pixels;
  var s = 0.0;
  for (var p = l.x; p < u.pixels; p += 64u) { s += m[base + p]; }
  s = wgSum(s, l.x);
  if (l.x == 0u) { mass[i] = s; }
}`;

/**
 * acc[accOffset + p] += Σ_i s[sOffset + i·sStride] · m_i[p] · w_i with w_i = 1/mass_i
 * (0 for an empty mask) when NORMALISE, else 1.
 */
export const SCORE_ACCUMULATE_WGSL = /* wgsl */ `
struct U { n: u32, pixels: u32, maskOffset: u32, sOffset: u32, sStride: u32, accOffset: u32, normalise: u32, p0: u32 }
@group(0) @binding(0) var<storage, read> s: array<f32>;
@group(0) @binding(1) var<storage, read> m: array<f32>;
@group(0) @binding(2) var<storage, read> mass: array<f32>;
@group(0) @binding(3) var<storage, read_write> acc: array<f32>;
@group(0) @binding(4) var<uniform> u: U;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = gid.y * nwg.x * 64u + gid.x;
  if (p >= u.pixels) { return; }
  var sum = 0.0;
  for (var i = 0u; i < u.n; i++) {
    var w = s[u.sOffset + i * u.sStride];
    if (u.normalise != 0u) {
      let ms = mass[i];
      w = select(0.0, w / ms, ms > 0.0);
    }
    sum += w * m[u.maskOffset + i * u.pixels + p];
  }
  acc[u.accOffset + p] += sum;
}`;
