/**
 * IASSA's long-range parameter-free spatial attention (methods spec 4.2 C, 4.4) without the
 * R²×R² affinity in memory. F [D, R²] is the concatenation of feature levels resized (nearest) to
 * the R×R attention grid; A = FᵀF, A1 = softmax over dim 0 (columns), A2 = softmax over dim 1
 * (rows) of A1, and s_att = s·A2. Entries of A are recomputed tile by tile in every pass.
 *
 * Nearest resizing of a level h×w to the grid gh×gw maps grid cell (y, x) to source pixel
 * (⌊y·h/gh⌋, ⌊x·w/gw⌋) (integer arithmetic; PyTorch's nearest with scale in/out, OpenCV
 * INTER_NEAREST). Levels live in a packed pixel-major buffer (feature p of a level: its C
 * channels, contiguous), or, for levels coarser than the grid, as their own Gram matrix G = fᵀf
 * at native resolution, so A's entry needs one look-up instead of C products.
 *
 * Level table: 8 u32 per level: kind (0 packed features, 1 Gram), offset, channels, h, w, 0, 0, 0.
 */
import { FLAT_INDEX } from './common.js';
import { workgroupReduce } from './map-ops.js';

/** packed[offset + p·C + c] = tap[c·hw + p] for a batch-1 NCHW tap. */
export const FEATURE_PACK_WGSL = /* wgsl */ `
struct U { channels: u32, hw: u32, offset: u32, p0: u32 }
@group(0) @binding(0) var<storage, read> tap: array<f32>;
@group(0) @binding(1) var<storage, read_write> packed: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
${FLAT_INDEX}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flatIndex(gid, nwg, 64u);
  if (e >= u.channels * u.hw) { return; }
  packed[u.offset + (e % u.hw) * u.channels + e / u.hw] = tap[e];
}`;

const Q = Array.from({ length: 16 }, (_, q) => q);
/** The 64 accumulators of a tile as 16 named vec4 registers (software rasterisers spill arrays). */
const REGS = {
  declare: Q.map((q) => `var a${q} = vec4<f32>(0.0);`).join(' '),
  clear: Q.map((q) => `a${q} = vec4<f32>(0.0);`).join(' '),
  features: Q.map((q) => `a${q} += a * vf[k * 16u + ${q}u];`).join('\n            '),
  gram: Q.map((q) => `a${q} += vec4<f32>(${[0, 1, 2, 3].map((i) => `gram[base + near(min(v0 + ${4 * q + i}u, last), h, w)]`).join(', ')});`).join('\n        '),
  spill: Q.map((q) => `acc[${q}] = a${q};`).join(' '),
};

/**
 * One pass over the affinity. Invocation t of workgroup (gx, gy) owns grid cell u = 64·gx + t and
 * walks the cells v of split gy in tiles of 64, computing a_j = A[u, v0 + j] for the tile (A is
 * symmetric, so rows and columns are the same walk): per packed level, 16 channels of the tile's
 * 64 cells are staged in workgroup memory and multiplied with u's own channels; per Gram level,
 * one look-up. Levels l0 .. l1−1 of the table are summed in order, so every entry is bit-identical
 * in every pass and in both orientations.
 *
 * MODE 0 (affinity): out[outOffset + u·n + v] = A[u, v] (dense; small grids and Gram matrices).
 * MODE 1 (column stats, pass 1): online (max, Σ exp(a − max)) over v → part[2(gy·n + u) + {0,1}].
 * MODE 2 (row sums of exp(A1), pass 2): A1[u, v] = exp(A[u,v] − cmax_v)/csum_v ∈ (0, 1], so the
 *   second softmax needs no max: Σ_v exp(A1[u, v]) with a fixed shift of 0 (terms in (1, e]).
 * MODE 3 (product, pass 3): s_att[u] = Σ_v s_v · exp(A1[v, u]) / rowsum_v, s_v read from the map
 *   sal [srcH, srcW] at the nearest source pixel of grid cell v.
 */
