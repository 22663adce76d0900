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
