/**
 * Corrupted variants of an ONNX model for loader fuzz tests: byte-level damage (truncation, bit and
 * byte flips, splices, insertions, zeroed ranges) and protobuf-level lies that still decode (wrong
 * or huge dims, dangling inputs, unknown ops, bad attributes, missing opsets, cycles, ...).
 * Deterministic for a given (bytes, count, seed). The loader must reject these with an error (or
 * run them correctly); it must never hang, crash the process or allocate without bound.
 */
import { Rng, makeAttribute, makeTensor, onnx, toFloat16Bits } from '../../tools/onnx-writer.js';

export interface Mutation {
  kind: string;
  bytes: Uint8Array;
}

/**
 * Plain-object view of a decoded model (`toObject` with arrays, longs as numbers, no defaults: a
 * default written back would set every oneof-like field of an attribute at once, which onnxruntime
 * rightly refuses), so
 * repeated fields are own, mutable arrays (a decoded message shares frozen empty arrays).
 * Message instances (from makeAttribute/makeTensor/new onnx.X) may be mixed in: fromObject keeps them.
 */
interface PDim { dimValue?: number; dimParam?: string }
interface PValueInfo { name: string; type?: { tensorType?: { elemType: number; shape?: { dim: PDim[] } } } }
interface PTensor { name: string; dims: number[]; dataType: number; rawData: Uint8Array; dataLocation: number; externalData: unknown[] }
interface PAttr { name: string; type: number }
interface PNode { name: string; opType: string; domain: string; input: string[]; output: string[]; attribute: PAttr[] }
interface PGraph { node: PNode[]; input: PValueInfo[]; output: PValueInfo[]; initializer: PTensor[] }
interface PModel { irVersion: number; opsetImport: unknown[]; graph?: PGraph | null }

type ProtoMutator = (m: PModel, rng: Rng) => string | undefined;

const asNode = (x: unknown) => x as PNode;
const asAttr = (x: unknown) => x as PAttr;
const asTensor = (x: unknown) => x as PTensor;

const BYTE_KINDS = ['truncate', 'flip-bits', 'set-bytes', 'splice', 'insert', 'zero-range', 'duplicate-range'] as const;

function byteMutation(src: Uint8Array, rng: Rng): Mutation {
  const kind = rng.pick(BYTE_KINDS);
  const n = src.length;
  switch (kind) {
    case 'truncate': {
      // Bias towards short prefixes and towards cuts near the end.
      const r = rng.next();
      const len = r < 0.3 ? rng.int(Math.min(n, 64)) : r < 0.6 ? n - 1 - rng.int(Math.min(n, 64)) : rng.int(n);
      return { kind, bytes: src.slice(0, Math.max(0, len)) };
    }
    case 'flip-bits': {
      const b = src.slice();
      const k = 1 + rng.int(8);
      for (let i = 0; i < k; i++) b[rng.int(n)]! ^= 1 << rng.int(8);
      return { kind, bytes: b };
    }
    case 'set-bytes': {
      const b = src.slice();
      const k = 1 + rng.int(16);
      const vals = [0x00, 0xff, 0x7f, 0x80, 0x08, 0x0a, 0x12, 0x1a];
      for (let i = 0; i < k; i++) b[rng.int(n)] = rng.next() < 0.5 ? rng.pick(vals) : rng.int(256);
      return { kind, bytes: b };
    }
    case 'splice': {
      // Replace a range with bytes copied from elsewhere in the model.
      const a = rng.int(n), len = 1 + rng.int(Math.min(256, n)), from = rng.int(n);
      const piece = src.slice(from, from + len);
      const out = new Uint8Array(a + piece.length + Math.max(0, n - a - len));
      out.set(src.subarray(0, a), 0);
      out.set(piece, a);
      out.set(src.subarray(Math.min(n, a + len)), a + piece.length);
      return { kind, bytes: out };
    }
    case 'insert': {
      const a = rng.int(n + 1), len = 1 + rng.int(32);
      const ins = new Uint8Array(len);
      for (let i = 0; i < len; i++) ins[i] = rng.int(256);
      const out = new Uint8Array(n + len);
      out.set(src.subarray(0, a), 0);
      out.set(ins, a);
      out.set(src.subarray(a), a + len);
      return { kind, bytes: out };
    }
    case 'zero-range': {
      const b = src.slice();
      const a = rng.int(n);
      b.fill(0, a, a + 1 + rng.int(128));
      return { kind, bytes: b };
    }
    case 'duplicate-range': {
      const a = rng.int(n), len = 1 + rng.int(Math.min(512, n));
      const piece = src.slice(a, a + len);
      const out = new Uint8Array(n + piece.length);
      out.set(src.subarray(0, a + piece.length), 0);
      out.set(piece, a + piece.length);
      out.set(src.subarray(a + piece.length), a + 2 * piece.length);
      return { kind, bytes: out };
    }
  }
}

