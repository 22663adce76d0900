/**
 * ONNX Conv (1-D and 2-D; 1-D runs as H = 1) on the implicit-GEMM kernels of src/wgsl/conv2d.ts.
 * Weights and bias are host constants, packed at build time into the kernel's layout. A fused
 * activation (`_activation`) and a residual (input 3, added before the activation) come from the
 * optimiser's fusion pass.
 */
import type { AdapterTraits, BindingRef, BuildContext, KernelProgram, OpDef, TensorArg, TuneSpec } from './types.js';
import type { GraphNode } from '../runtime/graph.js';
import { attrInt, attrInts, attrString } from '../runtime/graph.js';
import { sizeOf } from '../runtime/tensor.js';
import { BatchTooLargeError, GraphError } from '../runtime/errors.js';
import { packUniform } from '../runtime/bind.js';
import { grid1d } from './dispatch-size.js';
import { fusedActivation, type Activation } from './activation.js';
import { packF16AsF32 } from './f16.js';
import { convCandidates, convMmInput, convTuneKey, describeConvVariant, isPointwiseGeometry, splitSlices } from './conv-tune.js';
import { convWgsl, CONV_WG, CONV_REDUCE_WG, type ConvWgslOptions } from '../wgsl/conv2d.js';
import { convMmWgsl } from '../wgsl/conv2d-mm.js';
import { convGradWgsl, CONV_GRAD_WG } from '../wgsl/conv2d-grad.js';
import { POSITIVE_INTS, WINDOW, sig } from './schema.js';
import { checkI32 } from '../runtime/limits.js';

/** Conv's signature (ONNX's Operators.md; unchanged in meaning since opset 1). */
const CONV_SCHEMA: OpSchema = { Conv: [sig(1, [2, 3], 1, { ...WINDOW, dilations: POSITIVE_INTS, group: { type: 'int', min: 1 } })] };
import type { OpSchema } from './types.js';

/** Concrete 2-D convolution geometry (1-D convolutions have H = KH = 1). */
export interface ConvGeometry {
  batch: number; C: number; H: number; W: number;
  M: number; group: number; KH: number; KW: number;
  sH: number; sW: number; dH: number; dW: number;
  /** Begin padding (top, left); end padding only affects OH/OW. */
  pT: number; pL: number;
  OH: number; OW: number;
}

/** What chooseConvVariant decides. */
export type ConvVariant =
  | { kind: 'depthwise' }
  /** lanes: weights shared through subgroupBroadcast (see ConvWgslOptions.lanes); chan4 4 and 8 need it. */
  | { kind: 'reg'; pixels: 4 | 8; chan4: 1 | 2 | 4 | 8; lanes?: 8 }
  /**
   * Shared-memory tiles of tm output channels x tn pixels (default 64x64); splitK > 1 cuts the
   * reduction into that many slices whose partial sums a second dispatch adds (default 1).
   * The input-gradient kernel ignores tm, tn and splitK.
   */
  | { kind: 'tiled'; tm?: 64 | 32; tn?: 64 | 32 | 16; splitK?: number }
  /**
   * The shared-memory implicit GEMM of src/wgsl/conv2d-mm.ts: tm x tn output tiles (channels x
   * pixels), rm x rn outputs per invocation, tk reduction rows per barrier; splitK > 1 cuts the
   * reduction into that many slices added by a reduce dispatch; f16 stores weights and multiplies
   * in half precision (shader-f16; accuracy in conv2d-mm.ts). Forward only: the gradient builder
   * takes its own chooser's pick instead.
   */
  | { kind: 'mm'; tm: 32 | 64 | 128; tn: 16 | 32 | 64 | 128; rm: 4 | 8; rn: 4 | 8; tk: 8 | 16 | 32; splitK?: number; f16?: true };

const TILED_SHARED_BYTES = 2 * 16 * 64 * 4;

