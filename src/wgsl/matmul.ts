/**
 * WGSL for Gemm / MatMul: Y[b] = act(alpha * A[b] x B[b] + beta * C + R[b]).
 *
 * A is always a GPU tensor read through strides (so transA and broadcast batch dims need no copy).
 * B is either a constant the kernel packed at build time (row-major K x Np, Np padded to the block
 * width with zeros, so every load is an unchecked aligned vec4) or a GPU tensor read through strides.
 * Three tilings: `reg` (register-blocked, no workgroup memory; fastest on software rasterisers),
 * `tiled` (64x64 workgroup tiles staged through workgroup memory; what real GPUs want) and `dot`
 * (skinny products such as batch-1 FC layers: a workgroup splits the reduction of a few rows x
 * 4-16 columns over its 64 invocations and adds the parts up in workgroup memory, so a 1 x 2048 x
 * 1000 product runs as 63-250 workgroups instead of the 2 of the register kernel).
 */
import type { Activation } from '../kernels/activation.js';
import { activationWgsl } from '../kernels/activation.js';

/** Structure-changing choices baked into one matmul pipeline. */
export interface MatmulWgslOptions {
  variant: 'reg' | 'tiled' | 'dot';
  /** reg: output rows per invocation (1 for skinny products such as batch-1 FC layers); dot: per workgroup (1 or 4). */
  rows: 1 | 4 | 8;
  /** reg: vec4 column groups per invocation; dot: per workgroup (1, 2 or 4: the rest of the 64 invocations split K). */
  cols4: 1 | 2 | 4;
  bPacked: boolean;
  residual: boolean;
  /** Reverse mode: add into y (a gradient buffer other consumers also add into) instead of storing. */
  accumulate?: boolean;
  act?: Activation;
}

/** Invocations per workgroup of the reg variant (along x = column blocks). */
export const MATMUL_REG_WG = 64;
/** Output tile edge of the tiled variant (16x16 invocations, 4x4 outputs each). */
export const MATMUL_TILE = 64;

/** Uniform layout; kernels/gemm.ts packs fields in this order. */
export const MATMUL_UNIFORM = /* wgsl */ `
struct U {
  M: u32, N: u32, K: u32, nb1: u32,
  nb2: u32, nb3: u32, sAm: u32, sAk: u32,
  sAb0: u32, sAb1: u32, sAb2: u32, sAb3: u32,
  sBk: u32, sBn: u32, sBb0: u32, sBb1: u32,
  sBb2: u32, sBb3: u32, sCm: u32, sCn: u32,
  alpha: f32, beta: f32, sYm: u32, sYn: u32,
}`;

/** The epilogue as a function: shared by both tilings so fused semantics cannot drift apart. */
export function epilogueFn(act: Activation | undefined, residual: boolean): string {
  return /* wgsl */ `
fn finish(acc: f32, m: u32, n: u32, yi: u32) -> f32 {
  var v = u.alpha * acc + u.beta * cbuf[m * u.sCm + n * u.sCn];
  ${residual ? 'v = v + res[yi];' : ''}
  return ${activationWgsl(act, 'v')};
}`;
}

