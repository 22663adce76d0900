/**
 * Whole-map operations for the SISE family and RISE: in-place min-max normalisation, Otsu
 * thresholding, the cascaded fusion of per-layer maps, and the distance of two normalised maps. Each map is reduced by one workgroup, so there are no
 * float atomics and results are deterministic; integer histogram counts use workgroup atomics,
 * which are exact.
 */

/**
 * Workgroup min / max / sum reductions for a workgroup of `wg` invocations (a power of two).
 * Each call ends with a barrier, so calls can follow each other directly.
 */
export function workgroupReduce(wg: number): string {
  const op = (name: string, f: string) => /* wgsl */ `
fn ${name}(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${wg}u / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { red[lid] = ${f}; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}`;
  return /* wgsl */ `
var<workgroup> red: array<f32, ${wg}>;
${op('wgMin', 'min(red[lid], red[lid + s])')}
${op('wgMax', 'max(red[lid], red[lid + s])')}
${op('wgSum', 'red[lid] + red[lid + s]')}`;
}

/**
 * Otsu on 256 uint8 levels, computed by a 256-invocation workgroup: `hist` must hold the counts.
 * Invocation t evaluates the between-class variance w0·w1·(μ0 − μ1)² for class 0 = {q ≤ t}
 * (0 when a class is empty); the first t with the maximum wins, as in OpenCV's THRESH_OTSU.
 */
const OTSU = /* wgsl */ `
var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> bestV: array<f32, 256>;
var<workgroup> bestI: array<u32, 256>;
fn quant(v: f32) -> u32 { return u32(clamp(floor(255.0 * v), 0.0, 255.0)); }
fn clearHist(lid: u32) {
  atomicStore(&hist[lid], 0u);
  workgroupBarrier();
}
fn otsuThreshold(lid: u32) -> u32 {
  var n0 = 0.0; var s0 = 0.0; var n = 0.0; var s = 0.0;
  for (var q = 0u; q < 256u; q++) {
    let h = f32(atomicLoad(&hist[q]));
    n += h; s += f32(q) * h;
    if (q <= lid) { n0 += h; s0 += f32(q) * h; }
  }
  let n1 = n - n0; let s1 = s - s0;
  var sigma = 0.0;
  if (n0 > 0.0 && n1 > 0.0) {
    let d = s0 / n0 - s1 / n1;
    sigma = (n0 / n) * (n1 / n) * d * d;
  }
  bestV[lid] = sigma; bestI[lid] = lid;
  workgroupBarrier();
  for (var k = 128u; k > 0u; k = k / 2u) {
    if (lid < k) {
      let v = bestV[lid + k]; let i = bestI[lid + k];
      if (v > bestV[lid] || (v == bestV[lid] && i < bestI[lid])) { bestV[lid] = v; bestI[lid] = i; }
    }
    workgroupBarrier();
  }
  let t = bestI[0];
  workgroupBarrier();
  return t;
}`;

/** In place: x ← (x − min)/(max − min + eps) per map (one workgroup per map); a constant map becomes 0. */
export const MINMAX_NORMALISE_WGSL = /* wgsl */ `
struct U { maps: u32, pixels: u32, offset: u32, pad: u32, eps: f32, p1: f32, p2: f32, p3: f32 }
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<uniform> u: U;
${workgroupReduce(64)}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let m = wid.x + wid.y * 65535u;
  if (m >= u.maps) { return; }
  let base = u.offset + m * u.pixels;
  var lo = 3.4028234e38; var hi = -3.4028234e38;
  for (var p = l.x; p < u.pixels; p += 64u) { let v = x[base + p]; lo = min(lo, v); hi = max(hi, v); }
  lo = wgMin(lo, l.x); hi = wgMax(hi, l.x);
  let constant = hi <= lo;
  let inv = 1.0 / (hi - lo + u.eps);
  for (var p = l.x; p < u.pixels; p += 64u) {
    x[base + p] = select((x[base + p] - lo) * inv, 0.0, constant);
  }
}`;

/**
 * Distance of two maps as the display sees them (one workgroup): info[0] = mean over pixels of
 * |N(a) − N(b)|, N the min-max normalisation above (0 for a constant map).
 */
