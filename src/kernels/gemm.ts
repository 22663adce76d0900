/**
 * ONNX Gemm and MatMul on one matmul kernel family (src/wgsl/matmul.ts). Constant B operands are
 * packed at build time into the kernel's zero-padded layout (and the original initializer is then
 * never bound, so it is not uploaded); GPU-resident B is read in place through strides.
 */
import type { AdapterTraits, BindingRef, BuildContext, Dispatch, KernelProgram, OpDef, TensorArg, TuneSpec } from './types.js';
import type { GraphNode } from '../runtime/graph.js';
import { attrFloat, attrInt } from '../runtime/graph.js';
import { BatchTooLargeError, GraphError } from '../runtime/errors.js';
import { sizeOf } from '../runtime/tensor.js';
import { packUniform } from '../runtime/bind.js';
import { fusedActivation, type Activation } from './activation.js';
import { matmulWgsl, MATMUL_DOT_WG, MATMUL_REG_WG, MATMUL_TILE, type MatmulWgslOptions } from '../wgsl/matmul.js';
import { BATCH_REDUCE_WGSL, BIAS_GRAD_WGSL, MATMUL_GRAD_WG } from '../wgsl/matmul-grad.js';
import { grid1d } from './dispatch-size.js';
import { BOOL_INT, sig } from './schema.js';

const GEMM_ATTRS = { alpha: 'float', beta: 'float', transA: BOOL_INT, transB: BOOL_INT } as const;
/** Signatures per opset (ONNX's Operators.md): C became optional at 11. */
const GEMM_SCHEMA: OpSchema = {
  Gemm: [sig(1, 3, 1, { ...GEMM_ATTRS, broadcast: BOOL_INT }), sig(7, 3, 1, GEMM_ATTRS), sig(11, [2, 3], 1, GEMM_ATTRS)],
  MatMul: [sig(1, 2)],
};
import type { OpSchema } from './types.js';

/**
 * Tiling of one matmul: what chooseMatmulVariant decides (reg or tiled) or the tuner picks. `dot`
 * (rows 1 or 4, cols4 1, 2 or 4 per workgroup) splits K over a workgroup: skinny products only.
 */
export type MatmulVariant =
  | { variant: 'reg' | 'tiled'; rows: 1 | 4 | 8; cols4: 1 | 2 }
  | { variant: 'dot'; rows: 1 | 4; cols4: 1 | 2 | 4 };

/** Problem size seen by the chooser (per batch entry). */
export interface MatmulShape { M: number; N: number; K: number; batch: number }

/** Workgroup memory the tiled variant needs: two 16x64 f32 tiles. */
const TILED_SHARED_BYTES = 2 * 16 * 64 * 4;

/**
 * Picks the tiling. Software adapters run register blocking (workgroup memory and barriers are
 * emulated in software and lose to plain vec4 loads). Real GPUs take 64x64 shared tiles unless the
 * product is so skinny (batch-1 FC layers) that most of a tile would idle.
 */
export function chooseMatmulVariant(traits: AdapterTraits, s: MatmulShape): MatmulVariant {
  const reg: MatmulVariant = { variant: 'reg', rows: s.M <= 2 ? 1 : s.M >= 64 && s.N >= 64 ? 8 : 4, cols4: s.N >= 8 ? 2 : 1 };
  const tiledFits = traits.maxWorkgroupInvocations >= 256 && traits.maxWorkgroupSizeX >= 16 && traits.maxWorkgroupStorageBytes >= TILED_SHARED_BYTES;
  if (traits.isSoftware || !tiledFits) return reg;
  if (s.M < 16 || s.N < 16) return reg;
  return { variant: 'tiled', rows: 4, cols4: 1 };
}

