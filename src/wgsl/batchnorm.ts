/**
 * Per-channel affine map y = x * a[c] + b[c] with c = (i / inner) % C: inference BatchNormalization
 * after its statistics are folded on the host. The vec4 form needs inner % 4 == 0 so four
 * consecutive elements share a channel.
 */
import { FLAT_INDEX } from './common.js';

export function channelAffineWgsl(vec4: boolean, wg: number): string {
  const T = vec4 ? 'vec4<f32>' : 'f32';
  const e = vec4 ? 'i * 4u' : 'i';
  return /* wgsl */ `${FLAT_INDEX}
@group(0) @binding(0) var<storage, read> src: array<${T}>;
@group(0) @binding(1) var<storage, read> ab: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<${T}>;
struct U { n: u32, C: u32, inner: u32, p0: u32 }
@group(0) @binding(3) var<uniform> u: U;

@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, ${wg}u);
  if (i >= u.n) { return; }
  let p = ab[(${e} / u.inner) % u.C];
  dst[i] = src[i] * p.x + p.y;
}
`;
}
