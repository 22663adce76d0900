/**
 * Pointwise binary kernels with numpy broadcasting, as three layouts chosen on the host:
 * - `same`: both operands indexed like the output (equal shapes);
 * - `chan`: one operand full, the other read at `(i / inner) % C` (scalar, per-channel [C,1,1],
 *   row or column vectors), vec4 when four consecutive outputs share the small operand's element;
 * - `general`: per-operand strides over the collapsed output shape (rank <= 8) in a uniform.
 * `op(a, b)` is a scalar WGSL function body; vec4 forms apply it per lane.
 */
import { FLAT_INDEX } from './common.js';

export type BinaryLayout = 'same' | 'chan' | 'general';

/** Scalar op functions (WGSL), keyed by ONNX op type. */
export const BINARY_FN: Record<string, string> = {
  Add: 'return a + b;',
  Sub: 'return a - b;',
  Mul: 'return a * b;',
  Div: 'return a / b;',
  Max: 'return max(a, b);',
  Min: 'return min(a, b);',
  Sum: 'return a + b;',
  PRelu: 'return select(a * b, a, a >= 0.0);',
  // WGSL pow() is undefined for a < 0; ONNX models use integral exponents on signed bases
  // (squared deviations), so the sign is restored from the exponent's parity; a fractional
  // exponent gives NaN (built at run time: WGSL rejects a NaN constant).
  Pow: `if (b == 2.0) { return a * a; }
  if (b == 1.0) { return a; }
  if (b == 0.0) { return 1.0; }
  let m = pow(abs(a), b);
  if (a >= 0.0) { return m; }
  if (fract(b) != 0.0) { let z = a - a; return z / z; }
  return select(m, -m, fract(b * 0.5) != 0.0);`,
};

/**
 * `opFn`: body of `fn op(a: f32, b: f32) -> f32`. `smallFirst` (chan layout): the broadcast
 * operand is the op's first argument (binding 0) rather than its second.
 */
export function binaryWgsl(opFn: string, layout: BinaryLayout, vec4: boolean, wg: number, smallFirst = false): string {
  const V = 'vec4<f32>';
  const lanes = (a: string, b: string): string => `${V}(op(${a}.x, ${b}.x), op(${a}.y, ${b}.y), op(${a}.z, ${b}.z), op(${a}.w, ${b}.w))`;
  let decl: string;
  let body: string;
  if (layout === 'same') {
    const T = vec4 ? V : 'f32';
    decl = `@group(0) @binding(0) var<storage, read> ina: array<${T}>;
@group(0) @binding(1) var<storage, read> inb: array<${T}>;
@group(0) @binding(2) var<storage, read_write> dst: array<${T}>;
struct U { n: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(3) var<uniform> u: U;`;
    body = vec4 ? `let a = ina[i]; let b = inb[i];\n  dst[i] = ${lanes('a', 'b')};` : 'dst[i] = op(ina[i], inb[i]);';
  } else if (layout === 'chan') {
    const T = vec4 ? V : 'f32';
    const [fullB, smallB] = smallFirst ? [1, 0] : [0, 1];
    decl = `@group(0) @binding(${fullB}) var<storage, read> full: array<${T}>;
@group(0) @binding(${smallB}) var<storage, read> small: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<${T}>;
struct U { n: u32, C: u32, inner: u32, p0: u32 }
@group(0) @binding(3) var<uniform> u: U;`;
    const e = vec4 ? 'i * 4u' : 'i';
    const call = (x: string, s: string): string => (smallFirst ? `op(${s}, ${x})` : `op(${x}, ${s})`);
    body = vec4
      ? `let s = small[(${e} / u.inner) % u.C]; let x = full[i];
  dst[i] = ${V}(${call('x.x', 's')}, ${call('x.y', 's')}, ${call('x.z', 's')}, ${call('x.w', 's')});`
      : `dst[i] = ${call('full[i]', `small[(${e} / u.inner) % u.C]`)};`;
  } else {
    decl = `@group(0) @binding(0) var<storage, read> ina: array<f32>;
@group(0) @binding(1) var<storage, read> inb: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
struct U { n: u32, rank: u32, p0: u32, p1: u32, shape: array<vec4<u32>, 2>, sa: array<vec4<u32>, 2>, sb: array<vec4<u32>, 2> }
@group(0) @binding(3) var<uniform> u: U;`;
    body = `var rem = i;
  var oa = 0u;
  var ob = 0u;
  for (var d = i32(u.rank) - 1; d >= 0; d--) {
    let q = u32(d) / 4u;
    let r = u32(d) % 4u;
    let n = u.shape[q][r];
    let c = rem % n;
    rem = rem / n;
    oa += c * u.sa[q][r];
    ob += c * u.sb[q][r];
  }
  dst[i] = op(ina[oa], inb[ob]);`;
  }
  return /* wgsl */ `${FLAT_INDEX}
${decl}

fn op(a: f32, b: f32) -> f32 {
  ${opFn}
}

@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, ${wg}u);
  if (i >= u.n) { return; }
  ${body}
}
`;
}