/** Packs B (K x N, element (k, n) at data[off + k*sk + n*sn]) for `batches` entries into [batch][K][Np]. */
export function packB(data: Float32Array | Float64Array, batches: number, batchStride: number, K: number, N: number, sk: number, sn: number, Np: number): Float32Array {
  const out = new Float32Array(Math.max(4, batches * K * Np));
  for (let b = 0; b < batches; b++) {
    for (let k = 0; k < K; k++) {
      const o = (b * K + k) * Np;
      const src = b * batchStride + k * sk;
      for (let n = 0; n < N; n++) out[o + n] = data[src + n * sn]!;
    }
  }
  return out;
}

const PACK_COLS = 8;

/** Everything the shared builder needs, in the kernel's canonical form. */
interface MatmulProblem {
  M: number; N: number; K: number;
  /** Output batch dims (merged, at most 4) and per-dim element strides of A and B (0 = broadcast). */
  batchDims: number[]; aBatch: number[]; bBatch: number[];
  sAm: number; sAk: number;
  /** B source: a constant (packed here) or GPU input 1 read through strides. */
  bConst?: { data: Float32Array | Float64Array; batches: number; batchStride: number };
  sBk: number; sBn: number;
  alpha: number; beta: number;
  /** Bias C: constant data, GPU input index, or none; element (m, n) at m*sCm + n*sCn. */
  c?: { data: Float32Array | Float64Array } | { input: number };
  sCm: number; sCn: number;
  residualInput?: number;
  act?: Activation;
  /** Reverse mode: where A, a GPU-resident B and Y live (defaults: inputs 0 and 1, output 0). */
  aRef?: BindingRef; bRef?: BindingRef; yRef?: BindingRef;
  /** Element strides of Y's rows and columns within one batch entry (default N, 1). */
  sYm?: number; sYn?: number;
  /** Add into Y instead of storing (gradient buffers). */
  accumulate?: boolean;
}

/** Drops size-1 batch dims and merges neighbours whose A and B strides nest, so 4 dims suffice. */
function mergeBatchDims(dims: number[], sa: number[], sb: number[]): { dims: number[]; sa: number[]; sb: number[] } {
  const d: number[] = []; const a: number[] = []; const b: number[] = [];
  dims.forEach((n, i) => {
    if (n === 1) return;
    const j = d.length - 1;
    if (j >= 0 && a[j] === sa[i]! * n && b[j] === sb[i]! * n) {
      d[j] = d[j]! * n; a[j] = sa[i]!; b[j] = sb[i]!;
    } else { d.push(n); a.push(sa[i]!); b.push(sb[i]!); }
  });
  if (d.length > 4) throw new GraphError(`MatMul with ${d.length} non-mergeable broadcast batch dimensions is not supported (at most 4)`);
  while (d.length < 4) { d.unshift(1); a.unshift(0); b.unshift(0); }
  return { dims: d, sa: a, sb: b };
}

/** The variant a tuner value stands for, or undefined when it is not one. */
function asMatmulVariant(x: unknown): MatmulVariant | undefined {
  if (typeof x !== 'object' || x === null) return undefined;
  const v = (x as { variant?: unknown }).variant;
  return v === 'reg' || v === 'tiled' || v === 'dot' ? (x as MatmulVariant) : undefined;
}

/**
 * `tuneKey`: forward builds pass their geometry key so a tuned choice applies; backward products
 * do not (gradients are not tuned).
 */
