/**
 * Mask optimisation by SPSA (methods spec 3.2 [P]) on the GPU: the 2Q antithetic perturbations of
 * a low-resolution mask, up-sampled for the masked forward passes, and the update of the mask from
 * their scores. Nothing is read back between iterations: the iteration counter lives in a storage
 * word (`state[0]`) that the update advances, so the same bind groups serve every iteration.
 *
 * Randomness is a counter-based hash (PCG-RXS-M-XS, the one RISE uses), so every draw depends only
 * on (seed, iteration, pair, cell):
 *   key_s          = pcg(pcg(seed) + s)                       (u32 wrap-around)
 *   draw(key, k)   = pcg(key ^ pcg(k))
 *   initial m_j    = ((draw(key_0, j) >> 8) + 0.5) / 2^24      (uniform in (0, 1))
 *   δ_{t,q}[j]     = +1 if draw(key_{t+1}, q·R + j) >> 31 == 1, else −1   (R = rh·rw cells)
 * Rows 0..Q−1 of an iteration are m + σδ_q, rows Q..2Q−1 are m − σδ_q, each clipped to [0, 1].
 */
import { FLAT_INDEX, WORKGROUP_REDUCE_64 } from './common.js';

const HASH = /* wgsl */ `
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}
fn draw(key: u32, k: u32) -> u32 { return pcg(key ^ pcg(k)); }
fn delta(key: u32, q: u32, cells: u32, j: u32) -> f32 {
  return select(-1.0, 1.0, (draw(key, q * cells + j) >> 31u) == 1u);
}`;

/**
 * out[e] for local row i = e / (H·W) (global row row0 + i) and pixel (y, x): the perturbed mask
 * clip(m ± σδ_q, 0, 1) of that row, up-sampled bilinearly from rh×rw to H×W with half-pixel
 * centres (PyTorch align_corners=False: source = (y + 0.5)·rh/H − 0.5, clamped to [0, rh − 1]).
 * With σ = 0 every row is up(m) itself (the final map).
 */
export const SPSA_MASKS_WGSL = /* wgsl */ `
struct U { h: u32, w: u32, rh: u32, rw: u32, q: u32, row0: u32, n: u32, seed: u32,
  sigma: f32, scaleY: f32, scaleX: f32, p0: f32 }
@group(0) @binding(0) var<storage, read> m: array<f32>;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${FLAT_INDEX}
${HASH}
struct Taps { i0: u32, i1: u32, l: f32 }
fn taps(r: u32, scale: f32, size: u32) -> Taps {
  let hi = f32(size - 1u);
  let src = clamp((f32(r) + 0.5) * scale - 0.5, 0.0, hi);
  let i0 = min(u32(floor(src)), size - 1u);
  return Taps(i0, min(i0 + 1u, size - 1u), src - f32(i0));
}
fn cell(key: u32, q: u32, sgn: f32, gy: u32, gx: u32) -> f32 {
  let j = gy * u.rw + gx;
  return clamp(m[j] + sgn * u.sigma * delta(key, q, u.rh * u.rw, j), 0.0, 1.0);
}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flatIndex(gid, nwg, 64u);
  let pixels = u.h * u.w;
  if (e >= u.n * pixels) { return; }
  let row = u.row0 + e / pixels;
  let p = e % pixels;
  let plus = row < u.q;
  let q = select(row - u.q, row, plus);
  let sgn = select(-1.0, 1.0, plus);
  let key = pcg(pcg(u.seed) + state[0] + 1u);
  let ty = taps(p / u.w, u.scaleY, u.rh);
  let tx = taps(p % u.w, u.scaleX, u.rw);
  let top = (1.0 - tx.l) * cell(key, q, sgn, ty.i0, tx.i0) + tx.l * cell(key, q, sgn, ty.i0, tx.i1);
  let bottom = (1.0 - tx.l) * cell(key, q, sgn, ty.i1, tx.i0) + tx.l * cell(key, q, sgn, ty.i1, tx.i1);
  out[e] = (1.0 - ty.l) * top + ty.l * bottom;
}`;