/**
 * Picks the kernel. One input channel per group (depthwise, with or without a channel multiplier)
 * always takes the direct kernel: its reduction is only KH*KW long, too short for GEMM tiling.
 * Otherwise software adapters get register blocking and real GPUs 64x64 shared-memory tiles, unless
 * a group has so few output channels that most of a tile would idle. The smaller-tile and split-K
 * tiled variants are correct (tested) but not chosen automatically until bench/conv-tune.ts has
 * timed them on real GPUs: batch-1 late layers are where they should help.
 */
export function chooseConvVariant(traits: AdapterTraits, g: ConvGeometry): ConvVariant {
  const Cg = g.C / g.group; const Mg = g.M / g.group;
  if (Cg === 1 && g.group > 1) return { kind: 'depthwise' };
  const tiledFits = traits.maxWorkgroupInvocations >= 256 && traits.maxWorkgroupSizeX >= 16 && traits.maxWorkgroupStorageBytes >= TILED_SHARED_BYTES;
  if (!traits.isSoftware && tiledFits && Mg >= 16) return { kind: 'tiled' };
  // Where subgroups of 8 lanes exist (lavapipe), 4 pixels x 32 channels per invocation with
  // broadcast weights: 1.5-2.6x the plain register kernel on ResNet layers (bench/conv-tune.ts);
  // more channels or pixels spill more than they save. Narrow groups take fewer channels. Its
  // one-subgroup workgroups cover 32 pixels, so huge outputs keep the 256-pixel ones.
  const outPixels = g.batch * g.OH * g.OW;
  if (traits.isSoftware && traits.fixedSubgroupSize === 8 && Mg > 4 && outPixels <= 32 * traits.maxWorkgroupsPerDimension) {
    return { kind: 'reg', pixels: 4, chan4: Mg > 16 ? 8 : Mg > 8 ? 4 : 2, lanes: 8 };
  }
  // 8 pixels per invocation pays only for 1x1 convolutions (measured on lavapipe: +25 %); with a
  // spatial gather the unrolled body is twice as large and compiles 4x slower for no speed-up.
  const pointwise = isPointwise(g);
  return { kind: 'reg', pixels: pointwise && Mg >= 8 ? 8 : 4, chan4: Mg >= 8 ? 2 : 1 };
}

function spatialAttr(node: GraphNode, key: string, n: number, dflt: number): number[] {
  const v = attrInts(node, key);
  if (!v) return new Array<number>(n).fill(dflt);
  if (v.length !== n) throw new GraphError(`Conv '${node.name}': ${key} has ${v.length} values, expected ${n}`);
  return v;
}

