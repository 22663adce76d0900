/**
 * What the tuner may time for a convolution (src/runtime/tuner.ts drives it through
 * `convOp.tune`): the geometry key, the candidate variants per adapter kind, and whether a variant
 * fits the device's limits. Pure functions of the geometry and `AdapterTraits`, unit-tested.
 *
 * Real GPUs get the static choice, the old tiled kernel in its small-tile form where the grid is
 * small, and a spread of the `mm` kernel (src/wgsl/conv2d-mm.ts): large tiles only where they still
 * make enough workgroups, small tiles and split-K only where the 64x64 grid would leave a big GPU
 * idle (batch-1 late layers), and f16 versions when allowed. Software adapters get the register
 * kernels (with subgroup-broadcast weights on 8-lane subgroups) and a single shared-memory kernel,
 * so the tuner can confirm it loses there: every extra pipeline costs 0.3-1.5 s of LLVM time.
 */
import type { AdapterTraits, TuneCandidateOptions } from './types.js';
import type { ConvGeometry, ConvVariant } from './conv.js';
import { convMmInvalid, convMmSharedBytes, convMmWorkgroup, type ConvMmInput, type ConvMmTiling } from '../wgsl/conv2d-mm.js';
import { CONV_WG, CONV_REDUCE_WG } from '../wgsl/conv2d.js';

/**
 * Workgroups a big GPU needs to be busy: an H100 has 132 SMs, each holding several 256-invocation
 * workgroups. Below this, smaller tiles and split-K become worth timing.
 */
export const GPU_BUSY_WORKGROUPS = 512;
/** Most candidates on a software adapter (each is a pipeline compiled on the CPU). */
export const SOFTWARE_MAX_CANDIDATES = 6;
/** Most candidates on a real GPU. */
export const GPU_MAX_CANDIDATES = 20;

/** The 1x1, stride-1, unpadded case in which the input already is the GEMM's B operand. */
export function isPointwiseGeometry(g: ConvGeometry): boolean {
  return g.KH === 1 && g.KW === 1 && g.sH === 1 && g.sW === 1 && g.pT === 0 && g.pL === 0 && g.OH === g.H && g.OW === g.W;
}

/** How the mm kernel stages this geometry's input tile. */
export function convMmInput(g: ConvGeometry): ConvMmInput {
  if (!isPointwiseGeometry(g)) return 'gather';
  return (g.H * g.W) % 4 === 0 ? 'pointwise4' : 'pointwise';
}

/**
 * Reduction slices of a split-K variant: slices are whole k-tiles, a request larger than the tile
 * count shrinks to it, and the count is then trimmed so no slice is empty.
 */
export function splitSlices(kTiles: number, requested: number | undefined): { S: number; tilesPer: number } {
  const S0 = Math.max(1, Math.min(Math.floor(requested ?? 1), kTiles));
  const tilesPer = Math.ceil(kTiles / S0);
  return { S: Math.ceil(kTiles / tilesPer), tilesPer };
}

/** Rows staged per barrier by the old tiled kernel. */
const TILED_TK = 16;

/** The dispatch grid, invocations, workgroup memory and scratch a forward variant needs. */
export interface ConvVariantCost {
  workgroups: [number, number, number];
  invocations: number;
  sizeX: number;
  sharedBytes: number;
  scratchBytes: number;
  storageBuffers: number;
  /** Largest 1-D job of a second dispatch (split-K reduce), in workgroups. */
  reduceGroups: number;
}

