/**
 * Pointwise unary kernel: `fn f(v: f32) -> f32` applied to every element. The vec4 form only moves
 * memory four floats at a time (2.5x the copy bandwidth on lavapipe) and applies `f` per lane, so
 * every scalar expression works in both forms.
 */
import { FLAT_INDEX } from './common.js';

/**
 * `expr` is an f32 WGSL expression in the identifier `v`; `prelude` may declare helper functions it
 * uses. Uniform: x = element count (vec4 count in the vec4 form).
 */
export function unaryWgsl(expr: string, vec4: boolean, wg: number, prelude = ''): string {
  const T = vec4 ? 'vec4<f32>' : 'f32';
  const body = vec4 ? 'let a = src[i];\n  dst[i] = vec4<f32>(f(a.x), f(a.y), f(a.z), f(a.w));' : 'dst[i] = f(src[i]);';
  return /* wgsl */ `${FLAT_INDEX}
${prelude}
@group(0) @binding(0) var<storage, read> src: array<${T}>;
@group(0) @binding(1) var<storage, read_write> dst: array<${T}>;
@group(0) @binding(2) var<uniform> u: vec4<u32>;

fn f(v: f32) -> f32 { return ${expr}; }

@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, ${wg}u);
  if (i >= u.x) { return; }
  ${body}
}
`;
}

/**
 * erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7, under f32 resolution near 1):
 * WGSL has no erf builtin.
 */
export const ERF_WGSL = /* wgsl */ `
fn erf_(x: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.3275911 * abs(x));
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-x * x);
  return select(-y, y, x >= 0.0);
}`;