/** Conv geometry from ONNX attributes (auto_pad, pads, strides, dilations, group, kernel_shape). */
export function convGeometry(node: GraphNode, x: readonly number[], w: readonly number[]): ConvGeometry & { pads: number[]; outShape: number[] } {
  const rank = x.length - 2;
  if (rank !== 1 && rank !== 2) throw new GraphError(`Conv '${node.name}': only 1-D and 2-D convolutions are supported (input rank ${x.length})`);
  if (w.length !== x.length) throw new GraphError(`Conv '${node.name}': weight rank ${w.length} does not match input rank ${x.length}`);
  const group = attrInt(node, 'group', 1);
  const [batch, C] = [x[0]!, x[1]!];
  const M = w[0]!;
  if (group < 1 || C % group !== 0 || M % group !== 0 || w[1]! * group !== C) {
    throw new GraphError(`Conv '${node.name}': ${C} input / ${M} output channels do not match weight [${w.join(',')}] with group ${group}`);
  }
  const kernel = w.slice(2);
  const ks = attrInts(node, 'kernel_shape');
  if (ks && (ks.length !== rank || ks.some((k, i) => k !== kernel[i]))) throw new GraphError(`Conv '${node.name}': kernel_shape [${ks.join(',')}] does not match weight [${w.join(',')}]`);
  const strides = spatialAttr(node, 'strides', rank, 1);
  const dil = spatialAttr(node, 'dilations', rank, 1);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const inSp = x.slice(2);
  let pads: number[];
  if (autoPad === 'NOTSET') pads = spatialAttr(node, 'pads', rank * 2, 0);
  else if (autoPad === 'VALID') pads = new Array<number>(rank * 2).fill(0);
  else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    pads = new Array<number>(rank * 2).fill(0);
    for (let i = 0; i < rank; i++) {
      const out = Math.ceil(inSp[i]! / strides[i]!);
      const total = Math.max(0, (out - 1) * strides[i]! + (kernel[i]! - 1) * dil[i]! + 1 - inSp[i]!);
      const small = Math.floor(total / 2);
      pads[i] = autoPad === 'SAME_UPPER' ? small : total - small;
      pads[i + rank] = total - pads[i]!;
    }
  } else throw new GraphError(`Conv '${node.name}': unknown auto_pad '${autoPad}'`);
  const spans = kernel.map((k, i) => (k - 1) * dil[i]! + 1);
  // Pads, window extents and the furthest tap offset all reach the kernels as i32 words.
  checkI32(node, 'a pad, window extent or tap offset', [...pads, ...spans, ...inSp.map((n, i) => n + pads[i]! + pads[i + rank]!),
    x[1]! * sizeOf(inSp) + spans.reduce((acc, sp, i) => acc * inSp[i]! + sp, 0)]);
  const outSp = inSp.map((n, i) => Math.floor((n + pads[i]! + pads[i + rank]! - spans[i]!) / strides[i]!) + 1);
  if (outSp.some((o) => o < 1) || strides.some((s) => s < 1) || dil.some((d) => d < 1) || pads.some((p) => p < 0)) {
    throw new GraphError(`Conv '${node.name}': invalid geometry (input [${x.join(',')}], kernel [${kernel.join(',')}], pads [${pads.join(',')}], strides [${strides.join(',')}])`);
  }
  const two = <T>(arr: T[], d: T): [T, T] => (rank === 1 ? [d, arr[0]!] : [arr[0]!, arr[1]!]);
  const [H, W] = two(inSp, 1); const [KH, KW] = two(kernel, 1); const [sH, sW] = two(strides, 1);
  const [dH, dW] = two(dil, 1); const [OH, OW] = two(outSp, 1);
  const pT = rank === 1 ? 0 : pads[0]!; const pL = rank === 1 ? pads[0]! : pads[1]!;
  return { batch, C, H, W, M, group, KH, KW, sH, sW, dH, dW, pT, pL, OH, OW, pads, outShape: [batch, M, ...outSp] };
}

/**
 * Packs [M][Cg][KH][KW] weights into [group][Kp][Mp] (Kp >= K rows, default K) with zero-padded
 * channel columns and reduction rows.
 */
export function packConvWeights(w: Float32Array | Float64Array, M: number, group: number, K: number, Mp: number, Kp = K): Float32Array {
  const Mg = M / group;
  const out = new Float32Array(Math.max(4, group * Kp * Mp));
  for (let oc = 0; oc < M; oc++) {
    const g = Math.floor(oc / Mg); const m = oc - g * Mg;
    for (let k = 0; k < K; k++) out[(g * Kp + k) * Mp + m] = w[oc * K + k]!;
  }
  return out;
}

/** dy of a k-table row past K: any tap is then outside the image, so the gather reads zero. */
const KTAB_OUTSIDE = 1 << 20;

/**
 * The mm kernel's gather table: per reduction row k = (c, kh, kw), the offset of the tap from the
 * pixel's top-left input corner within its image (c*H*W + kh*dH*W + kw*dW), kh*dH and kw*dW; as
 * i32 words in a Float32Array view (constBuffer copies bytes). Rows K..Kp-1 fall outside.
 */