export const ATTENTION_PASS_WGSL = /* wgsl */ `
struct U { gh: u32, gw: u32, n: u32, l0: u32, l1: u32, mode: u32, vPer: u32, outOffset: u32,
  srcH: u32, srcW: u32, p0: u32, p1: u32 }
@group(0) @binding(0) var<storage, read> feat: array<f32>;
@group(0) @binding(1) var<storage, read> gram: array<f32>;
@group(0) @binding(2) var<storage, read> lv: array<u32>;
@group(0) @binding(3) var<storage, read> cstat: array<f32>;
@group(0) @binding(4) var<storage, read> rsum: array<f32>;
@group(0) @binding(5) var<storage, read> sal: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<uniform> u: U;
const T: u32 = 64u;
const CK: u32 = 16u;
// Channel k of tile cell j lives in vf[k·16 + j/4][j % 4].
var<workgroup> vf: array<vec4<f32>, 256>;
fn near(q: u32, h: u32, w: u32) -> u32 {
  return ((q / u.gw) * h / u.gh) * w + (q % u.gw) * w / u.gw;
}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let t = l.x;
  let last = u.n - 1u;
  let uRaw = wid.x * T + t;
  let uc = min(uRaw, last);
  let vBegin = wid.y * u.vPer;
  let vEnd = min(u.n, vBegin + u.vPer);
  var m = -3.4028234e38;
  var s = 0.0;
  var cmU = 0.0; var csU = 1.0;
  if (u.mode == 3u) { cmU = cstat[2u * uc]; csU = cstat[2u * uc + 1u]; }
  var acc: array<vec4<f32>, 16>;
  ${REGS.declare}
  for (var v0 = vBegin; v0 < vEnd; v0 += T) {
    ${REGS.clear}
    let vMine = min(v0 + t, last);
    for (var li = u.l0; li < u.l1; li++) {
      let kind = lv[8u * li]; let off = lv[8u * li + 1u]; let C = lv[8u * li + 2u];
      let h = lv[8u * li + 3u]; let w = lv[8u * li + 4u];
      let su = near(uc, h, w);
      if (kind == 0u) {
        let sv = near(vMine, h, w);
        for (var c0 = 0u; c0 < C; c0 += CK) {
          for (var k = 0u; k < CK; k++) {
            vf[k * 16u + t / 4u][t % 4u] = select(0.0, feat[off + sv * C + min(c0 + k, C - 1u)], c0 + k < C);
          }
          workgroupBarrier();
          for (var k = 0u; k < CK; k++) {
            let a = select(0.0, feat[off + su * C + min(c0 + k, C - 1u)], c0 + k < C);
            ${REGS.features}
          }
          workgroupBarrier();
        }
      } else {
        let base = off + su * h * w;
        ${REGS.gram}
      }
    }
    ${REGS.spill}
    for (var j = 0u; j < T; j++) {
      let v = v0 + j;
      if (v < vEnd) {
        let a = acc[j / 4u][j % 4u];
        switch (u.mode) {
          case 0u: { if (uRaw < u.n) { out[u.outOffset + uRaw * u.n + v] = a; } }
          case 1u: { let m2 = max(m, a); s = s * exp(m - m2) + exp(a - m2); m = m2; }
          case 2u: { s += exp(exp(a - cstat[2u * v]) / cstat[2u * v + 1u]); }
          default: {
            let sv = sal[((v / u.gw) * u.srcH / u.gh) * u.srcW + (v % u.gw) * u.srcW / u.gw];
            s += sv / rsum[v] * exp(exp(a - cmU) / csU);
          }
        }
      }
    }
  }
  if (uRaw < u.n) {
    if (u.mode == 1u) {
      out[2u * (wid.y * u.n + uRaw)] = m;
      out[2u * (wid.y * u.n + uRaw) + 1u] = s;
    } else if (u.mode >= 2u) {
      out[wid.y * u.n + uRaw] = s;
    }
  }
}`;