function bindings(o: MatmulWgslOptions): string {
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<${o.bPacked ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(2) var<storage, read> cbuf: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> u: U;
${o.residual ? '@group(0) @binding(5) var<storage, read> res: array<f32>;' : ''}`;
}

/** Offsets of A and B for output batch `z` (up to 4 batch dims, broadcast dims have stride 0). */
const BATCH_OFFSETS = /* wgsl */ `
fn batchOffsets(z: u32) -> vec2<u32> {
  let i3 = z % u.nb3;
  let t2 = z / u.nb3;
  let i2 = t2 % u.nb2;
  let t1 = t2 / u.nb2;
  let i1 = t1 % u.nb1;
  let i0 = t1 / u.nb1;
  return vec2<u32>(i0 * u.sAb0 + i1 * u.sAb1 + i2 * u.sAb2 + i3 * u.sAb3,
                   i0 * u.sBb0 + i1 * u.sBb1 + i2 * u.sBb2 + i3 * u.sBb3);
}`;

const store = (o: MatmulWgslOptions): string => (o.accumulate ? 'y[yi] + ' : '');

/** WGSL source for one matmul variant. */
export function matmulWgsl(o: MatmulWgslOptions): string {
  if (o.variant === 'dot') return dotSource(o);
  return o.variant === 'reg' ? regSource(o) : tiledSource(o);
}

/** Invocations per workgroup of the dot variant. */
export const MATMUL_DOT_WG = 64;

function dotSource(o: MatmulWgslOptions): string {
  const R = o.rows; const CW = o.cols4; const KL = MATMUL_DOT_WG / CW;
  if (R !== 1 && R !== 4) throw new Error(`matmul dot: ${R} rows per workgroup (1 or 4)`);
  const rows = [...Array(R).keys()];
  const bSetup = o.bPacked
    ? '  let bc = off.y + min(n0 / 4u, u.sBk - 1u);'
    : [0, 1, 2, 3].map((c) => `  let bc${c} = off.y + min(n0 + ${c}u, u.N - 1u) * u.sBn;`).join('\n');
  const bLoad = o.bPacked ? '    let bv = b[k * u.sBk + bc];'
    : `    let bv = vec4<f32>(${[0, 1, 2, 3].map((c) => `b[k * u.sBk + bc${c}]`).join(', ')});`;
  const stores = rows.flatMap((i) => [0, 1, 2, 3].map((c) => `    if (m0 + ${i}u < u.M && n0 + ${c}u < u.N) {
      let yi = yb + (m0 + ${i}u) * u.sYm + (n0 + ${c}u) * u.sYn;
      y[yi] = ${store(o)}finish(red[${i * MATMUL_DOT_WG}u + cw].${'xyzw'[c]!}, m0 + ${i}u, n0 + ${c}u, yi);
    }`)).join('\n');
  // Invocation tid = kl * CW + cw: neighbours read neighbouring column vec4s of one B row (one
  // coalesced run of CW * 16 bytes) and, when A's rows are contiguous, the k-lanes neighbouring A.
  return /* wgsl */ `${MATMUL_UNIFORM}
${bindings(o)}
${BATCH_OFFSETS}
${epilogueFn(o.act, o.residual)}

var<workgroup> red: array<vec4<f32>, ${R * MATMUL_DOT_WG}>;

@compute @workgroup_size(${MATMUL_DOT_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let cw = tid % ${CW}u;
  let kl = tid / ${CW}u;
  let n0 = (wid.x * ${CW}u + cw) * 4u;
  let m0 = wid.y * ${R}u;
  let off = batchOffsets(wid.z);
${rows.map((i) => `  let ab${i} = off.x + min(m0 + ${i}u, u.M - 1u) * u.sAm;
  var acc${i} = vec4<f32>(0.0);`).join('\n')}
${bSetup}
  for (var k = kl; k < u.K; k = k + ${KL}u) {
${bLoad}
${rows.map((i) => `    acc${i} = fma(vec4<f32>(a[ab${i} + k * u.sAk]), bv, acc${i});`).join('\n')}
  }
${rows.map((i) => `  red[${i * MATMUL_DOT_WG}u + tid] = acc${i};`).join('\n')}
  workgroupBarrier();
  for (var s = ${KL / 2}u; s > 0u; s = s / 2u) {
    if (kl < s) {
${rows.map((i) => `      red[${i * MATMUL_DOT_WG}u + tid] = red[${i * MATMUL_DOT_WG}u + tid] + red[${i * MATMUL_DOT_WG}u + tid + s * ${CW}u];`).join('\n')}
    }
    workgroupBarrier();
  }
  if (kl == 0u) {
    let yb = wid.z * u.M * u.N;
${stores}
  }
}`;
}

function regSource(o: MatmulWgslOptions): string {
  const R = o.rows;
  const V = o.cols4;
  const rows = [...Array(R).keys()];
  const vs = [...Array(V).keys()];
  const decl = rows.flatMap((i) => vs.map((v) => `  var acc${i}_${v} = vec4<f32>(0.0);`)).join('\n');
  const aBase = rows.map((i) => `  let ab${i} = off.x + min(m0 + ${i}u, u.M - 1u) * u.sAm;`).join('\n');
  // Column c of vec4 group v belongs to lane-interleaved column n0 + v * ${MATMUL_REG_WG * 4} + c.
  const colStep = MATMUL_REG_WG * 4;
  const bSetup = o.bPacked
    ? vs.map((v) => `  let bc${v} = off.y + min((n0 + ${v * colStep}u) / 4u, u.sBk - 1u);`).join('\n')
    : vs.flatMap((v) => [0, 1, 2, 3].map((c) => `  let bc${v}_${c} = off.y + min(n0 + ${v * colStep + c}u, u.N - 1u) * u.sBn;`)).join('\n');
  const bLoad = o.bPacked
    ? vs.map((v) => `    let b${v} = b[bk + bc${v}];`).join('\n')
    : vs.map((v) => `    let b${v} = vec4<f32>(${[0, 1, 2, 3].map((c) => `b[bk + bc${v}_${c}]`).join(', ')});`).join('\n');
  const fma = rows.flatMap((i) => [`    let a${i} = a[ab${i} + k * u.sAk];`, ...vs.map((v) => `    acc${i}_${v} = fma(vec4<f32>(a${i}), b${v}, acc${i}_${v});`)]).join('\n');
  const lines: string[] = [];
  for (const i of rows) {
    for (const v of vs) {
      for (let c = 0; c < 4; c++) {
        const n = `n0 + ${v * colStep + c}u`;
        lines.push(`  if (m0 + ${i}u < u.M && ${n} < u.N) {
    let yi = yb + (m0 + ${i}u) * u.sYm + (${n}) * u.sYn;
    y[yi] = ${store(o)}finish(acc${i}_${v}.${'xyzw'[c]!}, m0 + ${i}u, ${n}, yi);
  }`);
      }
    }
  }
  // Rows come from workgroup_id so the compiler sees A loads as uniform across the workgroup (one
  // scalar load broadcast to all lanes on SIMD software rasterisers); columns are interleaved across
  // lanes so neighbouring lanes read neighbouring vec4s of B.
  return /* wgsl */ `${MATMUL_UNIFORM}
${bindings(o)}
${BATCH_OFFSETS}
${epilogueFn(o.act, o.residual)}

@compute @workgroup_size(${MATMUL_REG_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let n0 = wid.x * ${V * colStep}u + lid.x * 4u;
  let m0 = wid.y * ${R}u;
  let off = batchOffsets(wid.z);
${decl}
${aBase}
${bSetup}
  var bk = 0u;
  for (var k = 0u; k < u.K; k = k + 1u) {
${bLoad}
${fma}
    bk = bk + u.sBk;
  }
  let yb = wid.z * u.M * u.N;
${lines.join('\n')}
}`;
}

function tiledSource(o: MatmulWgslOptions): string {
  const bTile = o.bPacked
    ? /* wgsl */ `
    {
      let kk = k0 + (tid / 16u);
      let col4 = nT / 4u + (tid % 16u);
      var v = vec4<f32>(0.0);
      if (kk < u.K && col4 < u.sBk) { v = b[off.y + kk * u.sBk + col4]; }
      let base = (tid / 16u) * 64u + (tid % 16u) * 4u;
      tb[base] = v.x; tb[base + 1u] = v.y; tb[base + 2u] = v.z; tb[base + 3u] = v.w;
    }`
    : /* wgsl */ `
    for (var q = 0u; q < 4u; q = q + 1u) {
      let row = lrow + 4u * q;
      let kk = k0 + row;
      tb[row * 64u + lcol] = select(0.0, b[off.y + min(kk, u.K - 1u) * u.sBk + bn * u.sBn], kk < u.K);
    }`;
  const stores: string[] = [];
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) {
      stores.push(`  if (m0 + ${i}u < u.M && n0 + ${j}u < u.N) {
    let yi = yb + (m0 + ${i}u) * u.sYm + (n0 + ${j}u) * u.sYn;
    y[yi] = ${store(o)}finish(acc${i}.${'xyzw'[j]!}, m0 + ${i}u, n0 + ${j}u, yi);
  }`);
    }
  }
  return /* wgsl */ `${MATMUL_UNIFORM}
${bindings(o)}
${BATCH_OFFSETS}
${epilogueFn(o.act, o.residual)}

var<workgroup> ta: array<f32, 1024>;
var<workgroup> tb: array<f32, 1024>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let nT = wid.x * 64u;
  let mT = wid.y * 64u;
  let off = batchOffsets(wid.z);
  // Loader geometry: each invocation stages one tile column at four k rows.
  let lcol = tid % 64u;
  let lrow = tid / 64u;
  let am = min(mT + lcol, u.M - 1u);
  let bn = min(nT + lcol, u.N - 1u);
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < u.K; k0 = k0 + 16u) {
    for (var q = 0u; q < 4u; q = q + 1u) {
      let row = lrow + 4u * q;
      let kk = k0 + row;
      ta[row * 64u + lcol] = select(0.0, a[off.x + am * u.sAm + min(kk, u.K - 1u) * u.sAk], kk < u.K);
    }
${bTile}
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk = kk + 1u) {
      let bb = kk * 64u + lid.x * 4u;
      let bv = vec4<f32>(tb[bb], tb[bb + 1u], tb[bb + 2u], tb[bb + 3u]);
      let ab = kk * 64u + lid.y * 4u;
      acc0 = fma(vec4<f32>(ta[ab]), bv, acc0);
      acc1 = fma(vec4<f32>(ta[ab + 1u]), bv, acc1);
      acc2 = fma(vec4<f32>(ta[ab + 2u]), bv, acc2);
      acc3 = fma(vec4<f32>(ta[ab + 3u]), bv, acc3);
    }
    workgroupBarrier();
  }
  let m0 = mT + lid.y * 4u;
  let n0 = nT + lid.x * 4u;
  let yb = wid.z * u.M * u.N;
${stores.join('\n')}
}`;
}