export function convGatherTable(g: ConvGeometry, Kp: number): Float32Array {
  const Cg = g.C / g.group; const KHW = g.KH * g.KW; const K = Cg * KHW;
  const t = new Int32Array(Kp * 4);
  for (let k = 0; k < Kp; k++) {
    if (k >= K) { t[k * 4 + 1] = KTAB_OUTSIDE; continue; }
    const c = Math.floor(k / KHW); const r = k - c * KHW;
    const kh = Math.floor(r / g.KW); const kw = r - kh * g.KW;
    const dy = kh * g.dH; const dx = kw * g.dW;
    t[k * 4] = c * g.H * g.W + dy * g.W + dx; t[k * 4 + 1] = dy; t[k * 4 + 2] = dx;
  }
  return new Float32Array(t.buffer);
}

const F32_MAX = 3.4028234663852886e38;

/**
 * The uniform-epilogue parameters (negative slope, lower and upper clamp) of a piecewise-linear
 * activation, or undefined when it must be baked into the source (Sigmoid, Tanh, ...).
 */
export function linearEpilogue(act: Activation | undefined): [number, number, number] | undefined {
  const [a = 0, b = 0] = act?.params ?? [];
  switch (act?.kind) {
    case undefined: return [1, -F32_MAX, F32_MAX];
    case 'Relu': return [1, 0, F32_MAX];
    case 'Clip': return [1, Math.max(a, -F32_MAX), Math.min(b, F32_MAX)];
    case 'LeakyRelu': return [a, -F32_MAX, F32_MAX];
    default: return undefined;
  }
}

/**
 * [scale, zero point, lo, hi] of a QuantizeLinear→DequantizeLinear pair the fusion pass moved into
 * this Conv (`_fakequant`), applied after the activation by the uniform epilogue; zeros when none.
 */
function fakeQuant(node: GraphNode, linear: [number, number, number] | undefined): number[] {
  const fq = node.attrs['_fakequant'];
  if (!Array.isArray(fq)) return [0, 0, 0, 0];
  if (!linear || fq.length !== 4) throw new GraphError(`Conv '${node.name}': a fused quantisation needs a piecewise-linear epilogue`);
  return (fq as number[]).map(Number);
}

/** The variant a tuner value stands for, or undefined when it is not one (stale or foreign). */
function asConvVariant(x: unknown): ConvVariant | undefined {
  if (typeof x !== 'object' || x === null) return undefined;
  const k = (x as { kind?: unknown }).kind;
  return k === 'reg' || k === 'tiled' || k === 'depthwise' || k === 'mm' ? (x as ConvVariant) : undefined;
}

/** Everything buildConv and the tune spec read from a node. */
interface ConvSetup {
  g: ConvGeometry & { pads: number[]; outShape: number[] };
  act?: Activation;
  linear?: [number, number, number];
  residual: boolean;
}

function convSetup(node: GraphNode, inputs: readonly (TensorArg | undefined)[]): ConvSetup {
  const X = inputs[0]; const Wt = inputs[1];
  if (!X || !Wt) throw new GraphError(`Conv '${node.name}': X and W are required`);
  const g = convGeometry(node, X.shape, Wt.shape);
  const act = fusedActivation(node);
  const linear = linearEpilogue(act);
  return { g, act, ...(linear ? { linear } : {}), residual: !!(node.inputs[3] && inputs[3]) };
}

/** The tuner's geometry key of a conv node (undefined: depthwise, nothing to choose). */
function convKeyOf(s: ConvSetup): string | undefined {
  if (s.g.C / s.g.group === 1 && s.g.group > 1) return undefined;
  return convTuneKey(s.g, s.linear ? 'lin' : `act:${s.act?.kind ?? 'none'}`, s.residual);
}