function buildMatmul(p: MatmulProblem, ctx: BuildContext, forced?: MatmulVariant, label = 'matmul', tuneKey?: string): KernelProgram {
  const batch = p.batchDims.reduce((x, y) => x * y, 1);
  const tuned = !forced && tuneKey !== undefined ? asMatmulVariant(ctx.variant?.(tuneKey)) : undefined;
  const v = forced ?? tuned ?? chooseMatmulVariant(ctx.traits, { M: p.M, N: p.N, K: p.K, batch });
  const merged = mergeBatchDims(p.batchDims, p.aBatch, p.bBatch);
  let bRef: BindingRef;
  let sBk = p.sBk;
  let bStrides = merged.sb;
  if (p.bConst) {
    const Np = Math.ceil(p.N / PACK_COLS) * PACK_COLS;
    const packed = packB(p.bConst.data, p.bConst.batches, p.bConst.batchStride, p.K, p.N, p.sBk, p.sBn, Np);
    bRef = { buffer: ctx.constBuffer(packed, `${label}.B`) };
    sBk = Np / 4;
    // Batch strides were given in source elements of one B entry (K*N); rescale to packed vec4 units.
    const per = p.bConst.batchStride;
    bStrides = merged.sb.map((s) => (per > 0 ? (s / per) * p.K * (Np / 4) : 0));
  } else {
    bRef = p.bRef ?? { input: 1 };
  }
  const cRef: BindingRef = !p.c ? { buffer: ctx.constBuffer(new Float32Array(4), `${label}.zero`) }
    : 'input' in p.c ? { input: p.c.input } : { buffer: ctx.constBuffer(Float32Array.from(p.c.data), `${label}.C`) };
  const opts: MatmulWgslOptions = { variant: v.variant, rows: v.rows, cols4: v.cols4, bPacked: !!p.bConst, residual: p.residualInput !== undefined, act: p.act, accumulate: p.accumulate };
  const d = merged.dims;
  const uniform = packUniform([
    p.M, p.N, p.K, d[1]!, d[2]!, d[3]!, p.sAm, p.sAk,
    ...merged.sa, sBk, p.sBn, ...bStrides, p.c ? p.sCm : 0, p.c ? p.sCn : 0,
    { f32: p.alpha }, { f32: p.c ? p.beta : 0 }, p.sYm ?? p.N, p.sYn ?? 1,
  ]);
  const bindings: BindingRef[] = [p.aRef ?? { input: 0 }, bRef, cRef, p.yRef ?? { output: 0 }, { uniform }];
  if (p.residualInput !== undefined) bindings.push({ input: p.residualInput });
  const max = ctx.traits.maxWorkgroupsPerDimension;
  const workgroups = matmulWorkgroups(v, p.M, p.N, batch);
  if (workgroups.some((w) => w > max)) throw new BatchTooLargeError(`${label}: ${p.M}x${p.N} (batch ${batch}) exceeds the device's dispatch limits`);
  return { dispatches: [{ label, pipeline: ctx.pipeline(matmulWgsl(opts)), bindings, workgroups }] };
}

/** The dispatch grid of a variant. */
function matmulWorkgroups(v: MatmulVariant, M: number, N: number, batch: number): [number, number, number] {
  if (v.variant === 'reg') return [Math.ceil(N / (v.cols4 * 4 * MATMUL_REG_WG)), Math.ceil(M / v.rows), batch];
  if (v.variant === 'dot') return [Math.ceil(N / (v.cols4 * 4)), Math.ceil(M / v.rows), batch];
  return [Math.ceil(N / MATMUL_TILE), Math.ceil(M / MATMUL_TILE), batch];
}

/** Whether `v` fits the device for this product (dispatch grid, workgroup size and memory). */
export function matmulVariantFits(v: MatmulVariant, t: AdapterTraits, s: MatmulShape): boolean {
  if (matmulWorkgroups(v, s.M, s.N, s.batch).some((w) => w > t.maxWorkgroupsPerDimension)) return false;
  if (v.variant === 'tiled') return t.maxWorkgroupInvocations >= 256 && t.maxWorkgroupSizeX >= 16 && t.maxWorkgroupStorageBytes >= TILED_SHARED_BYTES;
  if (v.variant === 'dot') return t.maxWorkgroupInvocations >= MATMUL_DOT_WG && t.maxWorkgroupSizeX >= MATMUL_DOT_WG && t.maxWorkgroupStorageBytes >= v.rows * MATMUL_DOT_WG * 16;
  return t.maxWorkgroupInvocations >= MATMUL_REG_WG && t.maxWorkgroupSizeX >= MATMUL_REG_WG;
}

/** Most candidates on a software adapter (each one is a pipeline compiled on the CPU). */
const SOFTWARE_MAX_CANDIDATES = 6;

