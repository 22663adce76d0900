/**
 * WGSL for the input gradient of Conv (reverse mode): dX = the transposed convolution of dY with
 * the weights, computed as an implicit GEMM in gather form so every dX element is written by one
 * invocation (no atomics). Rows = input channels of a group (Cg), columns = batch * H * W input
 * pixels, reduction = (kh, kw, output channel of the group). For input pixel ih the output rows
 * that read it are the oh with ih + pT - kh * dH = oh * sH, so each tap is tested for
 * divisibility by the stride (zero contribution otherwise).
 *
 * Weights arrive re-laid by kernels/conv.ts as [group][kh * KW + kw][Mg][Cgp] (Cgp = Cg padded to
 * a multiple of 8 with zeros), so four consecutive input channels are one aligned vec4 and the
 * innermost loop over output channels walks weights and dY with constant strides.
 *
 * Variants mirror the forward kernel: `reg` (register-blocked, software adapters), `tiled` (64x64
 * tiles in workgroup memory, real GPUs), `depthwise` (one input channel per group, direct loops
 * over its channel multiplier). Every variant ADDS into dX: several consumers share the buffer.
 */
import { FLAT_INDEX } from './common.js';

/** Uniform layout; kernels/conv.ts packs fields in this order. */
export const CONV_GRAD_UNIFORM = /* wgsl */ `
struct U {
  N: u32, P: u32, W: u32, H: u32,
  OW: u32, OH: u32, OP: u32, Mg: u32,
  KH: u32, KW: u32, sH: u32, sW: u32,
  pT: i32, pL: i32, dH: u32, dW: u32,
  Cg: u32, C: u32, Cp4: u32, KHW: u32,
  yImg: u32, xImg: u32, total: u32, WB: u32,
}`;

/** Structure-changing choices baked into one conv-gradient pipeline. */
export interface ConvGradWgslOptions {
  variant: 'reg' | 'tiled' | 'depthwise';
  /** 1x1, stride 1, no padding: every tap is valid and dY pixel = dX pixel. */
  pointwise: boolean;
  /** reg: input pixels per invocation. */
  pixels: 4 | 8;
  /** reg: vec4 input-channel groups per invocation. */
  chan4: 1 | 2;
}

/** Invocations per workgroup of the reg and depthwise variants. */
export const CONV_GRAD_WG = 64;

const range = (n: number): number[] => [...Array(n).keys()];

function header(o: ConvGradWgslOptions): string {
  return /* wgsl */ `${CONV_GRAD_UNIFORM}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<${o.variant === 'depthwise' ? 'f32' : 'vec4<f32>'}>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
`;
}

/** WGSL source for one conv-gradient variant. */
export function convGradWgsl(o: ConvGradWgslOptions): string {
  if (o.variant === 'depthwise') return depthwiseSource(o);
  return o.variant === 'reg' ? regSource(o) : tiledSource(o);
}

/** Per-pixel setup: image, pixel-in-image, dY base of the group, and the padded coordinates. */
function pixelSetup(j: string, n: string): string {
  return `
  let nc${j} = min(${n}, u.N - 1u);
  let img${j} = nc${j} / u.P;
  let p${j} = nc${j} - img${j} * u.P;
  let ih${j} = p${j} / u.W;
  let iw${j} = p${j} - ih${j} * u.W;
  let yb${j} = img${j} * u.yImg + g * u.Mg * u.OP;
  let th0${j} = i32(ih${j}) + u.pT;
  let tw0${j} = i32(iw${j}) + u.pL;`;
}

/** Row validity of tap kh for one pixel: th = oh * sH with 0 <= oh < OH. */
function rowTest(j: string, kh: string): string {
  return `
    let th${j} = th0${j} - i32(${kh} * u.dH);
    let oh${j} = u32(th${j}) / u.sH;
    let rok${j} = th${j} >= 0 && oh${j} * u.sH == u32(th${j}) && oh${j} < u.OH;
    let rb${j} = yb${j} + oh${j} * u.OW;`;
}

function colTest(j: string, kw: string): string {
  return `
      let tw${j} = tw0${j} - i32(${kw} * u.dW);
      let ow${j} = u32(tw${j}) / u.sW;
      let ok${j} = rok${j} && tw${j} >= 0 && ow${j} * u.sW == u32(tw${j}) && ow${j} < u.OW;
      let off${j} = select(yb${j}, rb${j} + ow${j}, ok${j});`;
}