function buildConv(node: GraphNode, inputs: readonly (TensorArg | undefined)[], ctx: BuildContext, forced?: ConvVariant): KernelProgram {
  const Wt = inputs[1];
  const setup = convSetup(node, inputs);
  if (!Wt?.constant) throw new GraphError(`Conv '${node.name}': weights must be constant`);
  const { g, act, linear, residual } = setup;
  const key = forced ? undefined : convKeyOf(setup);
  const v = forced ?? (key !== undefined ? asConvVariant(ctx.variant?.(key)) : undefined) ?? chooseConvVariant(ctx.traits, g);
  const Cg = g.C / g.group; const Mg = g.M / g.group; const K = Cg * g.KH * g.KW;
  if (v.kind === 'depthwise' && Cg !== 1) throw new GraphError(`Conv '${node.name}': the depthwise kernel needs one input channel per group`);
  const B = node.inputs[2] ? inputs[2]?.constant : undefined;
  if (node.inputs[2] && !B) throw new GraphError(`Conv '${node.name}': bias must be constant`);
  if (B && B.data.length !== g.M) throw new GraphError(`Conv '${node.name}': bias has ${B.data.length} values, expected ${g.M}`);
  const pointwise = isPointwise(g);
  // Reduction tiling: tiled stages 16 rows per barrier, mm its own tk; slices are whole tiles.
  const tk = v.kind === 'mm' ? v.tk : 16;
  const kTiles = Math.ceil(K / tk);
  const { S, tilesPer } = v.kind === 'tiled' || v.kind === 'mm' ? splitSlices(kTiles, v.splitK) : { S: 1, tilesPer: kTiles };
  const kPer = tilesPer * tk;
  const split = S > 1;
  const Kp = v.kind === 'mm' ? kTiles * tk : K;
  const tm = v.kind === 'tiled' ? v.tm ?? 64 : v.kind === 'mm' ? v.tm : 64;
  const tn = v.kind === 'tiled' ? v.tn ?? 64 : v.kind === 'mm' ? v.tn : 64;
  // The epilogue options both kernel families share. With a uniform epilogue the residual binding
  // always exists (the bias stands in when unused).
  const epi = {
    residual: linear ? !split : residual && !split, act: split || linear ? undefined : act,
    ...(linear && !split ? { epilogue: 'uniform' as const } : {}),
  };
  const opts: ConvWgslOptions = {
    variant: v.kind === 'depthwise' ? 'depthwise' : v.kind === 'mm' ? 'tiled' : v.kind,
    pointwise: v.kind !== 'depthwise' && pointwise,
    pixels: v.kind === 'reg' ? v.pixels : 4,
    chan4: v.kind === 'reg' ? v.chan4 : 1,
    ...(v.kind === 'reg' && v.lanes ? { lanes: v.lanes } : {}),
    ...epi,
    ...(v.kind === 'tiled' ? { tileM: tm as 64 | 32, tileN: tn as 64 | 32 | 16, split } : {}),
  };
  // mm pads channels to whole tiles and the reduction to whole k-tiles, so its loads need no checks.
  const Mp = v.kind === 'mm' ? Math.ceil(Mg / v.tm) * v.tm : Math.ceil(Mg / 8) * 8;
  const f16 = v.kind === 'mm' && v.f16 === true;
  let wBuf: GPUBuffer;
  if (v.kind === 'depthwise') wBuf = ctx.constBuffer(Float32Array.from(Wt.constant.data), `Conv ${node.name}.W`);
  else {
    const packed = packConvWeights(Wt.constant.data, g.M, g.group, K, Mp, Kp);
    // Layouts differ per variant: the label keeps a model's weight cache from mixing them up.
    const label = v.kind === 'mm' ? `Conv ${node.name}.W.mm${Mp}x${Kp}${f16 ? '.f16' : ''}` : `Conv ${node.name}.W`;
    wBuf = ctx.constBuffer(f16 ? packF16AsF32(packed) : packed, label);
  }
  const bBuf = ctx.constBuffer(B ? Float32Array.from(B.data) : new Float32Array(g.M), `Conv ${node.name}.B`);
  const N = g.batch * g.OH * g.OW;
  const OWB = Math.ceil(g.OW / 4);
  const total = g.batch * g.M * g.OH * OWB;
  const outTotal = N * g.M;
  const uniform = packUniform([
    N, g.OH * g.OW, g.OW, g.OH, g.H, g.W, Cg, g.KH,
    g.KW, g.sH, g.sW, g.pT, g.pL, g.dH, g.dW, Mg,
    g.M, Mp / 4, K, g.C * g.H * g.W, g.H * g.W, OWB, total, residual ? 1 : 0,
    S, kPer, outTotal, Kp,
    { f32: linear?.[0] ?? 1 }, { f32: linear?.[1] ?? 0 }, { f32: linear?.[2] ?? 0 }, 0,
    ...fakeQuant(node, linear).map((f) => ({ f32: f })),
  ]);
  const max = ctx.traits.maxWorkgroupsPerDimension;
  let workgroups: [number, number, number];
  if (v.kind === 'depthwise') workgroups = grid1d(total, CONV_WG, max);
  else if (v.kind === 'reg' && v.lanes) workgroups = [Math.ceil(Mg / (v.chan4 * 4)), Math.ceil(N / (v.pixels * v.lanes)), g.group];
  else if (v.kind === 'reg') workgroups = [Math.ceil(N / (v.pixels * CONV_WG)), Math.ceil(Mg / (v.chan4 * 4)), g.group];
  else workgroups = [Math.ceil(N / tn), Math.ceil(Mg / tm), g.group * S];
  if (workgroups.some((n) => n > max)) throw new BatchTooLargeError(`Conv '${node.name}': output [${g.batch},${g.M},${g.OH},${g.OW}] exceeds the device's dispatch limits; use a smaller batch`);
  if (split && S * outTotal * 4 > ctx.traits.maxStorageBufferBindingSize) {
    throw new BatchTooLargeError(`Conv '${node.name}': ${S} split-K slices of [${g.batch},${g.M},${g.OH},${g.OW}] exceed the device's storage binding size`);
  }
  const input = convMmInput(g);
  const pipeline = ctx.pipeline(v.kind === 'mm'
    ? convMmWgsl({ tm: v.tm, tn: v.tn, rm: v.rm, rn: v.rn, tk: v.tk, input, split, f16, ...epi })
    : convWgsl(opts));
  const table: BindingRef[] = v.kind === 'mm' && input === 'gather'
    ? [{ buffer: ctx.constBuffer(convGatherTable(g, Kp), `Conv ${node.name}.ktab.${g.H}x${g.W}x${Kp}`) }] : [];
  if (!split) {
    const bindings: BindingRef[] = [{ input: 0 }, { buffer: wBuf }, { buffer: bBuf }, { output: 0 }, { uniform }];
    if (residual) bindings.push({ input: 3 });
    else if (linear) bindings.push({ buffer: bBuf });
    bindings.push(...table);
    return { dispatches: [{ label: `Conv ${node.name}`, pipeline, bindings, workgroups }] };
  }
  const reduce = ctx.pipeline(convWgsl(linear
    ? { ...opts, variant: 'reduce', residual: true, act: undefined, epilogue: 'uniform' }
    : { ...opts, variant: 'reduce', residual, act }));
  const rBindings: BindingRef[] = [{ scratch: 0 }, { buffer: bBuf }, { output: 0 }, { uniform }];
  if (residual) rBindings.push({ input: 3 });
  else if (linear) rBindings.push({ buffer: bBuf });
  return {
    dispatches: [
      { label: `Conv ${node.name} (split-K ${S})`, pipeline, bindings: [{ input: 0 }, { buffer: wBuf }, { scratch: 0 }, { uniform }, ...table], workgroups },
      { label: `Conv ${node.name} (reduce)`, pipeline: reduce, bindings: rBindings, workgroups: grid1d(outTotal, CONV_REDUCE_WG, max) },
    ],
    scratchBytes: [S * outTotal * 4],
  };
}