/**
 * The variants worth timing for a product, the static choice first, no duplicates, all fitting:
 * the register blockings (rows beyond M only repeat rows), the tiled kernel, and for skinny
 * products with a long reduction the dot kernel (batch-1 / batch-8 FC layers). At most
 * {@link SOFTWARE_MAX_CANDIDATES} on software adapters.
 */
export function matmulCandidates(t: AdapterTraits, s: MatmulShape): MatmulVariant[] {
  const out: MatmulVariant[] = [chooseMatmulVariant(t, s)];
  const seen = new Set(out.map((v) => JSON.stringify(v)));
  const cap = t.isSoftware ? SOFTWARE_MAX_CANDIDATES : Infinity;
  const add = (v: MatmulVariant): void => {
    const k = JSON.stringify(v);
    if (out.length >= cap || seen.has(k) || !matmulVariantFits(v, t, s)) return;
    seen.add(k);
    out.push(v);
  };
  const skinny = s.M <= 16 && s.K >= 128;
  const dots: MatmulVariant[] = skinny ? [1, 4].flatMap((c) => [{ variant: 'dot', rows: s.M >= 4 ? 4 : 1, cols4: c as 1 | 4 } as MatmulVariant]) : [];
  // The shared-memory kernels are timed on software adapters too, but only once each, last.
  const reserved = t.isSoftware ? Math.min(1, dots.length) + 1 : 0;
  for (const rows of [1, 4, 8] as const) {
    if (rows > 1 && rows > 2 * s.M) continue;
    for (const cols4 of [2, 1] as const) {
      if (out.length < cap - reserved) add({ variant: 'reg', rows, cols4 });
    }
  }
  add({ variant: 'tiled', rows: 4, cols4: 1 });
  for (const v of t.isSoftware ? dots.slice(0, 1) : dots) add(v);
  return out;
}

/** A short name for reports: "reg 4x8", "tiled 64x64", "dot 1x16". */
export function describeMatmulVariant(v: MatmulVariant): string {
  if (v.variant === 'tiled') return `tiled ${MATMUL_TILE}x${MATMUL_TILE}`;
  return `${v.variant} ${v.rows}x${v.cols4 * 4}`;
}

/**
 * The geometry key of a product: sizes, batch, whether B is packed (constant) or read through
 * strides, the access classes of A and B, the bias kind, residual and the baked activation.
 */
function matmulKey(op: string, p: MatmulProblem): string {
  const batch = p.batchDims.reduce((x, y) => x * y, 1);
  const b = p.bConst ? 'packed' : p.sBn === 1 ? 'rows' : 'cols';
  const c = !p.c ? 'none' : 'input' in p.c ? 'input' : 'const';
  return `${op.toLowerCase()}1|M${p.M}|N${p.N}|K${p.K}|b${batch}|A${p.sAk === 1 ? 'rows' : 'cols'}|B${b}|C${c}`
    + `|${p.residualInput !== undefined ? 'res' : 'nores'}|act:${p.act?.kind ?? 'none'}`;
}

/** The tune spec of MatMul or Gemm over the problem builder of that op. */
function matmulTune(op: 'MatMul' | 'Gemm', problem: (node: GraphNode, inputs: readonly (TensorArg | undefined)[]) => MatmulProblem): TuneSpec {
  const shape = (p: MatmulProblem): MatmulShape => ({ M: p.M, N: p.N, K: p.K, batch: p.batchDims.reduce((x, y) => x * y, 1) });
  return {
    key(node, inputs, _outputs, traits) {
      const p = problem(node, inputs);
      return matmulCandidates(traits, shape(p)).length > 1 ? matmulKey(op, p) : undefined;
    },
    candidates: (node, inputs, _outputs, traits) => matmulCandidates(traits, shape(problem(node, inputs))),
    describe(v) {
      const m = asMatmulVariant(v);
      return m ? describeMatmulVariant(m) : JSON.stringify(v);
    },
  };
}