/**
 * Combines the per-split partials of a pass, in split order: MODE 1 merges (max, Σ exp) pairs
 * into out [n, 2]; MODES 2-3 add the partial sums into out [n].
 */
export const ATTENTION_COMBINE_WGSL = /* wgsl */ `
struct U { n: u32, splits: u32, mode: u32, p0: u32 }
@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
${FLAT_INDEX}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flatIndex(gid, nwg, 64u);
  if (e >= u.n) { return; }
  if (u.mode == 1u) {
    var m = -3.4028234e38;
    for (var k = 0u; k < u.splits; k++) { m = max(m, part[2u * (k * u.n + e)]); }
    var s = 0.0;
    for (var k = 0u; k < u.splits; k++) { s += part[2u * (k * u.n + e) + 1u] * exp(part[2u * (k * u.n + e)] - m); }
    out[2u * e] = m;
    out[2u * e + 1u] = s;
  } else {
    var s = 0.0;
    for (var k = 0u; k < u.splits; k++) { s += part[k * u.n + e]; }
    out[e] = s;
  }
}`;

/**
 * S_adj = λ·S + (1 − λ)·up(s_att): s_att [gh, gw] up-sampled to [h, w] bilinearly with
 * half-pixel centres (source = (y + 0.5)·gh/h − 0.5, clamped to the edge cells; spec 0.3).
 */
export const ATTENTION_MIX_WGSL = /* wgsl */ `
struct U { h: u32, w: u32, gh: u32, gw: u32, lambda: f32, p0: f32, p1: f32, p2: f32 }
@group(0) @binding(0) var<storage, read> sal: array<f32>;
@group(0) @binding(1) var<storage, read> att: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${FLAT_INDEX}
struct Taps { i0: u32, i1: u32, l: f32 }
fn taps(d: u32, inSize: u32, outSize: u32) -> Taps {
  let src = max((f32(d) + 0.5) * f32(inSize) / f32(outSize) - 0.5, 0.0);
  let i0 = min(u32(floor(src)), inSize - 1u);
  return Taps(i0, min(i0 + 1u, inSize - 1u), src - f32(i0));
}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flatIndex(gid, nwg, 64u);
  if (e >= u.h * u.w) { return; }
  let ty = taps(e / u.w, u.gh, u.h);
  let tx = taps(e % u.w, u.gw, u.w);
  let ly = clamp(ty.l, 0.0, 1.0); let lx = clamp(tx.l, 0.0, 1.0);
  let top = (1.0 - lx) * att[ty.i0 * u.gw + tx.i0] + lx * att[ty.i0 * u.gw + tx.i1];
  let bottom = (1.0 - lx) * att[ty.i1 * u.gw + tx.i0] + lx * att[ty.i1 * u.gw + tx.i1];
  out[e] = u.lambda * sal[e] + (1.0 - u.lambda) * ((1.0 - ly) * top + ly * bottom);
}`;

/**
 * IASSA's region (one workgroup): thr = min + t·(max − min) over the map; region = map > thr
 * (0/1); stats = (min, max, thr, region pixel count).
 */
export const REGION_THRESHOLD_WGSL = /* wgsl */ `
struct U { pixels: u32, p0: u32, p1: u32, p2: u32, t: f32, p3: f32, p4: f32, p5: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> region: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${workgroupReduce(64)}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) l: vec3<u32>) {
  let lid = l.x;
  var lo = 3.4028234e38; var hi = -3.4028234e38;
  for (var p = lid; p < u.pixels; p += 64u) { lo = min(lo, x[p]); hi = max(hi, x[p]); }
  lo = wgMin(lo, lid);
  hi = wgMax(hi, lid);
  let thr = lo + u.t * (hi - lo);
  var count = 0.0;
  for (var p = lid; p < u.pixels; p += 64u) {
    let r = select(0.0, 1.0, x[p] > thr);
    region[p] = r;
    count += r;
  }
  count = wgSum(count, lid);
  if (lid == 0u) { stats[0] = lo; stats[1] = hi; stats[2] = thr; stats[3] = count; }
}`;