/**
 * Derivative codes of `binaryGradWgsl`: ∂op(a, b)/∂a and ∂op(a, b)/∂b per op type. Max/Min send
 * ties to the first operand; Pow's exponent gets y·ln(a) for a > 0 and 0 elsewhere (where the real
 * power is undefined or not differentiable).
 */
export const BINARY_GRAD_CODE: Record<string, readonly [number, number]> = {
  Add: [0, 0], Sum: [0, 0], Sub: [0, 1], Mul: [2, 3], Div: [4, 5], Pow: [6, 7], Max: [8, 9], Min: [10, 11], PRelu: [12, 13],
};

/**
 * Gradient of one operand of a broadcast binary op, gather form: one invocation per element of
 * that operand (`tgt`) sums gy·∂y/∂operand over the output positions it was broadcast to, then adds
 * the sum into `gx`, so every element is written by exactly one invocation. Indexing works on the
 * collapsed output shape split into kept dims (the operand varies along them) and reduced dims
 * (it was broadcast), each with output and other-operand strides; the uniform's `first` says
 * whether the target is the op's first argument. One source for every op: the derivative is a
 * uniform switch.
 */
export function binaryGradWgsl(wg: number): string {
  return /* wgsl */ `${FLAT_INDEX}
@group(0) @binding(0) var<storage, read> tgt: array<f32>;
@group(0) @binding(1) var<storage, read> oth: array<f32>;
@group(0) @binding(2) var<storage, read> yv: array<f32>;
@group(0) @binding(3) var<storage, read> gy: array<f32>;
@group(0) @binding(4) var<storage, read_write> gx: array<f32>;
struct U {
  n: u32, nk: u32, nr: u32, count: u32, code: u32, first: u32, p0: u32, p1: u32,
  ks: array<vec4<u32>, 2>, ko: array<vec4<u32>, 2>, kb: array<vec4<u32>, 2>,
  rs: array<vec4<u32>, 2>, ro: array<vec4<u32>, 2>, rb: array<vec4<u32>, 2>,
}
@group(0) @binding(5) var<uniform> u: U;

fn powf(a: f32, b: f32) -> f32 {
  ${BINARY_FN['Pow']}
}

fn deriv(a: f32, b: f32, y: f32) -> f32 {
  switch u.code {
    case 0u: { return 1.0; }
    case 1u: { return -1.0; }
    case 2u: { return b; }
    case 3u: { return a; }
    case 4u: { return 1.0 / b; }
    case 5u: { return -(a / b) / b; }
    case 6u: { if (b == 0.0) { return 0.0; } return b * powf(a, b - 1.0); }
    case 7u: { if (a > 0.0) { return y * log(a); } return 0.0; }
    case 8u: { return select(0.0, 1.0, a >= b); }
    case 9u: { return select(0.0, 1.0, b > a); }
    case 10u: { return select(0.0, 1.0, a <= b); }
    case 11u: { return select(0.0, 1.0, b < a); }
    case 12u: { return select(b, 1.0, a >= 0.0); }
    case 13u: { return select(a, 0.0, a >= 0.0); }
    default: {}
  }
  return 0.0;
}

@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, ${wg}u);
  if (i >= u.n) { return; }
  var rem = i;
  var bo = 0u;
  var bb = 0u;
  for (var d = i32(u.nk) - 1; d >= 0; d--) {
    let q = u32(d) / 4u;
    let r = u32(d) % 4u;
    let s = u.ks[q][r];
    let c = rem % s;
    rem = rem / s;
    bo += c * u.ko[q][r];
    bb += c * u.kb[q][r];
  }
  let xt = tgt[i];
  let first = u.first == 1u;
  var acc = 0.0;
  for (var k = 0u; k < u.count; k++) {
    var rr = k;
    var oo = bo;
    var ob = bb;
    for (var d = i32(u.nr) - 1; d >= 0; d--) {
      let q = u32(d) / 4u;
      let r = u32(d) % 4u;
      let s = u.rs[q][r];
      let c = rr % s;
      rr = rr / s;
      oo += c * u.ro[q][r];
      ob += c * u.rb[q][r];
    }
    let xo = oth[ob];
    acc += gy[oo] * deriv(select(xo, xt, first), select(xt, xo, first), yv[oo]);
  }
  gx[i] = gx[i] + acc;
}
`;
}