export const MAP_DISTANCE_WGSL = /* wgsl */ `
struct U { pixels: u32, offsetA: u32, offsetB: u32, pad: u32, eps: f32, p1: f32, p2: f32, p3: f32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> info: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${workgroupReduce(256)}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) l: vec3<u32>) {
  var loA = 3.4028234e38; var hiA = -3.4028234e38; var loB = 3.4028234e38; var hiB = -3.4028234e38;
  for (var p = l.x; p < u.pixels; p += 256u) {
    let va = a[u.offsetA + p]; let vb = b[u.offsetB + p];
    loA = min(loA, va); hiA = max(hiA, va); loB = min(loB, vb); hiB = max(hiB, vb);
  }
  loA = wgMin(loA, l.x); hiA = wgMax(hiA, l.x); loB = wgMin(loB, l.x); hiB = wgMax(hiB, l.x);
  let sA = select(1.0 / (hiA - loA + u.eps), 0.0, hiA <= loA);
  let sB = select(1.0 / (hiB - loB + u.eps), 0.0, hiB <= loB);
  var sum = 0.0;
  for (var p = l.x; p < u.pixels; p += 256u) { sum += abs((a[u.offsetA + p] - loA) * sA - (b[u.offsetB + p] - loB) * sB); }
  let d = wgSum(sum, l.x) / f32(u.pixels);
  if (l.x == 0u) { info[0] = d; }
}`;

/**
 * Otsu on a [0,1] map (one workgroup): out[p] = 1 where floor(255·v) > t else 0; info = (t, σ²max, 0, 0).
 */
export const OTSU_WGSL = /* wgsl */ `
struct U { pixels: u32, offset: u32, p0: u32, p1: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> info: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${OTSU}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) l: vec3<u32>) {
  clearHist(l.x);
  for (var p = l.x; p < u.pixels; p += 256u) { atomicAdd(&hist[quant(x[u.offset + p])], 1u); }
  workgroupBarrier();
  let t = otsuThreshold(l.x);
  for (var p = l.x; p < u.pixels; p += 256u) { out[p] = select(0.0, 1.0, quant(x[u.offset + p]) > t); }
  if (l.x == 0u) { info[0] = f32(t); info[1] = bestV[0]; info[2] = 0.0; info[3] = 0.0; }
}`;

/**
 * SISE cascaded fusion of B maps V [B, P] (one workgroup): Ṽ_b = min-max(V_b) (0 when constant),
 * E ← Ṽ_1, then E ← (E + Ṽ_b) · gate_b for b ≥ 2 where gate_b is Otsu's binary mask of Ṽ_b
 * (SOFT = 0) or σ(100·(Ṽ_b − (t+1)/255)) (SOFT = 1). info[4b..] = (min V_b, max V_b, t_b, 0).
 */
export const CASCADE_FUSION_WGSL = /* wgsl */ `
struct U { maps: u32, pixels: u32, soft: u32, p0: u32, eps: f32, sharpness: f32, p1: f32, p2: f32 }
@group(0) @binding(0) var<storage, read> v: array<f32>;
@group(0) @binding(1) var<storage, read_write> e: array<f32>;
@group(0) @binding(2) var<storage, read_write> info: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${workgroupReduce(256)}
${OTSU}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) l: vec3<u32>) {
  for (var b = 0u; b < u.maps; b++) {
    let base = b * u.pixels;
    var lo = 3.4028234e38; var hi = -3.4028234e38;
    for (var p = l.x; p < u.pixels; p += 256u) { let x = v[base + p]; lo = min(lo, x); hi = max(hi, x); }
    lo = wgMin(lo, l.x); hi = wgMax(hi, l.x);
    let constant = hi <= lo;
    let inv = 1.0 / (hi - lo + u.eps);
    clearHist(l.x);
    for (var p = l.x; p < u.pixels; p += 256u) {
      let n = select((v[base + p] - lo) * inv, 0.0, constant);
      atomicAdd(&hist[quant(n)], 1u);
    }
    workgroupBarrier();
    let t = otsuThreshold(l.x);
    let centre = f32(t + 1u) / 255.0;
    for (var p = l.x; p < u.pixels; p += 256u) {
      let n = select((v[base + p] - lo) * inv, 0.0, constant);
      if (b == 0u) {
        e[p] = n;
      } else {
        let hard = select(0.0, 1.0, quant(n) > t);
        let soft = 1.0 / (1.0 + exp(-u.sharpness * (n - centre)));
        e[p] = (e[p] + n) * select(hard, soft, u.soft != 0u);
      }
    }
    if (l.x == 0u) { info[4u * b] = lo; info[4u * b + 1u] = hi; info[4u * b + 2u] = f32(t); info[4u * b + 3u] = 0.0; }
    storageBarrier();
    workgroupBarrier();
  }
}`;
