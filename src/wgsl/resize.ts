/**
 * Resizing of the last two dims (nearest or bilinear). Source taps come from per-axis tables the
 * host computes in float64, so every ONNX coordinate and rounding mode is one pipeline, and
 * nearest-neighbour choices do not hinge on a GPU's f32 division accuracy (WGSL allows 2.5 ULP).
 */
import { FLAT_INDEX } from './common.js';

/** Workgroup size of the resize kernel. */
export const RESIZE_WG = 128;

/**
 * [B, inH, inW] -> [B, outH, outW]. `tab` holds (i0, i1, w) triples: outH of them for rows, then
 * outW for columns; value = mix(x[i0], x[i1], w) per axis. `linear` 0 reads only the i0 taps.
 */
export const RESIZE2D_WGSL = /* wgsl */ `
struct U { total: u32, linear: u32, inH: u32, inW: u32, outH: u32, outW: u32, _a: u32, _b: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> tab: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${FLAT_INDEX}

@compute @workgroup_size(${RESIZE_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, ${RESIZE_WG}u);
  if (i >= u.total) { return; }
  let ow = i % u.outW;
  let t = i / u.outW;
  let oh = t % u.outH;
  let base = (t / u.outH) * u.inH * u.inW;
  let th = 3u * oh;
  let tw = 3u * (u.outH + ow);
  let r0 = base + u32(tab[th]) * u.inW;
  let c0 = u32(tab[tw]);
  if (u.linear == 0u) {
    y[i] = x[r0 + c0];
    return;
  }
  let r1 = base + u32(tab[th + 1u]) * u.inW;
  let c1 = u32(tab[tw + 1u]);
  let wh = tab[th + 2u];
  let ww = tab[tw + 2u];
  let top = mix(x[r0 + c0], x[r0 + c1], ww);
  let bot = mix(x[r1 + c0], x[r1 + c1], ww);
  y[i] = mix(top, bot, wh);
}`;