/**
 * Picks the input-gradient kernel. The gradient is a GEMM with rows = input channels of a group,
 * so the same rules as the forward chooser apply with Cg in place of Mg.
 */
export function chooseConvGradVariant(traits: AdapterTraits, g: ConvGeometry): Exclude<ConvVariant, { kind: 'mm' }> {
  const Cg = g.C / g.group;
  if (Cg === 1 && g.group > 1) return { kind: 'depthwise' };
  const tiledFits = traits.maxWorkgroupInvocations >= 256 && traits.maxWorkgroupSizeX >= 16 && traits.maxWorkgroupStorageBytes >= TILED_SHARED_BYTES;
  if (!traits.isSoftware && tiledFits && Cg >= 16) return { kind: 'tiled' };
  return { kind: 'reg', pixels: isPointwise(g) && Cg >= 8 ? 8 : 4, chan4: Cg >= 8 ? 2 : 1 };
}

function isPointwise(g: ConvGeometry): boolean {
  return isPointwiseGeometry(g);
}

/**
 * Re-lays [M][Cg][KH][KW] weights for the input gradient as [group][kh*KW+kw][Mg][Cgp], input
 * channels zero-padded to Cgp, so the gradient kernel reads four input channels per vec4.
 */
export function packConvGradWeights(w: Float32Array | Float64Array, M: number, C: number, group: number, KHW: number, Cgp: number): Float32Array {
  const Mg = M / group; const Cg = C / group;
  const out = new Float32Array(Math.max(4, group * KHW * Mg * Cgp));
  for (let oc = 0; oc < M; oc++) {
    const g = Math.floor(oc / Mg); const m = oc - g * Mg;
    for (let c = 0; c < Cg; c++) {
      for (let r = 0; r < KHW; r++) out[((g * KHW + r) * Mg + m) * Cgp + c] = w[(oc * Cg + c) * KHW + r]!;
    }
  }
  return out;
}

