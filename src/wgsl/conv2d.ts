/**
 * WGSL for Conv as an implicit GEMM: rows = output channels of a group (M), columns = batch * OH * OW
 * pixels (N), reduction = C/g * KH * KW (K). Weights arrive packed by kernels/conv.ts as
 * [group][k][Mp] (Mp = channels per group padded to a multiple of 8 with zeros), so four
 * consecutive output channels are one aligned vec4 load. Input pixels are gathered with bounds
 * checks (this is where padding happens), so no im2col buffer is ever materialised.
 *
 * Variants: `reg` (register-blocked, no workgroup memory: software adapters), `tiled` (TMxTN tiles
 * staged in workgroup memory, 4x4 outputs per invocation, optionally split over K with a `reduce`
 * dispatch: real GPUs), `depthwise` (one input channel per group; direct loops).
 * `pointwise` (1x1, stride 1, no padding) drops the spatial gather and becomes a plain GEMM.
 */
import type { Activation } from '../kernels/activation.js';
import { activationWgsl } from '../kernels/activation.js';
import { FLAT_INDEX } from './common.js';

/** Uniform layout; kernels/conv.ts packs fields in this order. */
export const CONV_UNIFORM = /* wgsl */ `
struct U {
  N: u32, P: u32, OW: u32, OH: u32,
  H: u32, W: u32, Cg: u32, KH: u32,
  KW: u32, sH: u32, sW: u32, pT: i32,
  pL: i32, dH: u32, dW: u32, Mg: u32,
  M: u32, Mp4: u32, K: u32, xImg: u32,
  HW: u32, OWB: u32, total: u32, hasRes: u32,
  S: u32, kPer: u32, outTotal: u32, Kp: u32,
  slope: f32, lo: f32, hi: f32, pad2: u32,
  qs: f32, qz: f32, qlo: f32, qhi: f32,
}`;

export interface ConvWgslOptions {
  /** `reduce`: the second dispatch of a split-K tiled conv. */
  variant: 'reg' | 'tiled' | 'depthwise' | 'reduce';
  /** 1x1, stride 1, no padding: the input is already the GEMM's B operand. */
  pointwise: boolean;
  /** reg: pixels per invocation. */
  pixels: 4 | 8;
  /** reg: vec4 output-channel groups per invocation (4 and 8 only with `lanes`). */
  chan4: 1 | 2 | 4 | 8;
  /**
   * reg: subgroup size the kernel is written for (8 on lavapipe); unset: no subgroups. With it,
   * lane l loads the weights of channels 4l..4l+3 and subgroupBroadcast hands them to the others.
   * Software adapters load a buffer element lane by lane (a scalar loop with a bounds-check branch
   * per lane) unless the offset is a compile-time constant, so a vec4 weight load, uniform in
   * fact, cost 8 vec4 loads for one; this way one lane-by-lane load fetches 8 vec4s, and a
   * broadcast is a register shuffle.
   */
  lanes?: 8;
  /** tiled: output channels per tile (64 or 32). */
  tileM?: 64 | 32;
  /** tiled: pixels per tile (64, 32 or 16). */
  tileN?: 64 | 32 | 16;
  /** tiled: write split-K partial sums instead of finished outputs. */
  split?: boolean;
  /** The residual binding exists (with `epilogue: 'uniform'`, u.hasRes says whether it is added). */
  residual: boolean;
  /** Baked into the source; ignored with `epilogue: 'uniform'`. */
  act?: Activation;
  /**
   * `uniform`: residual and a piecewise-linear activation (none, Relu, Clip, LeakyRelu) come from
   * the uniform block, so every such Conv of a model shares one pipeline per kernel variant.
   * Compiling a pipeline costs 0.3-1.5 s on software adapters, where ResNet-18 otherwise
   * compiles three copies of the same conv kernel differing only in their last few lines.
   */
  epilogue?: 'baked' | 'uniform';
}

/** finish(): bias, then residual and activation, baked or read from the uniform block. */
export function finishFn(o: Pick<ConvWgslOptions, 'residual' | 'act' | 'epilogue'>): string {
  if (o.epilogue === 'uniform') return /* wgsl */ `
fn finish(acc: f32, oc: u32, yi: u32) -> f32 {
  var v = acc + bias[oc];
  if (u.hasRes != 0u) { v = v + res[yi]; }
  v = clamp(select(v * u.slope, v, v >= 0.0), u.lo, u.hi);
  // A fused QuantizeLinear→DequantizeLinear pair (per tensor), as those kernels compute it; off when qs = 0.
  if (u.qs > 0.0) { v = (clamp(round(v / u.qs) + u.qz, u.qlo, u.qhi) - u.qz) * u.qs; }
  return v;
}`;
  return /* wgsl */ `
fn finish(acc: f32, oc: u32, yi: u32) -> f32 {
  var v = acc + bias[oc];
  ${o.residual ? 'v = v + res[yi];' : ''}
  return ${activationWgsl(o.act, 'v')};
}`;
}

