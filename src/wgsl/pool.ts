/**
 * Pooling and LRN kernels. Every size, window and mode is a uniform, so one pipeline per source
 * serves MaxPool and AveragePool of any shape and batch.
 */
import { FLAT_INDEX } from './common.js';

/** Workgroup size of the per-element pooling, LRN and per-plane global pooling kernels. */
export const POOL_WG = 128;

/** Adjacent outputs of one row each invocation of POOL2D_WGSL computes (one vec4). */
export const POOL_ROW_RUN = 4;

/**
 * Windowed 2-D pooling (1-D runs as H = 1); each invocation computes POOL_ROW_RUN adjacent outputs
 * of one row, so the index arithmetic and per-invocation setup (costly on software adapters) are
 * shared, and taps outside the input are masked with select instead of skipped with `continue`.
 * `kind` 0 = max, 1 = average. `hiH`/`hiW` are the ends of the padded extent (H + pad_end), used
 * only for the count_include_pad divisor, which counts taps inside [-pad_begin, H + pad_end).
 * `total` counts invocations: planes x OH x OWB, OWB = ceil(OW / POOL_ROW_RUN).
 */
export const POOL2D_WGSL = /* wgsl */ `
struct U {
  total: u32, kind: i32, H: i32, W: i32,
  OH: i32, OW: i32, kH: i32, kW: i32,
  sH: i32, sW: i32, pT: i32, pL: i32,
  dH: i32, dW: i32, hiH: i32, hiW: i32,
  countPad: i32, OWB: i32, _b: i32, _c: i32,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
${FLAT_INDEX}

@compute @workgroup_size(${POOL_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, ${POOL_WG}u);
  if (i >= u.total) { return; }
  let ii = i32(i);
  let t = ii / u.OWB;
  let ow0 = (ii - t * u.OWB) * 4;
  let oh = t % u.OH;
  let base = (t / u.OH) * u.H * u.W;
  let h0 = oh * u.sH - u.pT;
  let w0 = (vec4<i32>(ow0) + vec4<i32>(0, 1, 2, 3)) * u.sW - u.pL;
  var cntW = vec4<i32>(0);
  for (var kw = 0; kw < u.kW; kw++) {
    let w = w0 + kw * u.dW;
    cntW += select(vec4<i32>(0), vec4<i32>(1), (w >= vec4<i32>(-u.pL)) & (w < vec4<i32>(u.hiW)));
  }
  var mx = vec4<f32>(-3.4028234e38);
  var sum = vec4<f32>(0.0);
  var cnt = vec4<i32>(0);
  var cntH = 0;
  for (var kh = 0; kh < u.kH; kh++) {
    let h = h0 + kh * u.dH;
    cntH += select(0, 1, h >= -u.pT && h < u.hiH);
    let hok = h >= 0 && h < u.H;
    let row = base + clamp(h, 0, u.H - 1) * u.W;
    for (var kw = 0; kw < u.kW; kw++) {
      let w = w0 + kw * u.dW;
      let ok = vec4<bool>(hok) & (w >= vec4<i32>(0)) & (w < vec4<i32>(u.W));
      let c = row + clamp(w, vec4<i32>(0), vec4<i32>(u.W - 1));
      let v = vec4<f32>(x[c.x], x[c.y], x[c.z], x[c.w]);
      mx = select(mx, max(mx, v), ok);
      sum += select(vec4<f32>(0.0), v, ok);
      cnt += select(vec4<i32>(0), vec4<i32>(1), ok);
    }
  }
  let div = select(cnt, cntW * cntH, u.countPad != 0);
  let r = select(sum / vec4<f32>(max(div, vec4<i32>(1))), mx, u.kind == 0);
  let yb = t * u.OW + ow0;
  for (var j = 0; j < 4; j++) {
    if (ow0 + j < u.OW) { y[yb + j] = r[j]; }
  }
}`;

/**
 * Global pooling with one invocation per (n, c) plane: best for the small planes at a CNN's head,
 * where there are many planes and few elements each. `kind` 0 = max, 1 = average.
 */
export const GLOBAL_POOL_THREAD_WGSL = /* wgsl */ `
struct U { planes: u32, size: u32, kind: u32, _a: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
${FLAT_INDEX}

@compute @workgroup_size(${POOL_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = flatIndex(gid, nwg, ${POOL_WG}u);
  if (p >= u.planes) { return; }
  let base = p * u.size;
  var mx = -3.4028234e38;
  var sum = 0.0;
  for (var k = 0u; k < u.size; k++) {
    let v = x[base + k];
    mx = max(mx, v);
    sum += v;
  }
  y[p] = select(mx, sum / f32(u.size), u.kind == 1u);
}`;

/** Workgroup size of the per-plane reduction variant (a power of two for the tree reduction). */
export const GLOBAL_POOL_WG = 64;

/**
 * Global pooling with one workgroup per plane and a tree reduction in workgroup memory: for large
 * planes (few channels, big spatial extent) where one invocation per plane would serialise.
 */
export const GLOBAL_POOL_WORKGROUP_WGSL = /* wgsl */ `
struct U { planes: u32, size: u32, kind: u32, _a: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
var<workgroup> accMax: array<f32, ${GLOBAL_POOL_WG}>;
var<workgroup> accSum: array<f32, ${GLOBAL_POOL_WG}>;

@compute @workgroup_size(${GLOBAL_POOL_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  // Every invocation of a workgroup computes the same p, so the early return stays uniform.
  let p = wid.y * nwg.x + wid.x;
  if (p >= u.planes) { return; }
  let base = p * u.size;
  var mx = -3.4028234e38;
  var sum = 0.0;
  for (var k = lid; k < u.size; k += ${GLOBAL_POOL_WG}u) {
    let v = x[base + k];
    mx = max(mx, v);
    sum += v;
  }
  accMax[lid] = mx;
  accSum[lid] = sum;
  workgroupBarrier();
  for (var s = ${GLOBAL_POOL_WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) {
      accMax[lid] = max(accMax[lid], accMax[lid + s]);
      accSum[lid] = accSum[lid] + accSum[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    y[p] = select(accMax[0], accSum[0] / f32(u.size), u.kind == 1u);
  }
}`;

/**
 * Local response normalisation across channels (ONNX LRN):
 * y = x / (bias + alpha / size * sum of x^2 over channels [c - lo, c + hi]) ^ beta.
 */
export const LRN_WGSL = /* wgsl */ `
struct U {
  total: u32, C: i32, HW: i32, lo: i32,
  hi: i32, alphaOverSize: f32, beta: f32, bias: f32,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
${FLAT_INDEX}

@compute @workgroup_size(${POOL_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, ${POOL_WG}u);
  if (i >= u.total) { return; }
  let ii = i32(i);
  let c = (ii / u.HW) % u.C;
  let c0 = max(0, c - u.lo);
  let c1 = min(u.C - 1, c + u.hi);
  var sq = 0.0;
  for (var k = c0; k <= c1; k++) {
    let v = x[ii + (k - c) * u.HW];
    sq += v * v;
  }
  y[i] = x[i] / pow(u.bias + u.alphaOverSize * sq, u.beta);
}`;