/** dX += the transposed convolution of dY (gradOutput 0) with the weights; see wgsl/conv2d-grad.ts. */
function buildConvGrad(node: GraphNode, inputs: readonly (TensorArg | undefined)[], ctx: BuildContext, forced?: ConvVariant): KernelProgram {
  const X = inputs[0]; const Wt = inputs[1];
  if (!X || !Wt) throw new GraphError(`Conv '${node.name}': X and W are required`);
  if (!Wt.constant) throw new GraphError(`Conv '${node.name}': weights must be constant`);
  const g = convGeometry(node, X.shape, Wt.shape);
  // The gradient kernel has no subgroup form, at most 8 channels per invocation and no mm form:
  // other forced variants fall back to the chooser (gradients are not tuned).
  const v = forced && forced.kind !== 'mm' && !(forced.kind === 'reg' && (forced.lanes || forced.chan4 > 2)) ? forced : chooseConvGradVariant(ctx.traits, g);
  const Cg = g.C / g.group; const Mg = g.M / g.group; const KHW = g.KH * g.KW;
  if (v.kind === 'depthwise' && Cg !== 1) throw new GraphError(`Conv '${node.name}': the depthwise gradient kernel needs one input channel per group`);
  const Cgp = Math.ceil(Cg / 8) * 8;
  const wData = v.kind === 'depthwise' ? Float32Array.from(Wt.constant.data) : packConvGradWeights(Wt.constant.data, g.M, g.C, g.group, KHW, Cgp);
  const wBuf = ctx.constBuffer(wData, `${node.name}:wT`);
  const N = g.batch * g.H * g.W;
  const WB = Math.ceil(g.W / 4);
  const total = g.batch * g.C * g.H * WB;
  const OP = g.OH * g.OW;
  const uniform = packUniform([
    N, g.H * g.W, g.W, g.H, g.OW, g.OH, OP, Mg,
    g.KH, g.KW, g.sH, g.sW, g.pT, g.pL, g.dH, g.dW,
    Cg, g.C, Cgp / 4, KHW, g.M * OP, g.C * g.H * g.W, total, WB,
  ]);
  const max = ctx.traits.maxWorkgroupsPerDimension;
  let workgroups: [number, number, number];
  if (v.kind === 'depthwise') workgroups = grid1d(total, CONV_GRAD_WG, max);
  else if (v.kind === 'reg') workgroups = [Math.ceil(N / (v.pixels * CONV_GRAD_WG)), Math.ceil(Cg / (v.chan4 * 4)), g.group];
  else workgroups = [Math.ceil(N / 64), Math.ceil(Cg / 64), g.group];
  if (workgroups.some((n) => n > max)) throw new BatchTooLargeError(`Conv '${node.name}': input gradient [${g.batch},${g.C},${g.H},${g.W}] exceeds the device's dispatch limits; use a smaller batch`);
  const pipeline = ctx.pipeline(convGradWgsl({
    variant: v.kind,
    pointwise: v.kind !== 'depthwise' && isPointwise(g),
    pixels: v.kind === 'reg' ? v.pixels : 4,
    chan4: v.kind !== 'reg' || v.chan4 === 1 ? 1 : 2,
  }));
  return { dispatches: [{ label: `ConvGrad ${node.name}`, pipeline, bindings: [{ gradOutput: 0 }, { buffer: wBuf }, { gradInput: 0 }, { uniform }], workgroups }] };
}

