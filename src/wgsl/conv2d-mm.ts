/**
 * WGSL for the shared-memory implicit-GEMM convolution (`mm`), the kernel family real GPUs tune
 * over. Same GEMM view as conv2d.ts: rows = output channels of a group, columns = the batch's
 * output pixels (N), reduction = Cg * KH * KW (K). A workgroup computes a TM x TN output tile, each
 * invocation an RM x RN register block; the reduction advances TK rows at a time through two
 * workgroup tiles:
 *
 * - weights: packed by kernels/conv.ts as [group][Kp][Mp] vec4 rows (Kp = K rounded up to TK, Mp =
 *   channels per group rounded up to TM, zero-filled), so every weight load is an aligned,
 *   unchecked vec4 and the K and channel tails cost nothing;
 * - input: `pointwise4` (1x1, stride 1, no padding, H*W % 4 == 0) loads four adjacent pixels as one
 *   vec4; `pointwise` loads scalars without a gather; `gather` reads one k-table entry per staged
 *   element (offset within the image, kh*dH, kw*dW; built on the host for the geometry) instead
 *   of dividing k by KH*KW and KW per element, and bounds-checks the tap (that is the padding).
 *   Table rows past K point outside the image, so the tail reads zeros.
 *
 * Invocations own strided rather than contiguous parts of the tile (channel vec4 v of invocation
 * (x, y) is tile column y + v * WY, pixel vec4 j that of x + j * WX), so neighbouring invocations
 * read neighbouring vec4s of the tiles (no bank conflicts) and the inner loop does RM/4 + RN/4
 * vec4 loads for RM * RN multiply-adds.
 *
 * `split`: the workgroup's z also selects one slice of the reduction, whose partial sums go to a
 * scratch buffer that conv2d.ts's `reduce` dispatch adds up (with bias, residual, activation).
 *
 * `f16` (shader-f16): weights stored as f16, both tiles f16, multiply-adds in f16 into per-K-tile
 * accumulators that are added into f32 accumulators after every K tile, so rounding error grows
 * with TK, not with K. Measured on lavapipe against a float64 reference (the fp32 kernels agree
 * with it to 1e-6) over the conv test cases, inputs and weights uniform in [-1, 1], K = 8..576:
 * largest error 1.6e-3 of the output's scale (max |y| before the activation), typical 7e-4 to
 * 1e-3; the tests allow 5e-3 of that scale (test/kernels/conv.test.ts, conv-tune.test.ts).
 */
import type { Activation } from '../kernels/activation.js';
import { CONV_UNIFORM, finishFn } from './conv2d.js';

/** How the kernel stages the input tile (derived from the geometry by kernels/conv.ts). */
export type ConvMmInput = 'gather' | 'pointwise' | 'pointwise4';

/** The tiling of one mm variant. */
export interface ConvMmTiling {
  /** Output channels per workgroup tile. */
  tm: number;
  /** Output pixels per workgroup tile. */
  tn: number;
  /** Output channels per invocation (a multiple of 4: they are vec4 accumulators). */
  rm: number;
  /** Output pixels per invocation (a multiple of 4). */
  rn: number;
  /** Reduction rows staged per barrier. */
  tk: number;
}

export interface ConvMmWgslOptions extends ConvMmTiling {
  input: ConvMmInput;
  /** Write split-K partial sums (binding 2 is the scratch) instead of finished outputs. */
  split: boolean;
  f16: boolean;
  /** As in ConvWgslOptions (ignored with split: the reduce dispatch finishes). */
  residual: boolean;
  act?: Activation;
  epilogue?: 'baked' | 'uniform';
}

const TM_OK = [32, 64, 128];
const TN_OK = [16, 32, 64, 128];
const R_OK = [4, 8];
const TK_OK = [8, 16, 32];

/** Invocations per workgroup along x (pixels) and y (channels). */
export function convMmWorkgroup(t: ConvMmTiling): [number, number] {
  return [t.tn / t.rn, t.tm / t.rm];
}

/** Workgroup memory of the two tiles, in bytes. */
export function convMmSharedBytes(t: ConvMmTiling, f16: boolean): number {
  return t.tk * (t.tm + t.tn) * (f16 ? 2 : 4);
}

