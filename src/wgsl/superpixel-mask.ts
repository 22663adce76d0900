/** Superpixel-masked inputs (LIME, E-LIME): one invocation per output element. */
import { FLAT_INDEX } from './common.js';

/**
 * out[outOffset + ((i·C + c)·P + p)] = bits[i·K + l] != 0 ? x[c·P + p] : fill[l·C + c], l = labels[p].
 * A label ≥ K (never produced by the host, which validates) reads as hidden with fill 0 rather
 * than indexing out of range.
 */
export const SUPERPIXEL_MASK_WGSL = /* wgsl */ `
struct U { n: u32, channels: u32, pixels: u32, segments: u32, outOffset: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read> bits: array<f32>;
@group(0) @binding(3) var<storage, read> fill: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<uniform> u: U;
${FLAT_INDEX}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flatIndex(gid, nwg, 64u);
  let per = u.channels * u.pixels;
  if (e >= u.n * per) { return; }
  let i = e / per;
  let cp = e % per;
  let c = cp / u.pixels;
  let p = cp % u.pixels;
  let l = labels[p];
  var v = 0.0;
  if (l < u.segments) {
    if (bits[i * u.segments + l] != 0.0) { v = x[cp]; } else { v = fill[l * u.channels + c]; }
  }
  out[u.outOffset + e] = v;
}`;
