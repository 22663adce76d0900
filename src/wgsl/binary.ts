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