/** Why this tiling cannot be generated, or undefined when it can. */
export function convMmInvalid(t: ConvMmTiling, input: ConvMmInput): string | undefined {
  if (!TM_OK.includes(t.tm) || !TN_OK.includes(t.tn) || !R_OK.includes(t.rm) || !R_OK.includes(t.rn) || !TK_OK.includes(t.tk)) {
    return `unsupported tiling ${t.tm}x${t.tn} r${t.rm}x${t.rn} k${t.tk}`;
  }
  const [wx, wy] = convMmWorkgroup(t);
  const T = wx * wy;
  // Each invocation stages a fixed pixel column (or vec4 column) of the input tile, so its pixel
  // decomposition happens once per workgroup instead of once per staged element.
  const cols = input === 'pointwise4' ? t.tn / 4 : t.tn;
  if (T % cols !== 0) return `${T} invocations cannot stage ${cols} input columns`;
  return undefined;
}

const range = (n: number): number[] => [...Array(n).keys()];

/** Nested selects picking accumulator vec4 q / 4 of pixel j (q: the store loop's channel). */
function pickAcc(j: number, lo: number, hi: number): string {
  if (hi - lo === 1) return `acc${j}_${lo}`;
  const mid = (lo + hi) >> 1;
  return `select(${pickAcc(j, mid, hi)}, ${pickAcc(j, lo, mid)}, q < ${mid * 4}u)`;
}

