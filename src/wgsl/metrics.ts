/** Kernels of the evaluation metrics (methods spec 7): perturbed-input rows and the insertion blur. */
import { FLAT_INDEX } from './common.js';

/**
 * One output row per descriptor (from, to, field, threshold): every pixel is the `from` plane's
 * value or the `to` plane's. threshold 0xffffffff: the field is a float mask w (bit pattern) and
 * the pixel is from·(1 − w) + to·w; otherwise the field holds pixel ranks and the pixel is `to`
 * iff rank < threshold (select keeps both sides exact).
 */
export const PERTURB_ROWS_WGSL = /* wgsl */ `
struct U { n: u32, channels: u32, pixels: u32, p0: u32 }
@group(0) @binding(0) var<storage, read> planes: array<f32>;
@group(0) @binding(1) var<storage, read> fields: array<u32>;
@group(0) @binding(2) var<storage, read> rows: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> u: U;
${FLAT_INDEX}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flatIndex(gid, nwg, 64u);
  let per = u.channels * u.pixels;
  if (e >= u.n * per) { return; }
  let r = rows[e / per];
  let cp = e % per;
  let f = fields[r.z * u.pixels + cp % u.pixels];
  let a = planes[r.x * per + cp];
  let b = planes[r.y * per + cp];
  if (r.w == 0xffffffffu) {
    let w = bitcast<f32>(f);
    out[e] = a * (1.0 - w) + b * w;
  } else {
    out[e] = select(a, b, f < r.w);
  }
}`;

/**
 * Per-channel 2-D correlation with a (2R+1)² kernel and zero padding R (RISE's blur substrate:
 * conv2d with a diagonal channel kernel). Reads x[inOffset + ...], writes out[outOffset + ...].
 */
export const BLUR_WGSL = /* wgsl */ `
struct U { channels: u32, h: u32, w: u32, radius: u32, inOffset: u32, outOffset: u32, p0: u32, p1: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${FLAT_INDEX}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flatIndex(gid, nwg, 64u);
  let hw = u.h * u.w;
  if (e >= u.channels * hw) { return; }
  let c = e / hw;
  let y = i32((e % hw) / u.w);
  let xx = i32(e % u.w);
  let r = i32(u.radius);
  let size = 2 * r + 1;
  let base = u.inOffset + c * hw;
  var s = 0.0;
  for (var dy = -r; dy <= r; dy++) {
    let yy = y + dy;
    if (yy < 0 || yy >= i32(u.h)) { continue; }
    for (var dx = -r; dx <= r; dx++) {
      let xs = xx + dx;
      if (xs < 0 || xs >= i32(u.w)) { continue; }
      s += k[(dy + r) * size + dx + r] * x[base + u32(yy) * u.w + u32(xs)];
    }
  }
  out[u.outOffset + e] = s;
}`;
