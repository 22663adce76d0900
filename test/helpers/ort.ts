/**
 * onnxruntime-node reference runs (CPU execution provider) and logit comparison.
 *
 * onnxruntime-node was installed with scripts skipped; that only skips the optional CUDA/TensorRT
 * download. The CPU binding ships in the package (bin/napi-v6/linux/x64) and loads fine.
 */
import * as ort from 'onnxruntime-node';

export { ort };

export interface OrtTensorOut {
  name: string;
  dims: number[];
  data: Float32Array;
}

/** A float32 feed: data plus dims. */
export interface Feed {
  dims: readonly number[];
  data: Float32Array;
}

export interface OrtOptions {
  /** Default 'all'. 'disabled' runs the graph as written (no fusions), for exact op semantics. */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Default 1: the machine is shared. */
  intraOpNumThreads?: number;
}

export async function createOrtSession(model: Uint8Array, opts: OrtOptions = {}): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: opts.graphOptimizationLevel ?? 'all',
    intraOpNumThreads: opts.intraOpNumThreads ?? 1,
    interOpNumThreads: 1,
  });
}

function toFloat32(t: ort.Tensor): Float32Array {
  const d = t.data as unknown;
  if (d instanceof Float32Array) return new Float32Array(d);
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Float32Array.from(d, (x) => Number(x));
  if (t.type === 'float16' && d instanceof Uint16Array) return Float32Array.from(d, halfToFloat);
  if (ArrayBuffer.isView(d)) return Float32Array.from(d as unknown as ArrayLike<number>);
  if (Array.isArray(d)) return Float32Array.from(d as unknown[], (x) => Number(x));
  throw new Error(`ORT output of type ${t.type} cannot be converted to float32`);
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Run a model (bytes or an existing session). `feeds` maps input names to float32 tensors; a bare
 * Feed is given to the first graph input. Returns every graph output (or `outputNames`), in the
 * session's output order, converted to Float32Array.
 */
export async function runOrt(
  model: Uint8Array | ort.InferenceSession,
  feeds: Record<string, Feed> | Feed,
  opts: OrtOptions & { outputNames?: string[] } = {},
): Promise<OrtTensorOut[]> {
  const session = model instanceof Uint8Array ? await createOrtSession(model, opts) : model;
  const named: Record<string, Feed> = isFeed(feeds) ? { [session.inputNames[0]!]: feeds } : feeds;
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [k, f] of Object.entries(named)) ortFeeds[k] = new ort.Tensor('float32', f.data, [...f.dims]);
  const names = opts.outputNames ?? [...session.outputNames];
  const res = await session.run(ortFeeds, names);
  const out = names.map((name) => {
    const t = res[name]!;
    return { name, dims: [...t.dims], data: toFloat32(t) };
  });
  if (model instanceof Uint8Array) await session.release();
  return out;
}

function isFeed(x: Record<string, Feed> | Feed): x is Feed {
  return 'dims' in x && 'data' in x && (x as Feed).data instanceof Float32Array;
}

export interface LogitComparison {
  /** max |a - b| / max |b| over all elements. */
  maxRelErr: number;
  maxAbsErr: number;
  /** max |b| (the scale the relative error uses). */
  scale: number;
  /** Every row's top-5 class sets agree (order ignored). */
  top5Agree: boolean;
  /** Every row's top-5 lists agree in order. */
  top5SameOrder: boolean;
  top1Agree: boolean;
  /** Per row: top-5 of a and of b. */
  top5: { a: number[]; b: number[] }[];
}

export function topK(x: ArrayLike<number>, k: number, start = 0, len = x.length - start): number[] {
  const idx = Array.from({ length: len }, (_, i) => i);
  idx.sort((i, j) => (x[start + j]! - x[start + i]!) || i - j);
  return idx.slice(0, Math.min(k, len));
}

/**
 * Compare logits `a` (ours) with reference `b`. `numClasses` splits the arrays into rows
 * ([N, C] logits); default one row. Relative error is relative to max |b|.
 */
export function compareLogits(a: ArrayLike<number>, b: ArrayLike<number>, numClasses = b.length): LogitComparison {
  if (a.length !== b.length) throw new Error(`compareLogits: length ${a.length} vs ${b.length}`);
  let scale = 0;
  let maxAbsErr = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    const e = Math.abs(a[i]! - b[i]!);
    maxAbsErr = Number.isNaN(e) ? Infinity : Math.max(maxAbsErr, e);
  }
  const rows = Math.max(1, Math.floor(b.length / numClasses));
  const top5: { a: number[]; b: number[] }[] = [];
  let top5Agree = true;
  let top5SameOrder = true;
  let top1Agree = true;
  for (let r = 0; r < rows; r++) {
    const ta = topK(a, 5, r * numClasses, numClasses);
    const tb = topK(b, 5, r * numClasses, numClasses);
    top5.push({ a: ta, b: tb });
    const sb = new Set(tb);
    if (!ta.every((i) => sb.has(i))) top5Agree = false;
    if (ta.some((v, i) => v !== tb[i])) top5SameOrder = false;
    if (ta[0] !== tb[0]) top1Agree = false;
  }
  const maxRelErr = scale > 0 ? maxAbsErr / scale : maxAbsErr === 0 ? 0 : Infinity;
  return { maxRelErr, maxAbsErr, scale, top5Agree, top5SameOrder, top1Agree, top5 };
}

/** Seeded N(0,1)-ish random input (mulberry32 + Box-Muller), e.g. for [N,3,H,W]. */
export function randomInput(dims: readonly number[], seed = 1, std = 1): Feed {
  const n = dims.reduce((x, y) => x * y, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0;
  const u = () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  for (let i = 0; i < n; i++) data[i] = std * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return { dims: [...dims], data };
}
