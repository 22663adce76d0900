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

/**
 * Derivative codes of `unaryGradWgsl`. `GeluTanh` is Gelu with approximate = 'tanh'. Kinks follow
 * PyTorch: Relu and LeakyRelu pass where x > 0, Clip where min <= x <= max, HardSigmoid strictly
 * inside its linear part, HardSwish x/3 + 0.5 on [-3, 3]; Floor, Ceil, Round and Sign are 0.
 */
export const UNARY_GRAD_CODE: Record<string, number> = {
  Relu: 0, LeakyRelu: 1, Clip: 2, Sigmoid: 3, HardSigmoid: 4, HardSwish: 5, Tanh: 6, Elu: 7,
  Neg: 8, Exp: 9, Log: 10, Sqrt: 11, Abs: 12, Reciprocal: 13, Floor: 14, Ceil: 14, Round: 14, Sign: 14,
  Erf: 15, Softplus: 16, Softsign: 17, Gelu: 18, GeluTanh: 19,
};

/**
 * Backward of every unary op: gx[i] += gy[i] · f'(x[i]), with f' written from the forward input
 * `x` and/or output `y`. One source for all ops: the op is a uniform switch and its parameters
 * (alpha / beta, Clip's bounds) are uniform floats p0, p1.
 */
export function unaryGradWgsl(wg: number): string {
  return /* wgsl */ `${FLAT_INDEX}
${ERF_WGSL}
@group(0) @binding(0) var<storage, read> xv: array<f32>;
@group(0) @binding(1) var<storage, read> yv: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;
struct U { n: u32, code: u32, p0: f32, p1: f32 }
@group(0) @binding(4) var<uniform> u: U;

fn deriv(x: f32, y: f32) -> f32 {
  switch u.code {
    case 0u: { return select(0.0, 1.0, x > 0.0); }
    case 1u: { return select(u.p0, 1.0, x > 0.0); }
    case 2u: { return select(0.0, 1.0, x >= u.p0 && x <= u.p1); }
    case 3u: { return y * (1.0 - y); }
    case 4u: { let t = u.p0 * x + u.p1; return select(0.0, u.p0, t > 0.0 && t < 1.0); }
    case 5u: { if (x < -3.0) { return 0.0; } if (x <= 3.0) { return x / 3.0 + 0.5; } return 1.0; }
    case 6u: { return 1.0 - y * y; }
    case 7u: { return select(y + u.p0, 1.0, x > 0.0); }
    case 8u: { return -1.0; }
    case 9u: { return y; }
    case 10u: { return 1.0 / x; }
    case 11u: { return 0.5 / y; }
    case 12u: { return sign(x); }
    case 13u: { return -y * y; }
    case 15u: { return 1.1283791670955126 * exp(-x * x); }
    case 16u: { return 1.0 / (1.0 + exp(-x)); }
    case 17u: { let t = 1.0 + abs(x); return 1.0 / (t * t); }
    case 18u: { return 0.5 * (1.0 + erf_(x * 0.7071067811865476)) + x * 0.3989422804014327 * exp(-0.5 * x * x); }
    case 19u: {
      let t = tanh(clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0));
      return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * 0.7978845608028654 * (1.0 + 0.134145 * x * x);
    }
    default: {}
  }
  return 0.0;
}

@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, ${wg}u);
  if (i >= u.n) { return; }
  gx[i] = gx[i] + gy[i] * deriv(xv[i], yv[i]);
}
`;
}