/**
 * The tuner's view of Conv: one key per geometry and epilogue class, the candidates of
 * kernels/conv-tune.ts after the static choice.
 */
export const convTune: TuneSpec = {
  key(node, inputs, _outputs, traits) {
    const s = convSetup(node, inputs);
    const key = convKeyOf(s);
    if (key === undefined) return undefined;
    // Nothing to choose when even the f16-inclusive list has one entry.
    return convCandidates(s.g, traits, { f16: traits.hasF16 }, chooseConvVariant(traits, s.g)).length > 1 ? key : undefined;
  },
  candidates(node, inputs, _outputs, traits, opts) {
    const s = convSetup(node, inputs);
    return convCandidates(s.g, traits, opts, chooseConvVariant(traits, s.g));
  },
  describe(v) {
    const c = asConvVariant(v);
    return c ? describeConvVariant(c) : JSON.stringify(v);
  },
};

/**
 * Conv with an optional forced kernel variant (tests, benchmarks); it applies to backward where the
 * gradient kernel has that form. Only the unforced op is tunable.
 */
export function convOpWith(forced?: ConvVariant): OpDef {
  return {
    ...(forced ? {} : { tune: convTune }),
    opTypes: ['Conv'],
    schema: CONV_SCHEMA,
    hostInputs: () => [1, 2],
    inferShapes: (node, inputs) => {
      const X = inputs[0]; const Wt = inputs[1];
      if (!X || !Wt) throw new GraphError(`Conv '${node.name}': X and W are required`);
      const B = node.inputs[2] ? inputs[2] : undefined;
      if (B && (B.shape.length !== 1 || B.shape[0] !== Wt.shape[0])) {
        throw new GraphError(`Conv '${node.name}': bias B has shape [${B.shape.join(',')}], must be [${Wt.shape[0]}] (one value per output channel)`);
      }
      return [convGeometry(node, X.shape, Wt.shape).outShape];
    },
    build: (node, inputs, _outputs, ctx) => buildConv(node, inputs, ctx, forced),
    backward: (node, inputs, _outputs, ctx, wants) => (wants[0] ? buildConvGrad(node, inputs, ctx, forced) : { dispatches: [] }),
  };
}

/** ONNX Conv, 1-D and 2-D, with groups, fused activation and residual. */
export const convOp: OpDef = convOpWith();