/** Invocations per workgroup of the reg (without lanes) and depthwise variants. */
export const CONV_WG = 64;

function header(o: ConvWgslOptions): string {
  return /* wgsl */ `${o.lanes ? 'enable subgroups;\n' : ''}${CONV_UNIFORM}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<${o.variant === 'depthwise' ? 'f32' : 'vec4<f32>'}>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> u: U;
${o.residual ? '@group(0) @binding(5) var<storage, read> res: array<f32>;' : ''}
${finishFn(o)}`;
}

/** WGSL source for one conv variant. */
export function convWgsl(o: ConvWgslOptions): string {
  if (o.variant === 'depthwise') return depthwiseSource(o);
  if (o.variant === 'reduce') return reduceSource(o);
  return o.variant === 'reg' ? regSource(o) : tiledSource(o);
}

const range = (n: number): number[] => [...Array(n).keys()];

/** Per-pixel setup shared by reg and tiled: image, pixel-in-image, top-left input corner. */
function pixelSetup(j: string, n: string): string {
  return `
  let nc${j} = min(${n}, u.N - 1u);
  let img${j} = nc${j} / u.P;
  let p${j} = nc${j} - img${j} * u.P;
  let oh${j} = p${j} / u.OW;
  let ow${j} = p${j} - oh${j} * u.OW;
  let ih0${j} = i32(oh${j} * u.sH) - u.pT;
  let iw0${j} = i32(ow${j} * u.sW) - u.pL;
  let xb${j} = img${j} * u.xImg + g * u.Cg * u.HW;`;
}

/** Nested selects picking accumulator q / 4 of pixel j (q: the store loop's channel). */
function pickAcc(j: number, lo: number, hi: number): string {
  if (hi - lo === 1) return `acc${j}_${lo}`;
  const mid = (lo + hi) >> 1;
  return `select(${pickAcc(j, mid, hi)}, ${pickAcc(j, lo, mid)}, q < ${mid * 4}u)`;
}

function regSource(o: ConvWgslOptions): string {
  const J = range(o.pixels);
  const V = range(o.chan4);
  const lanes = o.lanes ?? 0;
  if (lanes && o.chan4 > lanes) throw new Error(`conv2d: ${o.chan4} channel vec4s per invocation exceed the ${lanes}-lane subgroup`);
  const acc = J.flatMap((j) => V.map((v) => `  var acc${j}_${v} = vec4<f32>(0.0);`)).join('\n');
  const setup = J.map((j) => pixelSetup(`${j}`, `n0 + ${j}u`)).join('');
  // With lanes, wi already includes this lane's offset: lane l loads channels 4l..4l+3.
  const wLoads = (indent: string) => lanes
    ? [`let wl = w[wi];`, ...V.map((v) => `let w${v} = subgroupBroadcast(wl, ${v}u);`)].map((l) => indent + l).join('\n')
    : V.map((v) => `${indent}let w${v} = w[wi + ${v}u];`).join('\n');
  let loop: string;
  if (o.pointwise) {
    loop = /* wgsl */ `
  for (var c = 0u; c < u.Cg; c = c + 1u) {
${wLoads('    ')}
    wi = wi + u.Mp4;
    let cb = c * u.HW;
${J.map((j) => `    let x${j} = x[xb${j} + p${j} + cb];`).join('\n')}
${J.flatMap((j) => V.map((v) => `    acc${j}_${v} = fma(w${v}, vec4<f32>(x${j}), acc${j}_${v});`)).join('\n')}
  }`;
  } else {
    loop = /* wgsl */ `
  for (var c = 0u; c < u.Cg; c = c + 1u) {
    for (var kh = 0u; kh < u.KH; kh = kh + 1u) {
${J.map((j) => `      let ih${j} = ih0${j} + i32(kh * u.dH);
      let rok${j} = u32(ih${j}) < u.H;
      let rb${j} = xb${j} + c * u.HW + u32(ih${j}) * u.W;`).join('\n')}
      for (var kw = 0u; kw < u.KW; kw = kw + 1u) {
${wLoads('        ')}
        wi = wi + u.Mp4;
        let dw = i32(kw * u.dW);
${J.map((j) => `        let iw${j} = iw0${j} + dw;
        let x${j} = select(0.0, x[rb${j} + u32(iw${j})], rok${j} && u32(iw${j}) < u.W);`).join('\n')}
${J.flatMap((j) => V.map((v) => `        acc${j}_${v} = fma(w${v}, vec4<f32>(x${j}), acc${j}_${v});`)).join('\n')}
      }
    }
  }`;
  }
  // The epilogue loops over output channels instead of unrolling pixels x channels: one finish()
  // per pixel instead of one per output keeps the source small, and compile time on software
  // adapters grows with it (ResNet-18's conv pipeline: 1.5 s unrolled, 0.3 s so). A loop over
  // pixels as well was slower to compile again (measured on lavapipe).
  const pick = (j: number) => pickAcc(j, 0, o.chan4);
  const stores = `
  for (var q = 0u; q < ${o.chan4 * 4}u; q = q + 1u) {
    if (m0 + q >= u.Mg) { break; }
    let oc = g * u.Mg + m0 + q;
${J.map((j) => `    if (n0 + ${j}u < u.N) {
      let yi = (img${j} * u.M + oc) * u.P + p${j};
      y[yi] = finish(${pick(j)}[q % 4u], oc, yi);
    }`).join('\n')}
  }`;
  return /* wgsl */ `${header(o)}

@compute @workgroup_size(${lanes || CONV_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>${lanes ? ', @builtin(subgroup_invocation_id) sl: u32' : ''}) {
  let n0 = ${lanes ? `(wid.y * ${lanes}u + sl)` : 'gid.x'} * ${o.pixels}u;
  let m0 = ${lanes ? 'wid.x' : 'wid.y'} * ${o.chan4 * 4}u;
  let g = wid.z;
  // With lanes a workgroup is one subgroup, and invocations past the last pixel stay to the end
  // (a broadcast reads every lane): their gathers are clamped to the last pixel by pixelSetup and
  // their stores skipped.
  if (${lanes ? '' : 'n0 >= u.N || '}m0 >= u.Mg) { return; }
${setup}
${acc}
  var wi = g * u.K * u.Mp4 + m0 / 4u${lanes ? ' + sl' : ''};
${loop}
${stores}
}`;
}

