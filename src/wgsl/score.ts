/**
 * Class scores from a model's output rows [N, K] and their gradients (the seed of reverse mode).
 * MODE: 0 logit, 1 softmax probability, 2 log-softmax, 3 sigmoid. One workgroup per row; the row's
 * max and normaliser come from a workgroup reduction, so K may be any size.
 */
import { WORKGROUP_REDUCE_64 } from './common.js';

export const SCORE_WGSL = /* wgsl */ `
struct U { rows: u32, k: u32, mode: u32, writeGrad: u32 }
@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> cls: array<u32>;
@group(0) @binding(2) var<storage, read_write> score: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
@group(0) @binding(4) var<uniform> u: U;
${WORKGROUP_REDUCE_64}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let row = wid.x;
  let lid = lid3.x;
  if (row >= u.rows) { return; }
  let base = row * u.k;
  let c = cls[row];
  var m = -3.4028234e38;
  for (var j = lid; j < u.k; j += WG) { m = max(m, z[base + j]); }
  m = wgMax(m, lid);
  var s = 0.0;
  for (var j = lid; j < u.k; j += WG) { s += exp(z[base + j] - m); }
  s = wgSum(s, lid);
  let zc = z[base + c];
  let pc = exp(zc - m) / s;
  let sig = 1.0 / (1.0 + exp(-zc));
  if (lid == 0u) {
    switch (u.mode) {
      case 0u: { score[row] = zc; }
      case 1u: { score[row] = pc; }
      case 2u: { score[row] = zc - m - log(s); }
      default: { score[row] = sig; }
    }
  }
  if (u.writeGrad == 0u) { return; }
  for (var j = lid; j < u.k; j += WG) {
    let pj = exp(z[base + j] - m) / s;
    let d = select(0.0, 1.0, j == c);
    var g = 0.0;
    switch (u.mode) {
      case 0u: { g = d; }
      case 1u: { g = pc * (d - pj); }
      case 2u: { g = d - pj; }
      default: { g = d * sig * (1.0 - sig); }
    }
    grad[base + j] = g;
  }
}`;