/** What `v` costs on geometry `g` (undefined when the variant cannot serve the geometry at all). */
export function convVariantCost(v: ConvVariant, g: ConvGeometry): ConvVariantCost | undefined {
  const Cg = g.C / g.group; const Mg = g.M / g.group; const K = Cg * g.KH * g.KW;
  const N = g.batch * g.OH * g.OW;
  const outTotal = N * g.M;
  const none = { scratchBytes: 0, reduceGroups: 0 };
  switch (v.kind) {
    case 'depthwise': {
      if (Cg !== 1) return undefined;
      const total = g.batch * g.M * g.OH * Math.ceil(g.OW / 4);
      return { workgroups: [Math.ceil(total / CONV_WG), 1, 1], invocations: CONV_WG, sizeX: CONV_WG, sharedBytes: 0, storageBuffers: 5, ...none };
    }
    case 'reg': {
      if (v.lanes) return { workgroups: [Math.ceil(Mg / (v.chan4 * 4)), Math.ceil(N / (v.pixels * v.lanes)), g.group], invocations: v.lanes, sizeX: v.lanes, sharedBytes: 0, storageBuffers: 5, ...none };
      if (v.chan4 > 2) return undefined;
      return { workgroups: [Math.ceil(N / (v.pixels * CONV_WG)), Math.ceil(Mg / (v.chan4 * 4)), g.group], invocations: CONV_WG, sizeX: CONV_WG, sharedBytes: 0, storageBuffers: 5, ...none };
    }
    case 'tiled': {
      const tm = v.tm ?? 64; const tn = v.tn ?? 64;
      const { S } = splitSlices(Math.ceil(K / TILED_TK), v.splitK);
      return {
        workgroups: [Math.ceil(N / tn), Math.ceil(Mg / tm), g.group * S], invocations: (tm / 4) * (tn / 4), sizeX: tn / 4,
        sharedBytes: TILED_TK * (tm + tn) * 4, storageBuffers: 5,
        scratchBytes: S > 1 ? S * outTotal * 4 : 0, reduceGroups: S > 1 ? Math.ceil(outTotal / CONV_REDUCE_WG) : 0,
      };
    }
    case 'mm': {
      const input = convMmInput(g);
      if (convMmInvalid(v, input)) return undefined;
      const { S } = splitSlices(Math.ceil(K / v.tk), v.splitK);
      const [wx, wy] = convMmWorkgroup(v);
      return {
        workgroups: [Math.ceil(N / v.tn), Math.ceil(Mg / v.tm), g.group * S], invocations: wx * wy, sizeX: wx,
        sharedBytes: convMmSharedBytes(v, v.f16 === true),
        storageBuffers: (S > 1 ? 3 : 5) + (input === 'gather' ? 1 : 0),
        scratchBytes: S > 1 ? S * outTotal * 4 : 0, reduceGroups: S > 1 ? Math.ceil(outTotal / CONV_REDUCE_WG) : 0,
      };
    }
  }
}

/** Whether `v` builds and runs on this device for this geometry (limits, features). */
export function convVariantFits(v: ConvVariant, g: ConvGeometry, t: AdapterTraits): boolean {
  const c = convVariantCost(v, g);
  if (!c) return false;
  if (v.kind === 'reg' && v.lanes && t.fixedSubgroupSize !== v.lanes) return false;
  if (v.kind === 'mm' && v.f16 && !t.hasF16) return false;
  const maxDim = t.maxWorkgroupsPerDimension;
  // A 1-D job beyond one dimension folds into a 2-D grid (grid1d): at most maxDim^2 workgroups.
  const x1d = v.kind === 'depthwise' ? c.workgroups[0] <= maxDim * maxDim : c.workgroups[0] <= maxDim;
  return x1d && c.workgroups[1] <= maxDim && c.workgroups[2] <= maxDim
    && c.invocations <= t.maxWorkgroupInvocations && c.sizeX <= t.maxWorkgroupSizeX
    && c.sharedBytes <= t.maxWorkgroupStorageBytes && c.storageBuffers <= t.maxStorageBuffersPerStage
    && c.scratchBytes <= t.maxStorageBufferBindingSize && c.reduceGroups <= maxDim * maxDim;
}

/** A short name for reports: "mm 64x32 r4x4 k16 split-K 4 f16". */
export function describeConvVariant(v: ConvVariant): string {
  switch (v.kind) {
    case 'depthwise': return 'depthwise';
    case 'reg': return `reg ${v.pixels}px x ${v.chan4 * 4}ch${v.lanes ? ` lanes ${v.lanes}` : ''}`;
    case 'tiled': return `tiled ${v.tm ?? 64}x${v.tn ?? 64}${(v.splitK ?? 1) > 1 ? ` split-K ${v.splitK}` : ''}`;
    case 'mm': return `mm ${v.tm}x${v.tn} r${v.rm}x${v.rn} k${v.tk}${(v.splitK ?? 1) > 1 ? ` split-K ${v.splitK}` : ''}${v.f16 ? ' f16' : ''}`;
  }
}

