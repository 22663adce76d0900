/**
 * Fake quantisation on float tensors. Quantize writes the integer level as a float,
 * clamp(round_half_even(x / scale) + zp, lo, hi); Dequantize maps it back, (q - zp) * scale. The
 * per-channel (scale, zero point) pair of element i is p[(i / inner) % C] (C = 1 per tensor).
 */
import { FLAT_INDEX } from './common.js';

export function quantizeWgsl(dequantize: boolean, vec4: boolean, wg: number): string {
  const T = vec4 ? 'vec4<f32>' : 'f32';
  const e = vec4 ? 'i * 4u' : 'i';
  // WGSL round() rounds half to even, as ONNX QuantizeLinear requires.
  const expr = dequantize ? '(src[i] - p.y) * p.x' : `clamp(round(src[i] / p.x) + p.y, ${T}(u.lo), ${T}(u.hi))`;
  return /* wgsl */ `${FLAT_INDEX}
@group(0) @binding(0) var<storage, read> src: array<${T}>;
@group(0) @binding(1) var<storage, read> sz: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<${T}>;
struct U { n: u32, C: u32, inner: u32, p0: u32, lo: f32, hi: f32, p1: u32, p2: u32 }
@group(0) @binding(3) var<uniform> u: U;

@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, ${wg}u);
  if (i >= u.n) { return; }
  let p = sz[(${e} / u.inner) % u.C];
  dst[i] = ${expr};
}
`;
}

/**
 * Backward of fake quantisation. Quantize (`u.mode` = 0) uses the straight-through estimator:
 * round() counts as the identity, so gx += gy / scale where the unclamped level lies in [lo, hi]
 * and nothing where the clamp saturated (a Q→DQ pair then passes the gradient unchanged inside
 * the range, as PyTorch's fake_quantize does). Dequantize (`u.mode` = 1): gx += gy · scale.
 */
export function quantizeGradWgsl(wg: number): string {
  return /* wgsl */ `${FLAT_INDEX}
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> sz: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;
struct U { n: u32, C: u32, inner: u32, mode: u32, lo: f32, hi: f32, p1: u32, p2: u32 }
@group(0) @binding(4) var<uniform> u: U;

@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, ${wg}u);
  if (i >= u.n) { return; }
  let p = sz[(i / u.inner) % u.C];
  let q = round(src[i] / p.x) + p.y;
  let d = select(select(0.0, 1.0 / p.x, q >= u.lo && q <= u.hi), p.x, u.mode == 1u);
  gx[i] = gx[i] + gy[i] * d;
}
`;
}