const HUGE_DIMS = [0, -1, -7, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 3, 2 ** 40, Number.MAX_SAFE_INTEGER];

function pickNode(m: PModel, rng: Rng, filter?: (n: PNode) => boolean): PNode | undefined {
  const nodes = m.graph?.node.filter(filter ?? (() => true)) ?? [];
  return nodes.length ? rng.pick(nodes) : undefined;
}

function valueNames(m: PModel): string[] {
  const g = m.graph!;
  return [...g.input.map((v) => v.name), ...g.initializer.map((t) => t.name), ...g.node.flatMap((n) => n.output)];
}

const PROTO_MUTATORS: Record<string, ProtoMutator> = {
  'input-dim-bad': (m, rng) => {
    const dims = m.graph?.input[0]?.type?.tensorType?.shape?.dim;
    if (!dims?.length) return undefined;
    const d = rng.pick(dims);
    delete d.dimParam;
    d.dimValue = rng.pick(HUGE_DIMS);
    return 'input-dim-bad';
  },
  'input-rank-wrong': (m, rng) => {
    const dims = m.graph?.input[0]?.type?.tensorType?.shape?.dim;
    if (!dims) return undefined;
    if (rng.next() < 0.5 && dims.length) dims.pop();
    else dims.push({ dimValue: 1 + rng.int(4) });
    return 'input-rank-wrong';
  },
  'input-dtype-wrong': (m, rng) => {
    const tt = m.graph?.input[0]?.type?.tensorType;
    if (!tt) return undefined;
    tt.elemType = rng.pick([0, 7, 8, 9, 17, 999]);
    return 'input-dtype-wrong';
  },
  'init-dims-mismatch': (m, rng) => {
    const t = m.graph?.initializer.length ? rng.pick(m.graph.initializer) : undefined;
    if (!t || !t.dims.length) return undefined;
    const i = rng.int(t.dims.length);
    t.dims[i] = Number(t.dims[i]) + 1 + rng.int(3);
    return 'init-dims-mismatch';
  },
  'init-dims-huge': (m, rng) => {
    const t = m.graph?.initializer.length ? rng.pick(m.graph.initializer) : undefined;
    if (!t) return undefined;
    t.dims = rng.next() < 0.5 ? [rng.pick(HUGE_DIMS)] : [2 ** 20, 2 ** 20, 2 ** 20];
    return 'init-dims-huge';
  },
  'init-raw-truncated': (m, rng) => {
    const ts = m.graph?.initializer.filter((t) => t.rawData?.length) ?? [];
    if (!ts.length) return undefined;
    const t = rng.pick(ts);
    t.rawData = t.rawData.slice(0, rng.int(t.rawData.length));
    return 'init-raw-truncated';
  },
  'init-raw-odd-length': (m, rng) => {
    const ts = m.graph?.initializer.filter((t) => t.rawData?.length) ?? [];
    if (!ts.length) return undefined;
    const t = rng.pick(ts);
    const b = new Uint8Array(t.rawData.length + 1 + rng.int(3));
    b.set(t.rawData);
    t.rawData = b;
    return 'init-raw-odd-length';
  },
  'init-dtype-wrong': (m, rng) => {
    const t = m.graph?.initializer.length ? rng.pick(m.graph.initializer) : undefined;
    if (!t) return undefined;
    t.dataType = rng.pick([0, 2, 7, 8, 9, 11, 16, 999, -3]);
    return 'init-dtype-wrong';
  },
  'init-external-data': (m, rng) => {
    const t = m.graph?.initializer.length ? rng.pick(m.graph.initializer) : undefined;
    if (!t) return undefined;
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.externalData = [{ key: 'location', value: '../../../../etc/passwd' }];
    t.rawData = new Uint8Array(0);
    return 'init-external-data';
  },
  'init-duplicate-name': (m, rng) => {
    const g = m.graph;
    if (!g || g.initializer.length < 2) return undefined;
    const a = rng.pick(g.initializer), b = rng.pick(g.initializer);
    if (a === b) return undefined;
    b.name = a.name;
    return 'init-duplicate-name';
  },
  'init-removed': (m, rng) => {
    const g = m.graph;
    if (!g?.initializer.length) return undefined;
    g.initializer.splice(rng.int(g.initializer.length), 1);
    return 'init-removed';
  },
  'dangling-input': (m, rng) => {
    const n = pickNode(m, rng, (x) => x.input.length > 0);
    if (!n) return undefined;
    n.input[rng.int(n.input.length)] = `no_such_value_${rng.int(1000)}`;
    return 'dangling-input';
  },
  'unknown-op': (m, rng) => {
    const n = pickNode(m, rng);
    if (!n) return undefined;
    n.opType = rng.pick(['FooBar', 'conv', 'CONV', '', 'Conv ', 'Loop', 'If', 'Scan', 'NonMaxSuppression']);
    return 'unknown-op';
  },
  'unknown-domain': (m, rng) => {
    const n = pickNode(m, rng);
    if (!n) return undefined;
    n.domain = rng.pick(['com.example', 'com.microsoft', 'ai.onnx.ml']);
    return 'unknown-domain';
  },
  'missing-inputs': (m, rng) => {
    const n = pickNode(m, rng, (x) => x.input.length > 0);
    if (!n) return undefined;
    n.input = n.input.slice(0, rng.int(n.input.length));
    return 'missing-inputs';
  },
  'extra-inputs': (m, rng) => {
    const n = pickNode(m, rng);
    if (!n) return undefined;
    const names = valueNames(m);
    for (let i = 1 + rng.int(4); i > 0; i--) n.input.push(rng.pick(names));
    return 'extra-inputs';
  },
  'no-outputs': (m, rng) => {
    const n = pickNode(m, rng);
    if (!n) return undefined;
    n.output = [];
    return 'no-outputs';
  },
  'cycle': (m, rng) => {
    const n = pickNode(m, rng, (x) => x.input.length > 0 && x.output.length > 0);
    if (!n) return undefined;
    // A node consuming its own output, or a later node's output.
    const later = m.graph!.node.slice(m.graph!.node.indexOf(n));
    const src = rng.pick(later);
    n.input[0] = rng.pick(src.output.length ? src.output : n.output);
    return 'cycle';
  },
  'duplicate-output': (m, rng) => {
    const g = m.graph;
    if (!g || g.node.length < 2) return undefined;
    const a = rng.pick(g.node), b = rng.pick(g.node);
    if (a === b || !a.output.length || !b.output.length) return undefined;
    b.output[0] = a.output[0]!;
    return 'duplicate-output';
  },
  'shuffle-nodes': (m, rng) => {
    const nodes = m.graph?.node;
    if (!nodes || nodes.length < 2) return undefined;
    for (let i = nodes.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [nodes[i], nodes[j]] = [nodes[j]!, nodes[i]!];
    }
    return 'shuffle-nodes';
  },
  'remove-node': (m, rng) => {
    const nodes = m.graph?.node;
    if (!nodes?.length) return undefined;
    nodes.splice(rng.int(nodes.length), 1);
    return 'remove-node';
  },
  'attr-bad-value': (m, rng) => {
    const n = pickNode(m, rng, (x) => x.attribute.length > 0);
    if (!n) return undefined;
    const a = rng.pick(n.attribute);
    const bad = asAttr(rng.pick<() => unknown>([
      () => makeAttribute(a.name, rng.pick([-1, 0, 2 ** 31, 1e6])),
      () => makeAttribute(a.name, [rng.pick([-5, 0, 1e9]), 0, -1]),
      () => makeAttribute(a.name, []),
      () => makeAttribute(a.name, 0.5),
      () => makeAttribute(a.name, 'SAME_UPPER?'),
      () => makeAttribute(a.name, { dims: [2], data: new Float32Array([1, 2]) }),
    ])());
    n.attribute[n.attribute.indexOf(a)] = bad;
    return 'attr-bad-value';
  },
  'attr-type-lies': (m, rng) => {
    // The type tag says one thing, the payload another.
    const n = pickNode(m, rng, (x) => x.attribute.length > 0);
    if (!n) return undefined;
    const a = rng.pick(n.attribute);
    a.type = rng.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 13, 99]);
    return 'attr-type-lies';
  },
  'attr-unknown': (m, rng) => {
    const n = pickNode(m, rng);
    if (!n) return undefined;
    n.attribute.push(asAttr(makeAttribute(rng.pick(['foo', 'auto_pad', 'ceil_mode', 'dilations', 'group']), rng.pick<number | string | number[]>([7, 'VALID', [3, 3], 0]))));
    return 'attr-unknown';
  },
  'conv-group-bad': (m, rng) => {
    const n = pickNode(m, rng, (x) => x.opType === 'Conv');
    if (!n) return undefined;
    n.attribute = n.attribute.filter((a) => a.name !== 'group');
    n.attribute.push(asAttr(makeAttribute('group', rng.pick([0, -1, 3, 7, 1024]))));
    return 'conv-group-bad';
  },
  'reshape-target-bad': (m, rng) => {
    const g = m.graph;
    const n = pickNode(m, rng, (x) => x.opType === 'Reshape' || x.opType === 'Gemm' || x.opType === 'Conv');
    if (!g || !n || n.input.length < 2) return undefined;
    const name = `fuzz_tensor_${rng.int(1e6)}`;
    const shapes = [[-1, -1], [0, 0, 0, 0, 0], [7, 13], [2 ** 31, 2], [], [3]];
    const dims = rng.pick(shapes);
    const count = dims.length === 0 ? 1 : Math.max(0, Math.min(64, dims.reduce((a, b) => a * Math.abs(b), 1)));
    g.initializer.push(asTensor(makeTensor(name, dims, n.opType === 'Reshape' ? BigInt64Array.from(dims, (d) => BigInt(d)) : new Float32Array(count))));
    n.input[1] = name;
    return 'reshape-target-bad';
  },
  'opset-missing': (m) => { m.opsetImport = []; return 'opset-missing'; },
  'opset-weird': (m, rng) => {
    m.opsetImport = [{ domain: '', version: rng.pick([0, 1, 6, 99, 2 ** 40]) }];
    return 'opset-weird';
  },
  'ir-version-weird': (m, rng) => { m.irVersion = rng.pick([0, 1, 2, 99, -1]); return 'ir-version-weird'; },
  'no-graph': (m) => { m.graph = null; return 'no-graph'; },
  'no-graph-inputs': (m) => { if (!m.graph) return undefined; m.graph.input = []; return 'no-graph-inputs'; },
  'no-graph-outputs': (m) => { if (!m.graph) return undefined; m.graph.output = []; return 'no-graph-outputs'; },
  'output-dangling': (m, rng) => {
    const o = m.graph?.output[0];
    if (!o) return undefined;
    o.name = `missing_output_${rng.int(100)}`;
    return 'output-dangling';
  },
  'input-is-initializer': (m, rng) => {
    // A graph input that shadows an initializer (legal in old IR; a default value).
    const g = m.graph;
    if (!g?.initializer.length) return undefined;
    const t = rng.pick(g.initializer);
    g.input.push({ name: t.name, type: { tensorType: { elemType: 1 } } });
    return 'input-is-initializer';
  },
  // ---- structure-aware: each keeps the file well-formed protobuf and changes one thing a loader must check.
  'op-swap-arity': (m, rng) => {
    // An op of another arity or attribute set in place of the original (Conv as a two-input Sqrt).
    const n = pickNode(m, rng);
    if (!n) return undefined;
    n.opType = rng.pick(['Sqrt', 'Abs', 'Relu', 'Add', 'Mul', 'Sum', 'Concat', 'Identity', 'Softmax', 'MatMul', 'Gemm', 'Conv', 'MaxPool', 'Flatten', 'Transpose']);
    return 'op-swap-arity';
  },
  'attr-type-swap': (m, rng) => {
    // Same value, another declared type (group=1 as FLOAT, pads as FLOATS, alpha as INT).
    const n = pickNode(m, rng, (x) => x.attribute.length > 0);
    if (!n) return undefined;
    const i = rng.int(n.attribute.length);
    const a = n.attribute[i] as unknown as { name: string; type: number; i?: number; f?: number; ints?: number[]; floats?: number[]; s?: Uint8Array };
    const AT = onnx.AttributeProto.AttributeType;
    let v: Parameters<typeof makeAttribute>[1];
    switch (a.type) {
      case AT.INT: v = rng.next() < 0.5 ? { kind: 'float', value: Number(a.i ?? 0) } : { kind: 'ints', value: [Number(a.i ?? 0)] }; break;
      case AT.FLOAT: v = { kind: 'int', value: Math.round(a.f ?? 0) }; break;
      case AT.INTS: v = rng.next() < 0.5 ? { kind: 'floats', value: (a.ints ?? []).map(Number) } : { kind: 'int', value: Number(a.ints?.[0] ?? 1) }; break;
      case AT.FLOATS: v = { kind: 'ints', value: (a.floats ?? []).map(Math.round) }; break;
      case AT.STRING: v = { kind: 'int', value: 1 }; break;
      default: return undefined;
    }
    n.attribute[i] = asAttr(makeAttribute(a.name, v));
    return 'attr-type-swap';
  },
  'attr-int-extreme': (m, rng) => {
    // Huge and negative integers where the kernels hold i32/u32 uniforms.
    const n = pickNode(m, rng, (x) => x.attribute.some((a) => a.type === 2 || a.type === 7));
    if (!n) return undefined;
    const cands = n.attribute.filter((a) => a.type === 2 || a.type === 7);
    const a = rng.pick(cands) as unknown as { name: string; type: number; ints?: number[] };
    const big = () => rng.pick([2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 32 + 1, -(2 ** 31) - 1, -5, -1, 2 ** 40, 65536]);
    const bad = a.type === 2 ? makeAttribute(a.name, { kind: 'int', value: big() })
      : makeAttribute(a.name, { kind: 'ints', value: (a.ints ?? [1]).map((x, k) => (k === 0 || rng.next() < 0.3 ? big() : Number(x))) });
    n.attribute[n.attribute.indexOf(a as unknown as PAttr)] = asAttr(bad);
    return 'attr-int-extreme';
  },
  'attr-small-change': (m, rng) => {
    // A different but plausible value (strides 2, pads 0, axis -1, alpha 0.7): often still a valid
    // model with another answer, which both runtimes must then compute alike.
    const n = pickNode(m, rng, (x) => x.attribute.some((a) => [1, 2, 6, 7].includes(a.type)));
    if (!n) return undefined;
    const a = rng.pick(n.attribute.filter((x) => [1, 2, 6, 7].includes(x.type))) as unknown as { name: string; type: number; ints?: number[]; floats?: number[] };
    const small = () => rng.pick([-1, 0, 1, 1, 2, 2, 3]);
    const v: Parameters<typeof makeAttribute>[1] = a.type === 1 ? { kind: 'float', value: rng.pick([0, 0.1, 0.7, 1, 2.5, -0.5]) }
      : a.type === 2 ? { kind: 'int', value: small() }
      : a.type === 6 ? { kind: 'floats', value: (a.floats ?? []).map(() => rng.pick([0.5, 1, 2])) }
      : { kind: 'ints', value: (a.ints ?? []).map((x) => (rng.next() < 0.5 ? small() : Number(x))) };
    n.attribute[n.attribute.indexOf(a as unknown as PAttr)] = asAttr(makeAttribute(a.name, v));
    return 'attr-small-change';
  },
  'conv-dilation-same': (m, rng) => {
    // The case: huge dilations with SAME_UPPER (explicit pads are refused already).
    const n = pickNode(m, rng, (x) => x.opType === 'Conv');
    if (!n) return undefined;
    n.attribute = n.attribute.filter((a) => a.name !== 'pads' && a.name !== 'auto_pad' && a.name !== 'dilations');
    n.attribute.push(asAttr(makeAttribute('auto_pad', 'SAME_UPPER')));
    n.attribute.push(asAttr(makeAttribute('dilations', { kind: 'ints', value: [rng.pick([2, 3, 2 ** 16, 2 ** 30, 2 ** 31, 2 ** 32, 2 ** 32 + 1]), 1] })));
    return 'conv-dilation-same';
  },
  'attr-remove': (m, rng) => {
    const n = pickNode(m, rng, (x) => x.attribute.length > 0);
    if (!n) return undefined;
    n.attribute.splice(rng.int(n.attribute.length), 1);
    return 'attr-remove';
  },
  'input-swap': (m, rng) => {
    const n = pickNode(m, rng, (x) => x.input.length > 1);
    if (!n) return undefined;
    const i = rng.int(n.input.length), j = rng.int(n.input.length);
    [n.input[i], n.input[j]] = [n.input[j]!, n.input[i]!];
    return 'input-swap';
  },
  'init-nonfinite': (m, rng) => {
    const ts = m.graph?.initializer.filter((t) => t.dataType === 1 && t.rawData?.length >= 4) ?? [];
    if (!ts.length) return undefined;
    const t = rng.pick(ts);
    const raw = t.rawData.slice();
    new DataView(raw.buffer, raw.byteOffset, raw.length).setFloat32(4 * rng.int(raw.length >> 2), rng.pick([NaN, Infinity, -Infinity]), true);
    t.rawData = raw;
    return 'init-nonfinite';
  },
  'init-raw-oversized': (m, rng) => {
    const ts = m.graph?.initializer.filter((t) => t.rawData?.length) ?? [];
    if (!ts.length) return undefined;
    const t = rng.pick(ts);
    const b = new Uint8Array(t.rawData.length + 4 * (1 + rng.int(4)));
    b.set(t.rawData);
    t.rawData = b;
    return 'init-raw-oversized';
  },
  'init-dtype-widen': (m, rng) => {
    // A float initializer stored as float16 or double: same values, another element type.
    const ts = m.graph?.initializer.filter((t) => t.dataType === 1 && t.rawData?.length && t.rawData.length % 4 === 0) ?? [];
    if (!ts.length) return undefined;
    const t = rng.pick(ts);
    const f = new Float32Array(t.rawData.slice().buffer);
    const wide = rng.next() < 0.5;
    const out = asTensor(makeTensor(t.name, t.dims, wide ? Float64Array.from(f) : toFloat16Bits(f), wide ? {} : { dataType: 10 }));
    Object.assign(t, { dataType: out.dataType, rawData: out.rawData });
    return 'init-dtype-widen';
  },
  'input-dims-valid': (m, rng) => {
    // Another legal input size: both runtimes should load it and agree.
    const dims = m.graph?.input[0]?.type?.tensorType?.shape?.dim;
    if (!dims || dims.length < 4) return undefined;
    const s = rng.pick([8, 12, 15, 17, 20, 32]);
    dims[2] = { dimValue: s };
    dims[3] = { dimValue: rng.next() < 0.7 ? s : rng.pick([8, 16, 24]) };
    return 'input-dims-valid';
  },
  'opset-change': (m, rng) => {
    m.opsetImport = [{ domain: '', version: rng.pick([7, 9, 10, 11, 12, 13, 14, 17, 18, 19, 20, 21]) }];
    return 'opset-change';
  },
  'node-name-duplicate': (m, rng) => {
    const g = m.graph;
    if (!g || g.node.length < 2) return undefined;
    const a = rng.pick(g.node), b = rng.pick(g.node);
    if (a === b) return undefined;
    b.name = a.name;
    return 'node-name-duplicate';
  },
  'many-nodes': (m, rng) => {
    // Thousands of no-op nodes chained after the input: cheap for a sane loader.
    const g = m.graph;
    const first = g?.input[0]?.name;
    if (!g || !first) return undefined;
    let prev = first;
    const extra: PNode[] = [];
    for (let i = 0; i < 2000 + rng.int(3000); i++) {
      const out = `fuzz_id_${i}`;
      extra.push(asNode(new onnx.NodeProto({ opType: 'Identity', input: [prev], output: [out] })));
      prev = out;
    }
    g.node.unshift(...extra);
    return 'many-nodes';
  },
};