/**
 * The geometry key: everything that changes a kernel's speed. `epilogue` is 'lin' for the uniform
 * epilogue (none, Relu, Clip, LeakyRelu: one pipeline) or the baked activation's kind. The `conv1`
 * prefix changes only when the meaning of the candidates does.
 */
export function convTuneKey(g: ConvGeometry, epilogue: string, residual: boolean): string {
  return `conv1|n${g.batch}|c${g.C}|${g.H}x${g.W}|m${g.M}|g${g.group}|k${g.KH}x${g.KW}|s${g.sH}x${g.sW}|d${g.dH}x${g.dW}`
    + `|p${g.pT},${g.pL}|o${g.OH}x${g.OW}|${isPointwiseGeometry(g) ? 'pw' : 'sp'}|${epilogue}|${residual ? 'res' : 'nores'}`;
}

type MmShape = Pick<ConvMmTiling, 'tm' | 'tn' | 'rm' | 'rn'>;
const mm = (s: MmShape, tk: number, splitK?: number, f16?: boolean): ConvVariant => ({
  kind: 'mm', tm: s.tm as 32 | 64 | 128, tn: s.tn as 16 | 32 | 64 | 128, rm: s.rm as 4 | 8, rn: s.rn as 4 | 8, tk: tk as 8 | 16 | 32,
  ...(splitK && splitK > 1 ? { splitK } : {}), ...(f16 ? { f16: true as const } : {}),
});

/** Large tiles: the most work per staged byte, for grids that stay big with them. */
const LARGE: MmShape[] = [{ tm: 128, tn: 128, rm: 8, rn: 8 }, { tm: 128, tn: 64, rm: 8, rn: 4 }, { tm: 64, tn: 128, rm: 4, rn: 8 }, { tm: 64, tn: 64, rm: 8, rn: 8 }];
const MEDIUM: MmShape = { tm: 64, tn: 64, rm: 4, rn: 4 };
/** Small tiles, for grids the 64x64 tile leaves too small (in order of preference). */
const SMALL: MmShape[] = [{ tm: 32, tn: 32, rm: 4, rn: 4 }, { tm: 64, tn: 32, rm: 4, rn: 4 }, { tm: 32, tn: 64, rm: 4, rn: 4 }, { tm: 32, tn: 16, rm: 4, rn: 4 }];

/** Share of a tile's rows (or columns) that hold real outputs. */
function use(n: number, tile: number): number {
  return n / (Math.ceil(n / tile) * tile);
}

/**
 * The variants worth timing for geometry `g`, the static choice first, no duplicates, each one
 * fitting `t`'s limits; at most {@link SOFTWARE_MAX_CANDIDATES} on software adapters and
 * {@link GPU_MAX_CANDIDATES} on real GPUs.
 */