function need(inputs: readonly (TensorArg | undefined)[], i: number, op: string): TensorArg {
  const t = inputs[i];
  if (!t) throw new GraphError(`${op}: input ${i} is required`);
  return t;
}

function residualIndex(node: GraphNode, inputs: readonly (TensorArg | undefined)[]): number | undefined {
  return node.inputs[3] && inputs[3] ? 3 : undefined;
}

function broadcastDims(a: readonly number[], b: readonly number[], what: string): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new GraphError(`${what}: batch dims [${a.join(',')}] and [${b.join(',')}] do not broadcast`);
    out.push(Math.max(x, y));
  }
  return out;
}

/** Element strides of `dims` (right-aligned to `out`), 0 where broadcast; `inner` = elements per matrix. */
function batchStrides(dims: readonly number[], out: readonly number[], inner: number): number[] {
  const s = new Array<number>(out.length).fill(0);
  let acc = inner;
  for (let i = dims.length - 1; i >= 0; i--) {
    const o = out.length - dims.length + i;
    s[o] = dims[i] === 1 ? 0 : acc;
    acc *= dims[i]!;
  }
  return s;
}

interface MatMulShapes { M: number; N: number; K: number; batch: number[]; aBatch: number[]; bBatch: number[]; out: number[] }

function matmulShapes(a: readonly number[], b: readonly number[]): MatMulShapes {
  if (a.length === 0 || b.length === 0) throw new GraphError('MatMul: scalar operands are not allowed');
  const a2 = a.length === 1 ? [1, a[0]!] : [...a];
  const b2 = b.length === 1 ? [b[0]!, 1] : [...b];
  const M = a2[a2.length - 2]!; const K = a2[a2.length - 1]!;
  const K2 = b2[b2.length - 2]!; const N = b2[b2.length - 1]!;
  if (K !== K2) throw new GraphError(`MatMul: inner dimensions differ ([${a.join(',')}] x [${b.join(',')}])`);
  const aBatch = a2.slice(0, -2); const bBatch = b2.slice(0, -2);
  const batch = broadcastDims(aBatch, bBatch, 'MatMul');
  const out = [...batch];
  if (a.length > 1) out.push(M);
  if (b.length > 1) out.push(N);
  return { M, N, K, batch, aBatch, bBatch, out };
}

function matmulProblem(node: GraphNode, inputs: readonly (TensorArg | undefined)[]): MatmulProblem {
  const A = need(inputs, 0, 'MatMul'); const B = need(inputs, 1, 'MatMul');
  const s = matmulShapes(A.shape, B.shape);
  const bEntries = sizeOf(s.bBatch);
  return {
    M: s.M, N: s.N, K: s.K, batchDims: s.batch,
    aBatch: batchStrides(s.aBatch, s.batch, s.M * s.K), bBatch: batchStrides(s.bBatch, s.batch, s.K * s.N),
    sAm: s.K, sAk: 1,
    bConst: B.constant ? { data: B.constant.data, batches: bEntries, batchStride: s.K * s.N } : undefined,
    sBk: s.N, sBn: 1, alpha: 1, beta: 0, sCm: 0, sCn: 0,
    residualInput: residualIndex(node, inputs), act: fusedActivation(node),
  };
}

interface GemmShapes { M: number; N: number; K: number; transA: boolean; transB: boolean }

function gemmShapes(node: GraphNode, inputs: readonly (TensorArg | undefined)[]): GemmShapes {
  const a = need(inputs, 0, 'Gemm').shape; const b = need(inputs, 1, 'Gemm').shape;
  if (a.length !== 2 || b.length !== 2) throw new GraphError(`Gemm: A and B must be 2-D (got [${a.join(',')}], [${b.join(',')}])`);
  const transA = attrInt(node, 'transA', 0) !== 0; const transB = attrInt(node, 'transB', 0) !== 0;
  const M = transA ? a[1]! : a[0]!; const K = transA ? a[0]! : a[1]!;
  const K2 = transB ? b[1]! : b[0]!; const N = transB ? b[0]! : b[1]!;
  if (K !== K2) throw new GraphError(`Gemm: inner dimensions differ (K=${K} vs ${K2})`);
  return { M, N, K, transA, transB };
}

