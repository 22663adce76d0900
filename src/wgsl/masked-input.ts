/** Perturbed inputs x' = x ⊙ m + b ⊙ (1 − m), one invocation per output element. */
import { FLAT_INDEX } from './common.js';

/**
 * out[outOffset + ((i·C + c)·P + p)] for mask i of masks[maskOffset + i·P + p]; the baseline is
 * b[c] when PER_PIXEL = 0, b[c·P + p] otherwise.
 */
export const MASKED_INPUT_WGSL = /* wgsl */ `
struct U { n: u32, channels: u32, pixels: u32, perPixel: u32, maskOffset: u32, outOffset: u32, p0: u32, p1: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> m: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> u: U;
${FLAT_INDEX}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flatIndex(gid, nwg, 64u);
  let per = u.channels * u.pixels;
  if (e >= u.n * per) { return; }
  let i = e / per;
  let cp = e % per;
  let p = cp % u.pixels;
  let mv = m[u.maskOffset + i * u.pixels + p];
  let bv = b[select(cp / u.pixels, cp, u.perPixel != 0u)];
  out[u.outOffset + e] = x[cp] * mv + bv * (1.0 - mv);
}`;
