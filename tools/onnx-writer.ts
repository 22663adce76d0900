/**
 * A small typed builder for ONNX ModelProto bytes, for tests and benchmarks: build a graph node by
 * node, add initializers (seeded random weights), encode with the protobufjs code generated from
 * the current onnx.proto (tools/onnx-pb/, with encoders; the library ships a decode-only copy).
 */
import { onnx } from './onnx-pb/onnx.js';
import type { onnx as OnnxTypes } from './onnx-pb/onnx.js';

export { onnx };
export type { OnnxTypes };

/** ONNX TensorProto.DataType codes used here. */
export const DataType = {
  FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9,
  FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13,
} as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** Dimension of a graph input/output: a number, or a string for a symbolic dimension ('N'). */
export type Dim = number | string;

export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Int8Array | Uint8Array | Uint16Array | Int16Array;

export interface TensorOptions {
  /** Override the data type inferred from the array (e.g. FLOAT16 for a Uint16Array of fp16 bits). */
  dataType?: DataTypeCode;
  /** Store as raw_data bytes (what exporters do, default) or in the typed *_data fields. */
  raw?: boolean;
}

/** A tensor value (for initializers, Constant nodes and tensor attributes). */
export interface TensorValue {
  dims: readonly number[];
  data: TensorData;
  dataType?: DataTypeCode;
}

// ---------------------------------------------------------------------------------------------
// Attributes

/** An explicitly typed attribute value. */
export type TypedAttr =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'string'; value: string }
  | { kind: 'strings'; value: readonly string[] }
  | { kind: 'tensor'; value: TensorValue };

/**
 * An attribute as passed to `node()`. Plain values are inferred: an integer number -> INT, a
 * non-integer -> FLOAT, a number[] -> INTS if every element is an integer else FLOATS, a string ->
 * STRING, string[] -> STRINGS, a TensorValue -> TENSOR. Use `A.float(1)` / `A.floats([1, 2])` where a
 * float attribute has an integral value (Gemm alpha=1.0, Clip min=0 before opset 11, ...).
 */
export type AttrInput = number | readonly number[] | string | readonly string[] | TensorValue | TypedAttr;
export type Attrs = Record<string, AttrInput | undefined>;

/** Explicit attribute constructors. */
export const A = {
  int: (value: number): TypedAttr => ({ kind: 'int', value }),
  float: (value: number): TypedAttr => ({ kind: 'float', value }),
  ints: (value: readonly number[]): TypedAttr => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): TypedAttr => ({ kind: 'floats', value }),
  string: (value: string): TypedAttr => ({ kind: 'string', value }),
  strings: (value: readonly string[]): TypedAttr => ({ kind: 'strings', value }),
  tensor: (value: TensorValue): TypedAttr => ({ kind: 'tensor', value }),
};

function isTyped(v: AttrInput): v is TypedAttr {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'kind' in v;
}

function isTensorValue(v: AttrInput): v is TensorValue {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'dims' in v && 'data' in v;
}