/** Strides of C broadcast unidirectionally to (M, N). */
function biasStrides(c: readonly number[], M: number, N: number): [number, number] {
  if (c.length > 2) throw new GraphError(`Gemm: C of rank ${c.length} cannot broadcast to [${M},${N}]`);
  const cm = c.length === 2 ? c[0]! : 1; const cn = c.length >= 1 ? c[c.length - 1]! : 1;
  if ((cm !== 1 && cm !== M) || (cn !== 1 && cn !== N)) throw new GraphError(`Gemm: C [${c.join(',')}] cannot broadcast to [${M},${N}]`);
  return [cm === 1 ? 0 : cn, cn === 1 ? 0 : 1];
}

function gemmProblem(node: GraphNode, inputs: readonly (TensorArg | undefined)[]): MatmulProblem {
  const s = gemmShapes(node, inputs);
  const B = inputs[1]!; const C = node.inputs[2] ? inputs[2] : undefined;
  const [sCm, sCn] = C ? biasStrides(C.shape, s.M, s.N) : [0, 0];
  return {
    M: s.M, N: s.N, K: s.K, batchDims: [], aBatch: [], bBatch: [],
    sAm: s.transA ? 1 : s.K, sAk: s.transA ? s.M : 1,
    bConst: B.constant ? { data: B.constant.data, batches: 1, batchStride: s.K * s.N } : undefined,
    sBk: s.transB ? 1 : s.N, sBn: s.transB ? s.K : 1,
    alpha: attrFloat(node, 'alpha', 1), beta: attrFloat(node, 'beta', 1),
    c: C ? (C.constant ? { data: C.constant.data } : { input: 2 }) : undefined, sCm, sCn,
    residualInput: residualIndex(node, inputs), act: fusedActivation(node),
  };
}

/**
 * One gradient product p (whose Y is gradient input `target`, with per-output-batch target strides
 * `tBatch`, 0 where the target broadcast). When output batches map one-to-one onto the target's,
 * the matmul adds straight into the gradient; otherwise it writes per-batch products to scratch and
 * a gather reduction sums them over the broadcast dims.
 */
function gradProduct(p: MatmulProblem, target: number, tBatch: number[], ctx: BuildContext, forced: MatmulVariant | undefined, label: string, scratch: number[]): Dispatch[] {
  const Z = sizeOf(p.batchDims);
  const entries = p.batchDims.reduce((acc, n, i) => acc * (tBatch[i] ? n : 1), 1);
  if (entries === Z) return buildMatmul({ ...p, yRef: { gradInput: target }, accumulate: true }, ctx, forced, label).dispatches;
  const R = p.M * p.N;
  const slot = scratch.length;
  scratch.push(Z * R * 4);
  const product = buildMatmul({ ...p, yRef: { scratch: slot }, accumulate: false }, ctx, forced, label).dispatches;
  const m = mergeBatchDims(p.batchDims, tBatch, tBatch);
  const total = entries * R;
  const uniform = packUniform([R, Z, total, m.dims[1]!, m.dims[2]!, m.dims[3]!, ...m.sa, 0, 0]);
  return [...product, {
    label: `${label} batch sum`, pipeline: ctx.pipeline(BATCH_REDUCE_WGSL),
    bindings: [{ scratch: slot }, { gradInput: target }, { uniform }],
    workgroups: grid1d(total, MATMUL_GRAD_WG, ctx.traits.maxWorkgroupsPerDimension),
  }];
}

