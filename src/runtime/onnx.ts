/**
 * ONNX decoding: protobuf bytes to the runtime's Graph. Every initializer storage form the format
 * allows (raw_data or typed fields) is read; float16/bfloat16/float64 widen to float32, integers are
 * held exactly as float64. Anything malformed becomes a ModelFormatError, never a crash.
 */
import { onnx } from './onnx-pb/onnx.js';
import type { AttrValue, Graph, GraphNode, ValueInfo } from './graph.js';
import { halfToFloat, sizeOf, type DType, type HostTensor } from './tensor.js';
import { ModelFormatError } from './errors.js';
import { externalBytes, type ExternalDataSource } from './external-data.js';

/** A decoded TensorProto (initializers, tensor attributes); its externalData/dataLocation say where weights stored outside the file live. */
export type TensorProto = onnx.ITensorProto;

const DTYPES: Record<number, DType> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64',
  9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 16: 'bfloat16',
};

export function dtypeOf(code: number | null | undefined): DType {
  const d = DTYPES[code ?? 0];
  if (!d) throw new ModelFormatError(`unsupported tensor element type ${code}`);
  return d;
}

/** int64 fields decode as numbers (the generated code is built with --force-number); bigint and Long are accepted too. */
function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object' && 'toNumber' in v) return (v as { toNumber(): number }).toNumber();
  return Number(v);
}

const BYTES: Record<DType, number> = {
  float32: 4, float16: 2, bfloat16: 2, float64: 8, int64: 8, int32: 4, int16: 2, int8: 1,
  uint8: 1, uint16: 2, uint32: 4, uint64: 8, bool: 1,
};

/** Decodes a TensorProto into a HostTensor; external data is read from `external`. */
export function tensorFromProto(t: TensorProto, external?: ExternalDataSource): HostTensor {
  const dtype = dtypeOf(t.dataType);
  const shape = (t.dims ?? []).map(num);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new ModelFormatError(`tensor '${t.name}' has invalid dims [${shape.join(',')}]`);
  const n = sizeOf(shape);
  const isFloat = dtype === 'float32' || dtype === 'float16' || dtype === 'float64' || dtype === 'bfloat16';
  const raw = t.dataLocation === 1 || (t.externalData?.length ?? 0) > 0 ? externalBytes(t.name ?? '', t.externalData ?? [], external, n * BYTES[dtype]) : t.rawData;
  // Check the stored size before allocating, so a lying dims field cannot ask for gigabytes.
  const stored = raw && raw.length > 0 ? Math.floor(raw.length / BYTES[dtype]) : storedCount(t, dtype);
  if (stored < n) throw new ModelFormatError(`tensor '${t.name}' holds ${stored} values, shape [${shape.join(',')}] ${dtype} needs ${n}`);
  if (raw && raw.length > 0 && raw.length !== n * BYTES[dtype]) {
    throw new ModelFormatError(`tensor '${t.name}' has ${raw.length} bytes of raw_data, shape [${shape.join(',')}] ${dtype} needs exactly ${n * BYTES[dtype]}`);
  }
  const out = isFloat ? new Float32Array(n) : new Float64Array(n);
  if (raw && raw.length > 0) {
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
    for (let i = 0; i < n; i++) out[i] = readRaw(dv, dtype, i);
    return { dtype: isFloat ? 'float32' : dtype, shape, data: out };
  }
  let src: ArrayLike<unknown>;
  switch (dtype) {
    case 'float32': src = t.floatData ?? []; break;
    case 'float64': src = t.doubleData ?? []; break;
    case 'int64': src = t.int64Data ?? []; break;
    case 'uint32': case 'uint64': src = t.uint64Data ?? []; break;
    default: src = t.int32Data ?? []; // int32, int16, int8, uint8, uint16, bool, float16 bits, bfloat16 bits
  }
  if (src.length !== n) throw new ModelFormatError(`tensor '${t.name}' has ${src.length} values, shape [${shape.join(',')}] needs ${n}`);
  for (let i = 0; i < n; i++) {
    const v = num(src[i]);
    out[i] = dtype === 'float16' ? halfToFloat(v) : dtype === 'bfloat16' ? bf16ToFloat(v) : v;
  }
  return { dtype: isFloat ? 'float32' : dtype, shape, data: out };
}

function storedCount(t: TensorProto, dtype: DType): number {
  switch (dtype) {
    case 'float32': return t.floatData?.length ?? 0;
    case 'float64': return t.doubleData?.length ?? 0;
    case 'int64': return t.int64Data?.length ?? 0;
    case 'uint32': case 'uint64': return t.uint64Data?.length ?? 0;
    default: return t.int32Data?.length ?? 0;
  }
}

function bf16ToFloat(bits: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setUint32(0, (bits & 0xffff) << 16, false);
  return dv.getFloat32(0, false);
}