function toTyped(v: AttrInput): TypedAttr {
  if (isTyped(v)) return v;
  if (isTensorValue(v)) return { kind: 'tensor', value: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { kind: 'int', value: v } : { kind: 'float', value: v };
  if (typeof v === 'string') return { kind: 'string', value: v };
  const arr = v as readonly (number | string)[];
  if (arr.length > 0 && typeof arr[0] === 'string') return { kind: 'strings', value: arr as readonly string[] };
  const nums = arr as readonly number[];
  return nums.every((x) => Number.isInteger(x)) ? { kind: 'ints', value: nums } : { kind: 'floats', value: nums };
}

const enc = new TextEncoder();

export function makeAttribute(name: string, v: AttrInput): OnnxTypes.AttributeProto {
  const t = toTyped(v);
  const AT = onnx.AttributeProto.AttributeType;
  const a = new onnx.AttributeProto({ name });
  switch (t.kind) {
    case 'int': a.type = AT.INT; a.i = t.value; break;
    case 'float': a.type = AT.FLOAT; a.f = t.value; break;
    case 'ints': a.type = AT.INTS; a.ints = [...t.value]; break;
    case 'floats': a.type = AT.FLOATS; a.floats = [...t.value]; break;
    case 'string': a.type = AT.STRING; a.s = enc.encode(t.value); break;
    case 'strings': a.type = AT.STRINGS; a.strings = t.value.map((s) => enc.encode(s)); break;
    case 'tensor': a.type = AT.TENSOR; a.t = makeTensor('', t.value.dims, t.value.data, { dataType: t.value.dataType }); break;
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// Tensors

function inferDataType(data: TensorData): DataTypeCode {
  if (data instanceof Float32Array) return DataType.FLOAT;
  if (data instanceof Float64Array) return DataType.DOUBLE;
  if (data instanceof Int32Array) return DataType.INT32;
  if (data instanceof BigInt64Array) return DataType.INT64;
  if (data instanceof Int8Array) return DataType.INT8;
  if (data instanceof Uint8Array) return DataType.UINT8;
  if (data instanceof Uint16Array) return DataType.UINT16;
  return DataType.INT16;
}

/** Little-endian bytes of a typed array (copied, so the proto owns them). */
function bytesOf(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
}

/** Build a TensorProto. `dims.product` must equal `data.length` (not checked: fuzzers want lies). */
export function makeTensor(name: string, dims: readonly number[], data: TensorData, opts: TensorOptions = {}): OnnxTypes.TensorProto {
  const dataType = opts.dataType ?? inferDataType(data);
  const t = new onnx.TensorProto({ name, dims: [...dims], dataType });
  if (opts.raw ?? true) {
    t.rawData = bytesOf(data);
  } else if (dataType === DataType.FLOAT) {
    t.floatData = Array.from(data as Float32Array);
  } else if (dataType === DataType.DOUBLE) {
    t.doubleData = Array.from(data as Float64Array);
  } else if (dataType === DataType.INT64) {
    t.int64Data = Array.from(data as BigInt64Array, (x) => Number(x));
  } else {
    // INT32, INT16, INT8, UINT8, UINT16, FLOAT16 (bits), BOOL: all go to int32_data.
    t.int32Data = Array.from(data as ArrayLike<number>);
  }
  return t;
}

/** int64 tensor data from plain numbers. */
export function int64s(values: readonly number[]): BigInt64Array {
  return BigInt64Array.from(values, (x) => BigInt(x));
}

/** Round-to-nearest-even float32 -> IEEE half bits (for fp16 initializers). */
export function toFloat16Bits(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < src.length; i++) {
    f[0] = src[i]!;
    const x = u[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    let h: number;
    if (exp === 0xff) {
      h = sign | 0x7c00 | (mant ? 0x200 : 0);
    } else {
      const e = exp - 127 + 15;
      if (e >= 0x1f) h = sign | 0x7c00;
      else if (e <= 0) {
        if (e < -10) h = sign;
        else {
          mant |= 0x800000;
          const shift = 14 - e;
          let hm = mant >>> shift;
          const rem = mant & ((1 << shift) - 1);
          const half = 1 << (shift - 1);
          if (rem > half || (rem === half && (hm & 1))) hm++;
          h = sign | hm;
        }
      } else {
        let hm = mant >>> 13;
        const rem = mant & 0x1fff;
        let he = e;
        if (rem > 0x1000 || (rem === 0x1000 && (hm & 1))) {
          hm++;
          if (hm === 0x400) { hm = 0; he++; }
        }
        h = he >= 0x1f ? sign | 0x7c00 : sign | (he << 10) | hm;
      }
    }
    out[i] = h;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Seeded random numbers

/** mulberry32 uniform generator with Box-Muller normals. Deterministic for a given seed. */
export class Rng {
  private s: number;
  private spare: number | undefined;
  constructor(seed: number) { this.s = (seed >>> 0) ^ 0x9e3779b9; }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(lo: number, hi: number): number { return lo + (hi - lo) * this.next(); }
  /** Integer in [0, n). */
  int(n: number): number { return Math.floor(this.next() * n); }
  normal(): number {
    if (this.spare !== undefined) { const v = this.spare; this.spare = undefined; return v; }
    let u = 0;
    while (u <= 1e-12) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]!; }
}

export function randNormal(rng: Rng, n: number, std = 1, mean = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = mean + std * rng.normal();
  return out;
}

export function randUniform(rng: Rng, n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.uniform(lo, hi);
  return out;
}

/**
 * He (Kaiming-normal) weights: N(0, gain^2 / fanIn). With gain sqrt(2) a conv after ReLU keeps the
 * activations' second moment about constant through depth; use gain 1 for a linear layer (no
 * ReLU before it) such as a logits head.
 */
export function heWeights(rng: Rng, shape: readonly number[], fanIn: number, gain = Math.SQRT2): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  return randNormal(rng, n, gain / Math.sqrt(Math.max(1, fanIn)));
}

// ---------------------------------------------------------------------------------------------
// Graph builder

export interface ModelOptions {
  producerName?: string;
  irVersion?: number;
  docString?: string;
  /** Extra opset imports, e.g. { 'com.microsoft': 1 }. */
  extraOpsets?: Record<string, number>;
}

/** The IR version an exporter would pair with an opset. */
export function irVersionFor(opset: number): number {
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  if (opset >= 15) return 8;
  if (opset >= 12) return 7;
  if (opset >= 11) return 6;
  if (opset >= 10) return 5;
  if (opset >= 9) return 4;
  return 3;
}

export class GraphBuilder {
  readonly nodes: OnnxTypes.NodeProto[] = [];
  readonly inputs: OnnxTypes.ValueInfoProto[] = [];
  readonly outputs: OnnxTypes.ValueInfoProto[] = [];
  readonly initializers: OnnxTypes.TensorProto[] = [];
  readonly valueInfos: OnnxTypes.ValueInfoProto[] = [];
  private readonly used = new Set<string>();
  private readonly counters = new Map<string, number>();

  constructor(readonly name: string, readonly opset = 13) {}

  /** A fresh value/node name `prefix_k` not used so far. */
  fresh(prefix: string): string {
    let k = this.counters.get(prefix) ?? 0;
    let n: string;
    do { n = `${prefix}_${k++}`; } while (this.used.has(n));
    this.counters.set(prefix, k);
    this.used.add(n);
    return n;
  }

  private claim(name: string): string { this.used.add(name); return name; }

  /** Declare a graph input. Returns its name. */
  input(name: string, dims: readonly Dim[], elemType: DataTypeCode = DataType.FLOAT): string {
    this.inputs.push(makeValueInfo(this.claim(name), dims, elemType));
    return name;
  }

  /** Declare a graph output (of an existing value). dims undefined = no shape recorded. */
  output(name: string, dims?: readonly Dim[], elemType: DataTypeCode = DataType.FLOAT): string {
    this.outputs.push(makeValueInfo(name, dims, elemType));
    return name;
  }

  /** Record an intermediate value's type/shape in graph.value_info. */
  valueInfo(name: string, dims?: readonly Dim[], elemType: DataTypeCode = DataType.FLOAT): void {
    this.valueInfos.push(makeValueInfo(name, dims, elemType));
  }

  /** Add an initializer. Returns its name (a `name` ending in '*' gets a fresh suffix). */
  initializer(name: string, shape: readonly number[], data: TensorData, opts?: TensorOptions): string {
    const n = name.endsWith('*') ? this.fresh(name.slice(0, -1)) : this.claim(name);
    this.initializers.push(makeTensor(n, shape, data, opts));
    return n;
  }

  /** An int64 initializer from numbers (shapes, axes, indices). */
  int64Initializer(name: string, shape: readonly number[], values: readonly number[]): string {
    return this.initializer(name, shape, int64s(values));
  }

  /**
   * Add a node. `outputs`: names, or a count of fresh names (default 1). Attributes with value
   * undefined are skipped. Returns the output names.
   */
  node(opType: string, inputs: readonly string[], outputs: readonly string[] | number = 1, attrs: Attrs = {}, opts: { name?: string; domain?: string } = {}): string[] {
    const outs = typeof outputs === 'number'
      ? Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase()))
      : outputs.map((o) => this.claim(o));
    const attribute: OnnxTypes.AttributeProto[] = [];
    for (const [k, v] of Object.entries(attrs)) if (v !== undefined) attribute.push(makeAttribute(k, v));
    this.nodes.push(new onnx.NodeProto({
      name: opts.name ?? this.fresh(`${opType}_node`),
      opType, domain: opts.domain ?? '', input: [...inputs], output: outs, attribute,
    }));
    return outs;
  }

  /** `node()` with one fresh output, returned as a string. */
  op(opType: string, inputs: readonly string[], attrs: Attrs = {}): string {
    return this.node(opType, inputs, 1, attrs)[0]!;
  }

  /** A Constant node holding `value`. Returns its output name. */
  constant(value: TensorValue, name?: string): string {
    const out = name ?? this.fresh('const');
    this.node('Constant', [], [out], { value: A.tensor(value) });
    return out;
  }

  toModel(opts: ModelOptions = {}): OnnxTypes.ModelProto {
    const graph = new onnx.GraphProto({
      name: this.name, node: this.nodes, input: this.inputs, output: this.outputs,
      initializer: this.initializers, valueInfo: this.valueInfos,
    });
    const opsetImport = [new onnx.OperatorSetIdProto({ domain: '', version: this.opset })];
    for (const [domain, version] of Object.entries(opts.extraOpsets ?? {})) opsetImport.push(new onnx.OperatorSetIdProto({ domain, version }));
    return new onnx.ModelProto({
      irVersion: opts.irVersion ?? irVersionFor(this.opset),
      producerName: opts.producerName ?? 'webgpu-xai-onnx-writer',
      producerVersion: '0.1',
      docString: opts.docString ?? '',
      graph, opsetImport,
    });
  }

  /** Encoded ModelProto: a plain Uint8Array owning its ArrayBuffer (not a pooled Node Buffer). */
  toBytes(opts?: ModelOptions): Uint8Array {
    return encodeModel(this.toModel(opts));
  }
}

export function makeValueInfo(name: string, dims: readonly Dim[] | undefined, elemType: DataTypeCode = DataType.FLOAT): OnnxTypes.ValueInfoProto {
  const tensorType = new onnx.TypeProto.Tensor({ elemType });
  if (dims) {
    tensorType.shape = new onnx.TensorShapeProto({
      dim: dims.map((d) => new onnx.TensorShapeProto.Dimension(typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
    });
  }
  return new onnx.ValueInfoProto({ name, type: new onnx.TypeProto({ tensorType }) });
}

/** Decode model bytes (for tests that inspect or mutate a model). */
export function decodeModel(bytes: Uint8Array): OnnxTypes.ModelProto {
  return onnx.ModelProto.decode(bytes);
}

/**
 * Encode a ModelProto. protobufjs returns a Node Buffer (whose `slice` is a view, and which may sit
 * in a shared pool); this copies it into a plain Uint8Array with byteOffset 0.
 */
export function encodeModel(model: OnnxTypes.ModelProto): Uint8Array {
  return new Uint8Array(onnx.ModelProto.encode(model).finish());
}
