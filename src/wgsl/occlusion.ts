/**
 * Sliding-window occlusion (methods spec 4.2 A-B, 6.8) on the GPU. Window i of a grid with `nx`
 * origins per row has its top-left corner at r = (i / nx + 1)·s − w, c = (i % nx + 1)·s − w
 * (np.arange(s − w, H, s) per axis, as the IASSA reference), covers rows r .. r+w−1 and columns
 * c .. c+w−1 clipped to the image, and its mask is 0 there and 1 elsewhere.
 */
import { FLAT_INDEX } from './common.js';
import { workgroupReduce } from './map-ops.js';

const WINDOW = /* wgsl */ `
fn occluded(i: u32, y: u32, x: u32) -> bool {
  let r = i32((i / u.nx + 1u) * u.stride) - i32(u.window);
  let c = i32((i % u.nx + 1u) * u.stride) - i32(u.window);
  let yi = i32(y); let xi = i32(x);
  return yi >= r && yi < r + i32(u.window) && xi >= c && xi < c + i32(u.window);
}`;

const GEOMETRY = `h: u32, w: u32, window: u32, stride: u32, nx: u32, start: u32, n: u32`;

/** masks[k, y, x] = 0 inside window list[start + k], 1 elsewhere, for k < n. */
export const OCCLUSION_MASKS_WGSL = /* wgsl */ `
struct U { ${GEOMETRY}, p0: u32 }
@group(0) @binding(0) var<storage, read> list: array<u32>;
@group(0) @binding(1) var<storage, read_write> masks: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
${FLAT_INDEX}
${WINDOW}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flatIndex(gid, nwg, 64u);
  let pixels = u.h * u.w;
  if (e >= u.n * pixels) { return; }
  let p = e % pixels;
  masks[e] = select(1.0, 0.0, occluded(list[u.start + e / pixels], p / u.w, p % u.w));
}`;

/**
 * Occlusion statistics of one batch, added to acc [2·P + 2]:
 *   acc[p]       += Σ_k score[k] · [p inside window k]   (score lost where p is occluded)
 *   acc[P + p]   += Σ_k [p inside window k]              (how often p was occluded)
 *   acc[2P]      += Σ_k score[k],   acc[2P + 1] += n
 * The map follows from these without reading the masks: Σ_k score_k·M_k(p) = acc[2P] − acc[p].
 * Each element is owned by one invocation that sums the batch in order (deterministic).
 */
export const OCCLUSION_ACCUMULATE_WGSL = /* wgsl */ `
struct U { ${GEOMETRY}, p0: u32 }
@group(0) @binding(0) var<storage, read> score: array<f32>;
@group(0) @binding(1) var<storage, read> list: array<u32>;
@group(0) @binding(2) var<storage, read_write> acc: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${FLAT_INDEX}
${WINDOW}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flatIndex(gid, nwg, 64u);
  let pixels = u.h * u.w;
  if (e > pixels) { return; }
  if (e == pixels) {
    var t = 0.0;
    for (var k = 0u; k < u.n; k++) { t += score[k]; }
    acc[2u * pixels] += t;
    acc[2u * pixels + 1u] += f32(u.n);
    return;
  }
  let y = e / u.w; let x = e % u.w;
  var lost = 0.0; var hits = 0.0;
  for (var k = 0u; k < u.n; k++) {
    if (occluded(list[u.start + k], y, x)) { lost += score[k]; hits += 1.0; }
  }
  acc[e] += lost;
  acc[pixels + e] += hits;
}`;

/**
 * S[p] from the statistics above: mode 0 ('kept-count') (T − lost[p]) / N, the reference's
 * (1/N) Σ_k score_k·M_k; mode 1 ('coverage') (T − lost[p]) / (N − hits[p]), the mean score of
 * the masks that leave p visible (T/N where every mask occludes p).
 */
export const OCCLUSION_FINALISE_WGSL = /* wgsl */ `
struct U { pixels: u32, mode: u32, p0: u32, p1: u32 }
@group(0) @binding(0) var<storage, read> acc: array<f32>;
@group(0) @binding(1) var<storage, read_write> sal: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
${FLAT_INDEX}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flatIndex(gid, nwg, 64u);
  if (e >= u.pixels) { return; }
  let total = acc[2u * u.pixels];
  let n = acc[2u * u.pixels + 1u];
  var d = n;
  if (u.mode == 1u) { d = n - acc[u.pixels + e]; }
  if (d > 0.0) { sal[e] = (total - acc[e]) / d; } else { sal[e] = total / max(n, 1.0); }
}`;

/**
 * Keep flag of candidate window i (one workgroup per window): inside = Σ region over the clipped
 * window; rule 0 (intended) keeps it when inside > 0 (the occluded window overlaps the region);
 * rule 1 (reference parity, max(M ⊙ R) > 0) when total − inside > 0 (a visible pixel lies in R).
 * stats[3] holds the region's pixel count.
 */
export const WINDOW_KEEP_WGSL = /* wgsl */ `
struct U { ${GEOMETRY}, rule: u32 }
@group(0) @binding(0) var<storage, read> region: array<f32>;
@group(0) @binding(1) var<storage, read> stats: array<f32>;
@group(0) @binding(2) var<storage, read_write> flags: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${workgroupReduce(64)}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let i = wid.x + wid.y * 65535u;
  let lid = l.x;
  let r = i32((i / u.nx + 1u) * u.stride) - i32(u.window);
  let c = i32((i % u.nx + 1u) * u.stride) - i32(u.window);
  let r0 = u32(max(r, 0)); let r1 = u32(clamp(r + i32(u.window), 0, i32(u.h)));
  let c0 = u32(max(c, 0)); let c1 = u32(clamp(c + i32(u.window), 0, i32(u.w)));
  let rows = select(0u, r1 - r0, r1 > r0);
  let cols = select(0u, c1 - c0, c1 > c0);
  var s = 0.0;
  for (var q = lid; q < rows * cols; q += 64u) {
    s += region[(r0 + q / cols) * u.w + c0 + q % cols];
  }
  s = wgSum(s, lid);
  if (lid == 0u && i < u.n) {
    var keep = s > 0.0;
    if (u.rule == 1u) { keep = stats[3] - s > 0.0; }
    flags[i] = select(0.0, 1.0, keep);
  }
}`;