/** WGSL source of one mm variant. */
export function convMmWgsl(o: ConvMmWgslOptions): string {
  const bad = convMmInvalid(o, o.input);
  if (bad) throw new Error(`conv2d-mm: ${bad}`);
  const { tm, tn, rm, rn, tk } = o;
  const [WX, WY] = convMmWorkgroup(o);
  const T = WX * WY; const TM4 = tm / 4; const TN4 = tn / 4;
  const F = o.f16 ? 'f16' : 'f32';
  const V = range(rm / 4); const J = range(rn); const J4 = range(rn / 4);

  let bindings = /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<${o.input === 'pointwise4' ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(1) var<storage, read> w: array<vec4<${F}>>;`;
  let next: number;
  if (o.split) {
    bindings += `
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<uniform> u: U;`;
    next = 4;
  } else {
    bindings += `
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> u: U;`;
    next = 5;
    if (o.residual) { bindings += '\n@group(0) @binding(5) var<storage, read> res: array<f32>;'; next = 6; }
  }
  if (o.input === 'gather') bindings += `\n@group(0) @binding(${next}) var<storage, read> ktab: array<vec4<i32>>;`;

  // Weight tile: tk rows of TM4 vec4s, consecutive invocations on consecutive vec4s.
  const WN = tk * TM4;
  const wLoads = range(Math.ceil(WN / T)).map((q) => {
    const body = `{ let i = tid + ${q * T}u; tw[i] = w[wb + (k0 + i / ${TM4}u) * u.Mp4 + i % ${TM4}u]; }`;
    return (q + 1) * T > WN ? `    if (tid + ${q * T}u < ${WN}u) ${body}` : `    ${body}`;
  }).join('\n');

  // Input tile: every invocation keeps one column and steps over rows.
  const cols = o.input === 'pointwise4' ? TN4 : tn;
  const RP = T / cols;
  const xLoad = (row: string): string => {
    if (o.input === 'pointwise4') {
      return `let kk = k0 + ${row};
      tx[${row} * ${TN4}u + lc] = vec4<${F}>(select(vec4<f32>(0.0), x[xo + min(kk, u.K - 1u) * hw4], kk < u.K));`;
    }
    const v = o.input === 'pointwise'
      ? `let kk = k0 + ${row};
      let v = select(0.0, x[xo + min(kk, u.K - 1u) * u.HW], kk < u.K);`
      : `let e = ktab[k0 + ${row}];
      let ih = ih0 + e.y;
      let iw = iw0 + e.z;
      let v = select(0.0, x[u32(xo + e.x)], u32(ih) < u.H && u32(iw) < u.W);`;
    return `${v}
      tx[${row} * ${TN4}u + lc / 4u][lc % 4u] = ${F}(v);`;
  };
  const xLoads = range(Math.ceil(tk / RP)).map((q) => {
    const row = `(r0 + ${q * RP}u)`;
    const body = `{
      ${xLoad(row)}
    }`;
    return (q + 1) * RP > tk ? `    if (${row} < ${tk}u) ${body}` : `    ${body}`;
  }).join('\n');
  let colSetup: string;
  if (o.input === 'pointwise4') {
    colSetup = `
  let lc = tid % ${TN4}u;
  let r0 = tid / ${TN4}u;
  // Four pixels of one image (H*W % 4 == 0); past the end clamped to the last group (discarded).
  let n4 = min(nT + lc * 4u, u.N - 4u);
  let img4 = n4 / u.P;
  let xo = (img4 * u.xImg + g * u.Cg * u.HW + n4 - img4 * u.P) / 4u;
  let hw4 = u.HW / 4u;`;
  } else {
    colSetup = `
  let lc = tid % ${tn}u;
  let r0 = tid / ${tn}u;
  // Past the last pixel the column is clamped to it: computed, never stored.
  let nc = min(nT + lc, u.N - 1u);
  let img = nc / u.P;
  let p = nc - img * u.P;
  let xb = img * u.xImg + g * u.Cg * u.HW;`;
    colSetup += o.input === 'pointwise' ? `
  let xo = xb + p;` : `
  let oh = p / u.OW;
  let ow = p - oh * u.OW;
  let ih0 = i32(oh * u.sH) - u.pT;
  let iw0 = i32(ow * u.sW) - u.pL;
  let xo = i32(xb) + ih0 * i32(u.W) + iw0;`;
  }

  const accDecl = J.flatMap((j) => V.map((v) => `  var acc${j}_${v} = vec4<f32>(0.0);`)).join('\n');
  const a = o.f16 ? 'h' : 'acc';
  const tileAccDecl = o.f16 ? J.flatMap((j) => V.map((v) => `    var h${j}_${v} = vec4<f16>(0.0);`)).join('\n') : '';
  const fold = o.f16 ? J.flatMap((j) => V.map((v) => `    acc${j}_${v} = acc${j}_${v} + vec4<f32>(h${j}_${v});`)).join('\n') : '';
  const inner = /* wgsl */ `
    for (var kk = 0u; kk < ${tk}u; kk = kk + 1u) {
      let wr = kk * ${TM4}u + lid.y;
${V.map((v) => `      let w${v} = tw[wr + ${v * WY}u];`).join('\n')}
      let xr = kk * ${TN4}u + lid.x;
${J4.map((j4) => `      let x${j4} = tx[xr + ${j4 * WX}u];`).join('\n')}
${J.flatMap((j) => V.map((v) => `      ${a}${j}_${v} = fma(w${v}, vec4<${F}>(x${j >> 2}.${'xyzw'[j & 3]!}), ${a}${j}_${v});`)).join('\n')}
    }`;

  const store = (j: number): string => o.split
    ? `part[s * u.outTotal + yi] = ${pickAcc(j, 0, rm / 4)}[q % 4u];`
    : `y[yi] = finish(${pickAcc(j, 0, rm / 4)}[q % 4u], oc, yi);`;
  // One loop over the block's channels per pixel (not a full unroll): compile time grows with the
  // source on software adapters, and the epilogue runs once per output.
  const stores = J.map((j) => `
  {
    let n = nT + (lid.x + ${(j >> 2) * WX}u) * 4u + ${j & 3}u;
    if (n < u.N) {
      let img = n / u.P;
      let p = n - img * u.P;
      for (var q = 0u; q < ${rm}u; q = q + 1u) {
        let m = mT + (lid.y + (q / 4u) * ${WY}u) * 4u + q % 4u;
        if (m >= u.Mg) { break; }
        let oc = g * u.Mg + m;
        let yi = (img * u.M + oc) * u.P + p;
        ${store(j)}
      }
    }
  }`).join('');

  return /* wgsl */ `${o.f16 ? 'enable f16;\n' : ''}${CONV_UNIFORM}
${bindings}
${o.split ? '' : finishFn(o)}

var<workgroup> tw: array<vec4<${F}>, ${WN}>;
var<workgroup> tx: array<vec4<${F}>, ${tk * TN4}>;

@compute @workgroup_size(${WX}, ${WY})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let g = wid.z / u.S;
  let s = wid.z - g * u.S;
  let kBeg = s * u.kPer;
  let kEnd = min(u.Kp, kBeg + u.kPer);
  let nT = wid.x * ${tn}u;
  let mT = wid.y * ${tm}u;
  let wb = g * u.Kp * u.Mp4 + mT / 4u;
${colSetup}
${accDecl}
  for (var k0 = kBeg; k0 < kEnd; k0 = k0 + ${tk}u) {
${wLoads}
${xLoads}
    workgroupBarrier();
${tileAccDecl}${inner}
${fold}
    workgroupBarrier();
  }
${stores}
}`;
}