function tiledSource(o: ConvWgslOptions): string {
  const TM = o.tileM ?? 64; const TN = o.tileN ?? 64;
  const TM4 = TM / 4; const TN4 = TN / 4; const T = TM4 * TN4;
  const split = o.split === true;
  const gather = o.pointwise
    ? `select(0.0, x[xbL + pL + min(kk, u.K - 1u) * u.HW], okL && kk < kEnd)`
    : `gatherX(kk, ih0L, iw0L, xbL, okL && kk < kEnd)`;
  // A split-K slice writes raw partial sums (its own copy of y, offset by slice); the reduce
  // dispatch adds the slices and applies bias, residual and activation.
  const store = (j: number, i: number) => split
    ? `part[s * u.outTotal + yi] = acc${j}.${'xyzw'[i]!};`
    : `y[yi] = finish(acc${j}.${'xyzw'[i]!}, oc, yi);`;
  const stores = range(4).flatMap((j) => range(4).map((i) => `
  if (n0 + ${j}u < u.N && m0 + ${i}u < u.Mg) {
    let oc = g * u.Mg + m0 + ${i}u;
    let yi = (img${j} * u.M + oc) * u.P + p${j};
    ${store(j, i)}
  }`)).join('');
  // Staging: T invocations fill 16 k-rows of TN pixels (one pixel column each, TM/16 rows per pass:
  // T is a multiple of TN, so each invocation's column and its gather setup stay fixed) and 16 rows
  // of TM4 weight vec4s. Tiles live as vec4 so the inner loop does two 16-byte loads per 16 FMAs.
  const head = split ? /* wgsl */ `${CONV_UNIFORM}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<uniform> u: U;` : header(o);
  return /* wgsl */ `${head}

var<workgroup> tw: array<vec4<f32>, ${16 * TM4}>;
var<workgroup> tx: array<vec4<f32>, ${16 * TN4}>;

fn gatherX(kk: u32, ih0: i32, iw0: i32, xb: u32, ok: bool) -> f32 {
  let khw = u.KH * u.KW;
  let c = kk / khw;
  let r = kk - c * khw;
  let kh = r / u.KW;
  let kw = r - kh * u.KW;
  let ih = ih0 + i32(kh * u.dH);
  let iw = iw0 + i32(kw * u.dW);
  let inside = ok && u32(ih) < u.H && u32(iw) < u.W;
  return select(0.0, x[xb + c * u.HW + u32(ih) * u.W + u32(iw)], inside);
}

@compute @workgroup_size(${TN4}, ${TM4})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let g = wid.z / u.S;
  let s = wid.z - g * u.S;
  let kBeg = s * u.kPer;
  let kEnd = min(u.K, kBeg + u.kPer);
  let nT = wid.x * ${TN}u;
  let mT = wid.y * ${TM}u;
  let lcol = tid % ${TN}u;
  let lrow = tid / ${TN}u;
  let okL = nT + lcol < u.N;
${pixelSetup('L', 'nT + lcol')}
  let wb = g * u.K * u.Mp4;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k0 = kBeg; k0 < kEnd; k0 = k0 + 16u) {
    for (var q = 0u; q < ${(16 * TM4) / T}u; q = q + 1u) {
      let idx = tid + q * ${T}u;
      let wrow = idx / ${TM4}u;
      let wc = idx - wrow * ${TM4}u;
      let wcol = mT / 4u + wc;
      let kk = k0 + wrow;
      var v = vec4<f32>(0.0);
      if (kk < kEnd && wcol < u.Mp4) { v = w[wb + kk * u.Mp4 + wcol]; }
      tw[idx] = v;
    }
    for (var q = 0u; q < ${16 / (T / TN)}u; q = q + 1u) {
      let row = lrow + ${T / TN}u * q;
      let kk = k0 + row;
      tx[row * ${TN4}u + lcol / 4u][lcol % 4u] = ${gather};
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk = kk + 1u) {
      let wq = tw[kk * ${TM4}u + lid.y];
      let xq = tx[kk * ${TN4}u + lid.x];
      acc0 = fma(wq, vec4<f32>(xq.x), acc0);
      acc1 = fma(wq, vec4<f32>(xq.y), acc1);
      acc2 = fma(wq, vec4<f32>(xq.z), acc2);
      acc3 = fma(wq, vec4<f32>(xq.w), acc3);
    }
    workgroupBarrier();
  }
  let n0 = nT + lid.x * 4u;
  let m0 = mT + lid.y * 4u;
${range(4).map((j) => `  let img${j} = min(n0 + ${j}u, u.N - 1u) / u.P;
  let p${j} = min(n0 + ${j}u, u.N - 1u) - img${j} * u.P;`).join('\n')}
${stores}
}`;
}

