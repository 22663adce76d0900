/**
 * Reductions over any set of axes. The host collapses the input into at most four kept and four
 * reduced dim groups (each a size and an element stride); one invocation per output walks its
 * reduced elements with four nested loops, so no division sits in the inner loop.
 */
import { FLAT_INDEX } from './common.js';

export type ReduceKind = 'ReduceSum' | 'ReduceMean' | 'ReduceMax' | 'ReduceMin' | 'ReduceProd' | 'ReduceSumSquare'
  | 'ReduceL1' | 'ReduceL2' | 'ReduceLogSum' | 'ReduceLogSumExp';

/** init, accumulate (`a` with element `x`) and finish (`a` over `cnt` elements) per kind. */
const ACC: Record<ReduceKind, { init: string; acc: string; fin: string }> = {
  ReduceSum: { init: '0.0', acc: 'a + x', fin: 'a' },
  ReduceMean: { init: '0.0', acc: 'a + x', fin: 'a / cnt' },
  ReduceMax: { init: '-3.4028234e38', acc: 'max(a, x)', fin: 'a' },
  ReduceMin: { init: '3.4028234e38', acc: 'min(a, x)', fin: 'a' },
  ReduceProd: { init: '1.0', acc: 'a * x', fin: 'a' },
  ReduceSumSquare: { init: '0.0', acc: 'a + x * x', fin: 'a' },
  ReduceL1: { init: '0.0', acc: 'a + abs(x)', fin: 'a' },
  ReduceL2: { init: '0.0', acc: 'a + x * x', fin: 'sqrt(a)' },
  ReduceLogSum: { init: '0.0', acc: 'a + x', fin: 'log(a)' },
  // Stable: a first pass finds the maximum `m`.
  ReduceLogSumExp: { init: '0.0', acc: 'a + exp(x - m)', fin: 'm + log(a)' },
};

export const REDUCE_KINDS = Object.keys(ACC) as ReduceKind[];

/** Nested loops over the reduced elements from `base`: `off` is each one's offset, `x` its value. */
function loops(body: string): string {
  return `for (var i0 = 0u; i0 < u.rs.x; i0++) {
    for (var i1 = 0u; i1 < u.rs.y; i1++) {
      for (var i2 = 0u; i2 < u.rs.z; i2++) {
        let o2 = base + i0 * u.rst.x + i1 * u.rst.y + i2 * u.rst.z;
        for (var i3 = 0u; i3 < u.rs.w; i3++) {
          let off = o2 + i3 * u.rst.w;
          let x = src[off];
          ${body}
        }
      }
    }
  }`;
}

/** Uniform U: output count, reduced element count; kept sizes/strides; reduced sizes/strides. */
export function reduceWgsl(kind: ReduceKind, wg: number): string {
  const k = ACC[kind];
  const pre = kind === 'ReduceLogSumExp' ? `var m = -3.4028234e38;\n  ${loops('m = max(m, x);')}` : '';
  return /* wgsl */ `${FLAT_INDEX}
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
struct U { nOut: u32, count: u32, p0: u32, p1: u32, ks: vec4<u32>, kst: vec4<u32>, rs: vec4<u32>, rst: vec4<u32> }
@group(0) @binding(2) var<uniform> u: U;

@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = flatIndex(gid, nwg, ${wg}u);
  if (o >= u.nOut) { return; }
  var rem = o;
  var base = 0u;
  for (var d = 3; d >= 0; d--) {
    let c = rem % u.ks[d];
    rem = rem / u.ks[d];
    base += c * u.kst[d];
  }
  let cnt = f32(u.count);
  ${pre}
  var a = ${k.init};
  ${loops(`a = ${k.acc};`)}
  dst[o] = ${k.fin};
}
`;
}

/** Derivative codes of `reduceGradWgsl`. */
export const REDUCE_GRAD_CODE: Record<ReduceKind, number> = {
  ReduceSum: 0, ReduceMean: 1, ReduceSumSquare: 2, ReduceL1: 3, ReduceL2: 4, ReduceLogSum: 5,
  ReduceLogSumExp: 6, ReduceMax: 7, ReduceMin: 7, ReduceProd: 8,
};

/**
 * Backward of every reduction, gather form: one invocation per input element finds its output
 * (kept groups, row-major) and adds gy[o]·∂y[o]/∂x. Max/Min send the gradient to the first
 * element (lowest offset) equal to the result, found by rescanning the group only for elements
 * that equal it; Prod uses y/x, rescanning for the product of the others only where x = 0.
 * Uniform as `reduceWgsl` with the input count first and the code third; padding groups have
 * size 1 and stride 1 (the kept split divides by strides).
 */
export function reduceGradWgsl(wg: number): string {
  return /* wgsl */ `${FLAT_INDEX}
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> yv: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;
struct U { n: u32, count: u32, code: u32, p1: u32, ks: vec4<u32>, kst: vec4<u32>, rs: vec4<u32>, rst: vec4<u32> }
@group(0) @binding(4) var<uniform> u: U;

@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, ${wg}u);
  if (i >= u.n) { return; }
  var o = 0u;
  var base = i;
  for (var d = 0; d < 4; d++) {
    o = o * u.ks[d] + (i / u.kst[d]) % u.ks[d];
    base -= ((i / u.rst[d]) % u.rs[d]) * u.rst[d];
  }
  let xi = src[i];
  let y = yv[o];
  var dv = 0.0;
  switch u.code {
    case 0u: { dv = 1.0; }
    case 1u: { dv = 1.0 / f32(u.count); }
    case 2u: { dv = 2.0 * xi; }
    case 3u: { dv = sign(xi); }
    case 4u: { dv = select(0.0, xi / y, y > 0.0); }
    case 5u: { dv = exp(-y); }
    case 6u: { dv = exp(xi - y); }
    case 7u: {
      if (xi == y) {
        var first = true;
        ${loops('if (off < i && x == y) { first = false; }')}
        dv = select(0.0, 1.0, first);
      }
    }
    case 8u: {
      if (xi != 0.0) {
        dv = y / xi;
      } else {
        var p = 1.0;
        ${loops('if (off != i) { p = p * x; }')}
        dv = p;
      }
    }
    default: {}
  }
  gx[i] = gx[i] + gy[o] * dv;
}
`;
}