/** dA = dY · B^T and dB = A^T · dY per output batch, summed over the dims each operand broadcast. */
function matmulBackward(node: GraphNode, inputs: readonly (TensorArg | undefined)[], ctx: BuildContext, wants: readonly boolean[], forced?: MatmulVariant): KernelProgram {
  const A = need(inputs, 0, 'MatMul'); const B = need(inputs, 1, 'MatMul');
  const s = matmulShapes(A.shape, B.shape);
  const outStr = batchStrides(s.batch, s.batch, s.M * s.N);
  const aStr = batchStrides(s.aBatch, s.batch, s.M * s.K);
  const bStr = batchStrides(s.bBatch, s.batch, s.K * s.N);
  const label = `MatMulGrad ${node.name}`;
  const dispatches: Dispatch[] = []; const scratch: number[] = [];
  const base = { batchDims: s.batch, alpha: 1, beta: 0, sCm: 0, sCn: 0 };
  if (wants[0]) {
    // dA[m][k] = Σ_n dY[m][n] B[k][n]: B read transposed (packed so when constant).
    dispatches.push(...gradProduct({
      ...base, M: s.M, N: s.K, K: s.N, aBatch: outStr, bBatch: bStr, sAm: s.N, sAk: 1, aRef: { gradOutput: 0 },
      bConst: B.constant ? { data: B.constant.data, batches: sizeOf(s.bBatch), batchStride: s.K * s.N } : undefined,
      bRef: { input: 1 }, sBk: 1, sBn: s.N,
    }, 0, aStr, ctx, forced, `${label}.dA`, scratch));
  }
  if (wants[1]) {
    if (B.constant) throw new GraphError(`MatMul '${node.name}': the gradient of a constant operand was requested`);
    // dB[k][n] = Σ_m A[m][k] dY[m][n]: A read transposed.
    dispatches.push(...gradProduct({
      ...base, M: s.K, N: s.N, K: s.M, aBatch: aStr, bBatch: outStr, sAm: 1, sAk: s.K, aRef: { input: 0 },
      bRef: { gradOutput: 0 }, sBk: s.N, sBn: 1,
    }, 1, bStr, ctx, forced, `${label}.dB`, scratch));
  }
  return scratch.length ? { dispatches, scratchBytes: scratch } : { dispatches };
}

/**
 * Gemm: dA = alpha dY · B'^T, dB = alpha A'^T · dY (written through transA / transB strides), and
 * dC = beta Σ dY over the dims C broadcast along.
 */
function gemmBackward(node: GraphNode, inputs: readonly (TensorArg | undefined)[], ctx: BuildContext, wants: readonly boolean[], forced?: MatmulVariant): KernelProgram {
  const s = gemmShapes(node, inputs);
  const p0 = gemmProblem(node, inputs);
  const B = inputs[1]!;
  const label = `GemmGrad ${node.name}`;
  const dispatches: Dispatch[] = [];
  const base = { batchDims: [], aBatch: [], bBatch: [], alpha: p0.alpha, beta: 0, sCm: 0, sCn: 0, accumulate: true };
  if (wants[0]) {
    dispatches.push(...buildMatmul({
      ...base, M: s.M, N: s.K, K: s.N, sAm: s.N, sAk: 1, aRef: { gradOutput: 0 },
      bConst: B.constant ? { data: B.constant.data, batches: 1, batchStride: s.K * s.N } : undefined,
      bRef: { input: 1 }, sBk: p0.sBn, sBn: p0.sBk,
      yRef: { gradInput: 0 }, sYm: s.transA ? 1 : s.K, sYn: s.transA ? s.M : 1,
    }, ctx, forced, `${label}.dA`).dispatches);
  }
  if (wants[1]) {
    if (B.constant) throw new GraphError(`Gemm '${node.name}': the gradient of a constant B was requested`);
    dispatches.push(...buildMatmul({
      ...base, M: s.K, N: s.N, K: s.M, sAm: p0.sAk, sAk: p0.sAm, aRef: { input: 0 },
      bRef: { gradOutput: 0 }, sBk: s.N, sBn: 1,
      yRef: { gradInput: 1 }, sYm: s.transB ? 1 : s.N, sYn: s.transB ? s.K : 1,
    }, ctx, forced, `${label}.dB`).dispatches);
  }
  if (wants[2]) {
    const C = node.inputs[2] ? inputs[2] : undefined;
    if (!C || C.constant) throw new GraphError(`Gemm '${node.name}': the gradient of a missing or constant C was requested`);
    biasStrides(C.shape, s.M, s.N);
    const cm = C.shape.length === 2 ? C.shape[0]! : 1;
    const cn = C.shape.length >= 1 ? C.shape[C.shape.length - 1]! : 1;
    const uniform = packUniform([s.M, s.N, cm, cn, cm * cn, { f32: p0.beta }, 0, 0]);
    dispatches.push({
      label: `${label}.dC`, pipeline: ctx.pipeline(BIAS_GRAD_WGSL), bindings: [{ gradOutput: 0 }, { gradInput: 2 }, { uniform }],
      workgroups: grid1d(cm * cn, MATMUL_GRAD_WG, ctx.traits.maxWorkgroupsPerDimension),
    });
  }
  return { dispatches };
}