/**
 * One workgroup. MODE 0 (init): m_j ~ U(0, 1) from key_0, optimiser moments zeroed, t = 0.
 * MODE 1 (SGD) / 2 (Adam), at iteration t = state[0]:
 *   J_i  = Ψ_i − λ·mean_j clip(m_j ± σδ_q[j], 0, 1)          for the 2Q rows
 *   g_j  = (1/Q) Σ_q (J_q − J_{Q+q}) / (2σ) · δ_q[j]
 *   SGD:  m_j ← clip(m_j + η·g_j, 0, 1)
 *   Adam: a ← β1·a + (1−β1)·g, v ← β2·v + (1−β2)·g², m_j ← clip(m_j + η·â/(√v̂ + ε), 0, 1)
 *         with bias corrections â = a/(1−β1^(t+1)), v̂ = v/(1−β2^(t+1))
 *   trace[t] = mean_i J_i (≈ J(m_t)), then state[0] = t + 1.
 * Each invocation owns the cells j ≡ lid (mod 64) in both phases, and the row means are summed in
 * a fixed order, so the result does not depend on scheduling.
 */
export const SPSA_UPDATE_WGSL = /* wgsl */ `
struct U { cells: u32, q: u32, seed: u32, mode: u32, traceLen: u32, p0: u32, p1: u32, p2: u32,
  sigma: f32, lambda: f32, eta: f32, beta1: f32, beta2: f32, eps: f32, p3: f32, p4: f32 }
@group(0) @binding(0) var<storage, read> scores: array<f32>;
@group(0) @binding(1) var<storage, read_write> m: array<f32>;
@group(0) @binding(2) var<storage, read_write> state: array<u32>;
@group(0) @binding(3) var<storage, read_write> moments: array<f32>;
@group(0) @binding(4) var<storage, read_write> trace: array<f32>;
@group(0) @binding(5) var<uniform> u: U;
${WORKGROUP_REDUCE_64}
${HASH}
var<workgroup> jw: array<f32, 256>;
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let R = u.cells;
  if (u.mode == 0u) {
    let key0 = pcg(pcg(u.seed));
    for (var j = lid; j < R; j += WG) {
      m[j] = (f32(draw(key0, j) >> 8u) + 0.5) / 16777216.0;
      moments[j] = 0.0;
      moments[R + j] = 0.0;
    }
    if (lid == 0u) { state[0] = 0u; }
    return;
  }
  let t = state[0];
  let key = pcg(pcg(u.seed) + t + 1u);
  let Q = u.q;
  for (var i = 0u; i < 2u * Q; i++) {
    let plus = i < Q;
    let q = select(i - Q, i, plus);
    let s = select(-1.0, 1.0, plus) * u.sigma;
    var acc = 0.0;
    for (var j = lid; j < R; j += WG) { acc += clamp(m[j] + s * delta(key, q, R, j), 0.0, 1.0); }
    let mean = wgSum(acc, lid) / f32(R);
    if (lid == 0u) { jw[i] = scores[i] - u.lambda * mean; }
  }
  workgroupBarrier();
  if (lid == 0u && t < u.traceLen) {
    var sum = 0.0;
    for (var i = 0u; i < 2u * Q; i++) { sum += jw[i]; }
    trace[t] = sum / f32(2u * Q);
  }
  let step = f32(t + 1u);
  for (var j = lid; j < R; j += WG) {
    var g = 0.0;
    for (var q = 0u; q < Q; q++) { g += (jw[q] - jw[Q + q]) * delta(key, q, R, j); }
    g = g / (2.0 * u.sigma * f32(Q));
    var d = g;
    if (u.mode == 2u) {
      let a = u.beta1 * moments[j] + (1.0 - u.beta1) * g;
      let v = u.beta2 * moments[R + j] + (1.0 - u.beta2) * g * g;
      moments[j] = a;
      moments[R + j] = v;
      d = (a / (1.0 - pow(u.beta1, step))) / (sqrt(v / (1.0 - pow(u.beta2, step))) + u.eps);
    }
    m[j] = clamp(m[j] + u.eta * d, 0.0, 1.0);
  }
  storageBarrier();
  workgroupBarrier();
  if (lid == 0u) { state[0] = t + 1u; }
}`;