function regSource(o: ConvGradWgslOptions): string {
  const J = range(o.pixels);
  const V = range(o.chan4);
  const acc = J.flatMap((j) => V.map((v) => `  var acc${j}_${v} = vec4<f32>(0.0);`)).join('\n');
  const setup = J.map((j) => pixelSetup(`${j}`, `n0 + ${j}u`)).join('');
  const inner = (ind: string, valid: boolean): string => `
${ind}for (var m = 0u; m < u.Mg; m = m + 1u) {
${V.map((v) => `${ind}  let w${v} = w[wi + ${v}u];`).join('\n')}
${ind}  wi = wi + u.Cp4;
${J.map((j) => `${ind}  let x${j} = ${valid ? `dy[off${j} + mo]` : `select(0.0, dy[off${j} + mo], ok${j})`};`).join('\n')}
${ind}  mo = mo + u.OP;
${J.flatMap((j) => V.map((v) => `${ind}  acc${j}_${v} = fma(w${v}, vec4<f32>(x${j}), acc${j}_${v});`)).join('\n')}
${ind}}`;
  let loop: string;
  if (o.pointwise) {
    loop = `
${J.map((j) => `  let off${j} = yb${j} + p${j};`).join('\n')}
  var mo = 0u;${inner('  ', true)}`;
  } else {
    loop = /* wgsl */ `
  for (var kh = 0u; kh < u.KH; kh = kh + 1u) {${J.map((j) => rowTest(`${j}`, 'kh')).join('')}
    for (var kw = 0u; kw < u.KW; kw = kw + 1u) {${J.map((j) => colTest(`${j}`, 'kw')).join('')}
      // Strides leave most taps of a pixel empty: skip a tap no pixel of this invocation uses.
      if (!(${J.map((j) => `ok${j}`).join(' || ')})) { wi = wi + u.Mg * u.Cp4; continue; }
      var mo = 0u;${inner('      ', false)}
    }
  }`;
  }
  const stores = J.flatMap((j) => V.flatMap((v) => range(4).map((i) => `
  if (n0 + ${j}u < u.N && c0 + ${v * 4 + i}u < u.Cg) {
    let xi = (img${j} * u.C + g * u.Cg + c0 + ${v * 4 + i}u) * u.P + p${j};
    gx[xi] = gx[xi] + acc${j}_${v}.${'xyzw'[i]!};
  }`))).join('');
  return /* wgsl */ `${header(o)}
@compute @workgroup_size(${CONV_GRAD_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  // Channel block and group from workgroup_id: weight loads are then uniform across the workgroup.
  let n0 = gid.x * ${o.pixels}u;
  let c0 = wid.y * ${o.chan4 * 4}u;
  let g = wid.z;
  if (n0 >= u.N || c0 >= u.Cg) { return; }
${setup}
${acc}
  var wi = g * u.KHW * u.Mg * u.Cp4 + c0 / 4u;
${loop}
${stores}
}`;
}