/** Invocations per workgroup of the split-K reduce. */
export const CONV_REDUCE_WG = 64;

/** Sums the split-K slices of every output element and applies bias, residual and activation. */
function reduceSource(o: ConvWgslOptions): string {
  return /* wgsl */ `${CONV_UNIFORM}
@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${o.residual ? '@group(0) @binding(4) var<storage, read> res: array<f32>;' : ''}
${FLAT_INDEX}
${finishFn(o)}

@compute @workgroup_size(${CONV_REDUCE_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = flatIndex(gid, nwg, ${CONV_REDUCE_WG}u);
  if (idx >= u.outTotal) { return; }
  let oc = (idx / u.P) % u.M;
  var acc = 0.0;
  for (var s = 0u; s < u.S; s = s + 1u) { acc = acc + part[s * u.outTotal + idx]; }
  y[idx] = finish(acc, oc, idx);
}`;
}

/** Four horizontally adjacent outputs of one channel per invocation; weights as plain [M][KH*KW]. */
function depthwiseSource(o: ConvWgslOptions): string {
  const J = range(4);
  return /* wgsl */ `${header(o)}
${FLAT_INDEX}

@compute @workgroup_size(${CONV_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = flatIndex(gid, nwg, ${CONV_WG}u);
  if (idx >= u.total) { return; }
  let owb = idx % u.OWB;
  let t = idx / u.OWB;
  let oh = t % u.OH;
  let t2 = t / u.OH;
  let oc = t2 % u.M;
  let img = t2 / u.M;
  let ow0 = owb * 4u;
  let ci = oc / u.Mg;
  let xb = img * u.xImg + ci * u.HW;
  let ih0 = i32(oh * u.sH) - u.pT;
${J.map((j) => `  let iw0${j} = i32((ow0 + ${j}u) * u.sW) - u.pL;\n  var acc${j} = 0.0;`).join('\n')}
  var wi = oc * u.KH * u.KW;
  for (var kh = 0u; kh < u.KH; kh = kh + 1u) {
    let ih = ih0 + i32(kh * u.dH);
    if (u32(ih) >= u.H) { wi = wi + u.KW; continue; }
    let rb = xb + u32(ih) * u.W;
    for (var kw = 0u; kw < u.KW; kw = kw + 1u) {
      let wv = w[wi];
      wi = wi + 1u;
      let dw = i32(kw * u.dW);
${J.map((j) => `      let iw${j} = iw0${j} + dw;
      acc${j} = fma(wv, select(0.0, x[rb + u32(iw${j})], u32(iw${j}) < u.W), acc${j});`).join('\n')}
    }
  }
  let yb = (img * u.M + oc) * u.P + oh * u.OW;
${J.map((j) => `  if (ow0 + ${j}u < u.OW) { y[yb + ow0 + ${j}u] = finish(acc${j}, oc, yb + ow0 + ${j}u); }`).join('\n')}
}`;
}