export function convCandidates(g: ConvGeometry, t: AdapterTraits, opts: TuneCandidateOptions, staticChoice: ConvVariant): ConvVariant[] {
  const out: ConvVariant[] = [staticChoice];
  const seen = new Set([JSON.stringify(canonical(staticChoice))]);
  const cap = t.isSoftware ? SOFTWARE_MAX_CANDIDATES : GPU_MAX_CANDIDATES;
  const add = (v: ConvVariant): void => {
    const k = JSON.stringify(canonical(v));
    if (out.length >= cap || seen.has(k) || !convVariantFits(v, g, t)) return;
    seen.add(k);
    out.push(v);
  };
  const Cg = g.C / g.group; const Mg = g.M / g.group; const K = Cg * g.KH * g.KW;
  if (Cg === 1 && g.group > 1) return out;
  const pointwise = isPointwiseGeometry(g);
  const N = g.batch * g.OH * g.OW;
  if (t.isSoftware) {
    // Register blockings the static rule does not pick, then one shared-memory kernel.
    if (t.fixedSubgroupSize === 8 && Mg > 4) {
      if (Mg > 16) add({ kind: 'reg', pixels: 4, chan4: 8, lanes: 8 });
      if (Mg > 8) add({ kind: 'reg', pixels: 4, chan4: 4, lanes: 8 });
      if (Mg > 8) add({ kind: 'reg', pixels: 8, chan4: 4, lanes: 8 });
    }
    add({ kind: 'reg', pixels: 4, chan4: 2 });
    if (pointwise) add({ kind: 'reg', pixels: 8, chan4: 2 });
    // The last slot always goes to a shared-memory kernel: the mm shape that loses least on
    // lavapipe (8x8 blocks: per-invocation work is what a software adapter rewards), 2-3x behind
    // the subgroup register kernels on ResNet layers (bench/conv-tune.ts).
    if (out.length === cap) out.pop();
    add(mm({ tm: 64, tn: 64, rm: 8, rn: 8 }, 16));
    return out;
  }

  const grid = (s: MmShape, S = 1): number => Math.ceil(N / s.tn) * Math.ceil(Mg / s.tm) * g.group * S;
  const fitsWell = (s: MmShape): boolean => (use(Mg, s.tm) >= 0.75 || s.tm === 32) && (use(N, s.tn) >= 0.75 || s.tn <= 32);
  const gMedium = grid(MEDIUM);
  const kTiles = Math.ceil(K / 16);
  const f16 = opts.f16 && t.hasF16;
  const f32mm: ConvVariant[] = [];
  const addMm = (v: ConvVariant): void => { const n = out.length; add(v); if (out.length > n) f32mm.push(v); };

  if (Mg < 16) { add({ kind: 'reg', pixels: 4, chan4: 2 }); add({ kind: 'reg', pixels: 4, chan4: 1 }); }
  // The workhorse tile, with shorter and longer K steps where K allows.
  addMm(mm(MEDIUM, 16));
  if (K >= 128) addMm(mm(MEDIUM, 32));
  if (K <= 64) addMm(mm(MEDIUM, 8));
  // Large tiles where the grid stays at least half busy with them.
  for (const s of LARGE) {
    if (fitsWell(s) && grid(s) >= GPU_BUSY_WORKGROUPS / 2) addMm(mm(s, 16));
  }
  const large = LARGE.find((s) => fitsWell(s) && grid(s) >= GPU_BUSY_WORKGROUPS);
  if (large && K >= 128) addMm(mm(large, 32));
  // Small grids: the old tiled kernel at 32x32, smaller mm tiles, then split-K.
  if (gMedium < GPU_BUSY_WORKGROUPS) {
    add({ kind: 'tiled', tm: 32, tn: 32 });
    for (const s of SMALL) if (s.tn > 16 || grid(SMALL[0]!) < GPU_BUSY_WORKGROUPS) addMm(mm(s, 16));
  }
  const splits: ConvVariant[] = [];
  if (grid(SMALL[0]!) < GPU_BUSY_WORKGROUPS && kTiles >= 4) {
    for (const s of [MEDIUM, SMALL[0]!, SMALL[2]!]) {
      // The smallest power of two that makes the grid busy, and half of it; >= 2 k-tiles a slice.
      const maxS = Math.min(16, Math.floor(kTiles / 2));
      let S = 2;
      while (S < maxS && grid(s, S) < GPU_BUSY_WORKGROUPS) S *= 2;
      S = Math.min(S, maxS);
      // Offered at the slice count the kernel really runs (whole k-tiles per slice).
      for (const x of new Set([S, S >> 1].map((r) => splitSlices(kTiles, r).S))) {
        if (x < 2) continue;
        const v = mm(s, 16, x);
        const n = out.length; add(v); if (out.length > n) splits.push(v);
      }
    }
  }
  if (f16) {
    // Half-precision versions of the likeliest winners: the first tiles and the first split.
    for (const v of [...f32mm.slice(0, 3), ...splits.slice(0, 1)]) if (v.kind === 'mm') add({ ...v, f16: true });
  }
  return out;
}

/** Variants with defaults spelled out, for duplicate detection only. */
function canonical(v: ConvVariant): ConvVariant {
  if (v.kind === 'tiled') {
    const S = v.splitK ?? 1;
    return { kind: 'tiled', tm: v.tm ?? 64, tn: v.tn ?? 64, ...(S > 1 ? { splitK: S } : {}) };
  }
  if (v.kind === 'mm') return mm(v, v.tk, v.splitK, v.f16);
  if (v.kind === 'reg') return { kind: 'reg', pixels: v.pixels, chan4: v.chan4, ...(v.lanes ? { lanes: v.lanes } : {}) };
  return v;
}