const matmulTuneSpec = matmulTune('MatMul', matmulProblem);
const gemmTuneSpec = matmulTune('Gemm', gemmProblem);

/** MatMul with an optional forced tiling (tests, benchmarks); it applies to backward too. Only the unforced op is tunable. */
export function matmulOpWith(forced?: MatmulVariant): OpDef {
  return {
    opTypes: ['MatMul'],
    schema: GEMM_SCHEMA,
    ...(forced ? {} : { tune: matmulTuneSpec }),
    inferShapes: (_node, inputs) => [matmulShapes(need(inputs, 0, 'MatMul').shape, need(inputs, 1, 'MatMul').shape).out],
    build: (node, inputs, _outputs, ctx) => {
      const p = matmulProblem(node, inputs);
      return buildMatmul(p, ctx, forced, `MatMul ${node.name}`, forced ? undefined : matmulKey('MatMul', p));
    },
    backward: (node, inputs, _outputs, ctx, wants) => matmulBackward(node, inputs, ctx, wants, forced),
  };
}

/** Gemm with an optional forced tiling (tests, benchmarks); it applies to backward too. Only the unforced op is tunable. */
export function gemmOpWith(forced?: MatmulVariant): OpDef {
  return {
    opTypes: ['Gemm'],
    schema: GEMM_SCHEMA,
    ...(forced ? {} : { tune: gemmTuneSpec }),
    inferShapes: (node, inputs) => {
      const s = gemmShapes(node, inputs);
      const C = node.inputs[2] ? inputs[2] : undefined;
      if (C) biasStrides(C.shape, s.M, s.N);
      return [[s.M, s.N]];
    },
    build: (node, inputs, _outputs, ctx) => {
      const p = gemmProblem(node, inputs);
      return buildMatmul(p, ctx, forced, `Gemm ${node.name}`, forced ? undefined : matmulKey('Gemm', p));
    },
    backward: (node, inputs, _outputs, ctx, wants) => gemmBackward(node, inputs, ctx, wants, forced),
  };
}

/** ONNX MatMul (numpy semantics: 1-D operands, broadcast batch dims). */
export const matmulOp: OpDef = matmulOpWith();
/** ONNX Gemm (alpha, beta, transA, transB, C broadcast to [M, N]). */
export const gemmOp: OpDef = gemmOpWith();

/** A plain M x K by K x N product with constant B, for the matmul benchmark. */
export function buildPlainMatmul(ctx: BuildContext, M: number, N: number, K: number, b: Float32Array, forced?: MatmulVariant): KernelProgram {
  return buildMatmul({
    M, N, K, batchDims: [], aBatch: [], bBatch: [], sAm: K, sAk: 1,
    bConst: { data: b, batches: 1, batchStride: K * N }, sBk: N, sBn: 1, alpha: 1, beta: 0, sCm: 0, sCn: 0,
  }, ctx, forced, 'matmul-bench');
}