function tiledSource(o: ConvGradWgslOptions): string {
  const stores = range(4).flatMap((j) => range(4).map((i) => `
  if (n0 + ${j}u < u.N && c0 + ${i}u < u.Cg) {
    let xi = (img${j} * u.C + g * u.Cg + c0 + ${i}u) * u.P + p${j};
    gx[xi] = gx[xi] + acc${j}.${'xyzw'[i]!};
  }`)).join('');
  const tap = o.pointwise
    ? `    let okT = okL;
    let offT = ybL + pL;`
    : `    let kh = r / u.KW;
    let kw = r - kh * u.KW;
    let th = th0L - i32(kh * u.dH);
    let oh = u32(th) / u.sH;
    let tw = tw0L - i32(kw * u.dW);
    let ow = u32(tw) / u.sW;
    let okT = okL && th >= 0 && oh * u.sH == u32(th) && oh < u.OH && tw >= 0 && ow * u.sW == u32(tw) && ow < u.OW;
    let offT = select(ybL, ybL + oh * u.OW + ow, okT);`;
  return /* wgsl */ `${header(o)}
var<workgroup> tileW: array<f32, 1024>;
var<workgroup> tileX: array<f32, 1024>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let g = wid.z;
  let nT = wid.x * 64u;
  let cT = wid.y * 64u;
  // Staging geometry: each invocation loads one pixel column at four m rows, and one vec4 of weights.
  let lcol = tid % 64u;
  let lrow = tid / 64u;
  let okL = nT + lcol < u.N;
${pixelSetup('L', 'nT + lcol')}
  let wrow = tid / 16u;
  let wcol = cT / 4u + tid % 16u;
  let wb = g * u.KHW * u.Mg * u.Cp4;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  // Taps outermost: the divisibility tests run once per tap, not once per reduction element.
  for (var r = 0u; r < u.KHW; r = r + 1u) {
${tap}
    for (var m0 = 0u; m0 < u.Mg; m0 = m0 + 16u) {
      {
        let mm = m0 + wrow;
        var v = vec4<f32>(0.0);
        if (mm < u.Mg && wcol < u.Cp4) { v = w[wb + (r * u.Mg + mm) * u.Cp4 + wcol]; }
        let base = wrow * 64u + (tid % 16u) * 4u;
        tileW[base] = v.x; tileW[base + 1u] = v.y; tileW[base + 2u] = v.z; tileW[base + 3u] = v.w;
      }
      for (var q = 0u; q < 4u; q = q + 1u) {
        let row = lrow + 4u * q;
        let mm = m0 + row;
        tileX[row * 64u + lcol] = select(0.0, dy[offT + min(mm, u.Mg - 1u) * u.OP], okT && mm < u.Mg);
      }
      workgroupBarrier();
      for (var kk = 0u; kk < 16u; kk = kk + 1u) {
        let wv = kk * 64u + lid.y * 4u;
        let wq = vec4<f32>(tileW[wv], tileW[wv + 1u], tileW[wv + 2u], tileW[wv + 3u]);
        let xv = kk * 64u + lid.x * 4u;
        acc0 = fma(wq, vec4<f32>(tileX[xv]), acc0);
        acc1 = fma(wq, vec4<f32>(tileX[xv + 1u]), acc1);
        acc2 = fma(wq, vec4<f32>(tileX[xv + 2u]), acc2);
        acc3 = fma(wq, vec4<f32>(tileX[xv + 3u]), acc3);
      }
      workgroupBarrier();
    }
  }
  let n0 = nT + lid.x * 4u;
  let c0 = cT + lid.y * 4u;
${range(4).map((j) => `  let img${j} = min(n0 + ${j}u, u.N - 1u) / u.P;
  let p${j} = min(n0 + ${j}u, u.N - 1u) - img${j} * u.P;`).join('\n')}
${stores}
}`;
}

/**
 * Four horizontally adjacent input pixels of one channel per invocation, summing over the channel
 * multiplier; weights in their ONNX layout [M][KH * KW].
 */
function depthwiseSource(o: ConvGradWgslOptions): string {
  const J = range(4);
  return /* wgsl */ `${header(o)}
${FLAT_INDEX}

@compute @workgroup_size(${CONV_GRAD_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = flatIndex(gid, nwg, ${CONV_GRAD_WG}u);
  if (idx >= u.total) { return; }
  let wb = idx % u.WB;
  let t = idx / u.WB;
  let ih = t % u.H;
  let t2 = t / u.H;
  let c = t2 % u.C;
  let img = t2 / u.C;
  let iw0 = wb * 4u;
  let th0 = i32(ih) + u.pT;
${J.map((j) => `  let tw0${j} = i32(iw0 + ${j}u) + u.pL;\n  var acc${j} = 0.0;`).join('\n')}
  for (var mm = 0u; mm < u.Mg; mm = mm + 1u) {
    let oc = c * u.Mg + mm;
    let yb = img * u.yImg + oc * u.OP;
    var wi = oc * u.KHW;
    for (var kh = 0u; kh < u.KH; kh = kh + 1u) {
      let th = th0 - i32(kh * u.dH);
      let oh = u32(th) / u.sH;
      if (th < 0 || oh * u.sH != u32(th) || oh >= u.OH) { wi = wi + u.KW; continue; }
      let rb = yb + oh * u.OW;
      for (var kw = 0u; kw < u.KW; kw = kw + 1u) {
        let wv = w[wi];
        wi = wi + 1u;
        let dw = i32(kw * u.dW);
${J.map((j) => `        let tw${j} = tw0${j} - dw;
        let ow${j} = u32(tw${j}) / u.sW;
        let ok${j} = tw${j} >= 0 && ow${j} * u.sW == u32(tw${j}) && ow${j} < u.OW;
        acc${j} = fma(wv, select(0.0, dy[select(rb, rb + ow${j}, ok${j})], ok${j}), acc${j});`).join('\n')}
      }
    }
  }
  let xb = (img * u.C + c) * u.P + ih * u.W;
${J.map((j) => `  if (iw0 + ${j}u < u.W) { gx[xb + iw0 + ${j}u] = gx[xb + iw0 + ${j}u] + acc${j}; }`).join('\n')}
}`;
}