const PROTO_KINDS = Object.keys(PROTO_MUTATORS);

function protoMutation(src: Uint8Array, rng: Rng): Mutation | undefined {
  let m: PModel;
  try {
    m = onnx.ModelProto.toObject(onnx.ModelProto.decode(src), { longs: Number, arrays: true, defaults: false }) as PModel;
  } catch {
    return undefined;
  }
  // One to three mutations stacked.
  const kinds: string[] = [];
  const k = rng.next() < 0.7 ? 1 : 2 + rng.int(2);
  for (let i = 0; i < k; i++) {
    const name = rng.pick(PROTO_KINDS);
    const done = PROTO_MUTATORS[name]!(m, rng);
    if (done) kinds.push(done);
  }
  if (!kinds.length) return undefined;
  return { kind: kinds.join('+'), bytes: new Uint8Array(onnx.ModelProto.encode(onnx.ModelProto.fromObject(m)).finish()) };
}

/**
 * `count` corrupted variants of `bytes` with labels (`kind` says what was done, for failure
 * messages). About half byte-level, half protobuf-level. Deterministic in (bytes, count, seed).
 */
export function mutatedModelsWithKinds(bytes: Uint8Array, count: number, seed: number): Mutation[] {
  // A private plain copy: a Node Buffer's slice() is a view, and mutations must never touch `bytes`.
  const src = new Uint8Array(bytes);
  const rng = new Rng(seed);
  const out: Mutation[] = [];
  let guard = 0;
  while (out.length < count && guard++ < count * 20) {
    const mut = rng.next() < 0.5 ? byteMutation(src, rng) : protoMutation(src, rng);
    if (mut) out.push(mut);
  }
  return out;
}

/** `count` corrupted variants of an ONNX model (see `mutatedModelsWithKinds`). */
export function mutatedModels(bytes: Uint8Array, count: number, seed: number): Uint8Array[] {
  return mutatedModelsWithKinds(bytes, count, seed).map((m) => m.bytes);
}