function readRaw(dv: DataView, dtype: DType, i: number): number {
  switch (dtype) {
    case 'float32': return dv.getFloat32(i * 4, true);
    case 'float16': return halfToFloat(dv.getUint16(i * 2, true));
    case 'bfloat16': return bf16ToFloat(dv.getUint16(i * 2, true));
    case 'float64': return dv.getFloat64(i * 8, true);
    case 'int64': return Number(dv.getBigInt64(i * 8, true));
    case 'uint64': return Number(dv.getBigUint64(i * 8, true));
    case 'int32': return dv.getInt32(i * 4, true);
    case 'uint32': return dv.getUint32(i * 4, true);
    case 'int16': return dv.getInt16(i * 2, true);
    case 'uint16': return dv.getUint16(i * 2, true);
    case 'int8': return dv.getInt8(i);
    case 'uint8': case 'bool': return dv.getUint8(i);
  }
}

const utf8 = new TextDecoder();

type AttrKind = NonNullable<GraphNode['attrTypes']>[string];

/** The attribute's value (undefined for kinds no op reads) and its declared type. */
function attrValue(a: onnx.IAttributeProto): [AttrValue | undefined, AttrKind] {
  const T = onnx.AttributeProto.AttributeType;
  let type = a.type ?? 0;
  if (!type) {
    // Very old exporters omit the type; infer it from the populated field.
    if (a.ints?.length) type = T.INTS; else if (a.floats?.length) type = T.FLOATS; else if (a.t) type = T.TENSOR;
    else if (a.s?.length) type = T.STRING; else if (a.strings?.length) type = T.STRINGS; else if (a.f) type = T.FLOAT; else type = T.INT;
  }
  switch (type) {
    case T.FLOAT: return [a.f ?? 0, 'float'];
    case T.INT: return [num(a.i ?? 0), 'int'];
    case T.STRING: return [utf8.decode(a.s ?? new Uint8Array()), 'string'];
    case T.TENSOR: return [a.t ? tensorFromProto(a.t) : undefined, 'tensor'];
    case T.FLOATS: return [(a.floats ?? []).map(Number), 'floats'];
    case T.INTS: return [(a.ints ?? []).map(num), 'ints'];
    case T.STRINGS: return [(a.strings ?? []).map((s) => utf8.decode(s)), 'strings'];
    default: return [undefined, 'other']; // graphs, sparse tensors, type protos: no supported op uses them
  }
}

function valueInfo(v: onnx.IValueInfoProto): ValueInfo {
  const tt = v.type?.tensorType;
  const dims = tt?.shape?.dim ?? [];
  return {
    name: v.name ?? '',
    dtype: tt?.elemType ? dtypeOf(tt.elemType) : 'float32',
    shape: dims.map((d, i) => (d.dimValue !== undefined && d.dimValue !== null && num(d.dimValue) > 0 ? num(d.dimValue) : d.dimParam || `d${i}`)),
  };
}

/** Decodes ONNX ModelProto bytes. Throws ModelFormatError for anything that is not a usable model. */
export function decodeOnnx(bytes: Uint8Array, external?: ExternalDataSource): Graph {
  let model: InstanceType<typeof onnx.ModelProto>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new ModelFormatError(`not a valid ONNX file (${(e as Error).message}); is it truncated or corrupted?`, { cause: e });
  }
  const g = model.graph;
  if (!g || !g.node || g.node.length === 0) throw new ModelFormatError('the ONNX file holds no graph (no nodes): is it an ONNX model?');
  let opset = 0;
  for (const o of model.opsetImport ?? []) if (!o.domain || o.domain === 'ai.onnx') opset = num(o.version);
  if (!opset) opset = 7;
  // Contrib domains (com.microsoft) have their own versions; a node's `_opset` is its domain's.
  const domainOpsets = new Map((model.opsetImport ?? []).filter((o) => o.domain && o.domain !== 'ai.onnx').map((o) => [o.domain!, num(o.version)]));
  try {
    const initializers = new Map<string, HostTensor>();
    for (const t of g.initializer ?? []) initializers.set(t.name ?? '', tensorFromProto(t, external));
    const used = new Set<string>();
    const nodes: GraphNode[] = g.node.map((n, i) => {
      let name = n.name || `${n.opType ?? 'node'}_${i}`;
      if (used.has(name)) name = `${name}_${i}`;
      used.add(name);
      const attrs: Record<string, AttrValue> = { _opset: (n.domain && n.domain !== 'ai.onnx' ? domainOpsets.get(n.domain) : undefined) ?? opset };
      const attrTypes: NonNullable<GraphNode['attrTypes']> = {};
      for (const a of n.attribute ?? []) {
        const [v, kind] = attrValue(a);
        attrTypes[a.name ?? ''] = kind;
        // Names starting with '_' are the runtime's own (fusion, opset); validation refuses them in a file.
        if (v !== undefined && a.name && !a.name.startsWith('_')) attrs[a.name] = v;
      }
      return { name, opType: n.opType ?? '', domain: n.domain === 'ai.onnx' ? '' : (n.domain ?? ''), inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])], attrs, attrTypes };
    });
    const inputs = (g.input ?? []).filter((v) => !initializers.has(v.name ?? '')).map(valueInfo);
    const outputs = (g.output ?? []).map(valueInfo);
    if (outputs.length === 0) throw new ModelFormatError('the graph declares no outputs');
    return { nodes, initializers, inputs, outputs, opset };
  } catch (e) {
    if (e instanceof ModelFormatError) throw e;
    throw new ModelFormatError(`malformed ONNX graph: ${(e as Error).message}`, { cause: e });
  }
}
