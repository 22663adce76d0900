/**
 * The library's ONNX decoder (code generated from onnx.proto, reading through
 * src/runtime/onnx-pb/runtime.ts) against protobufjs's own Reader running the same generator's
 * output (tools/onnx-pb, what the ONNX writer encodes with): the same fields from the same bytes
 * for every field the library's decoder keeps (tools/onnx-pb-decode-fields.mjs), and for damaged
 * bytes an error exactly where protobufjs's reflection decoder over the same trimmed schema fails.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { onnx as lib } from '../src/runtime/onnx-pb/onnx.js';
import { decodeOnnx } from '../src/runtime/onnx.js';
import { ModelFormatError } from '../src/runtime/errors.js';
import { A, DataType, GraphBuilder, int64s, onnx as ref, randNormal, Rng } from '../tools/onnx-writer.js';
import { mutatedModels } from './helpers/fuzz.js';
import protobuf from 'protobufjs';
import { KEEP, trimOnnxJson } from '../tools/onnx-pb-decode-fields.mjs';

/** `ref` (a plain full decode) cut to the fields that `lib` (a plain trimmed decode) has. */
function project(ref: unknown, lib: unknown): unknown {
  if (Array.isArray(ref) && Array.isArray(lib)) return ref.map((r, i) => project(r, lib[i]));
  if (ref && lib && typeof ref === 'object' && typeof lib === 'object' && !Array.isArray(lib)) {
    return Object.fromEntries(Object.keys(lib).map((k) => [k, project((ref as Record<string, unknown>)[k], (lib as Record<string, unknown>)[k])]));
  }
  return ref;
}

/** protobufjs's reflection decoder over the same trimmed schema the library's code is generated from. */
const trimmedRef = protobuf.Root.fromJSON(trimOnnxJson(protobuf.parse(readFileSync(join(__dirname, '..', 'src', 'runtime', 'onnx-pb', 'onnx.proto'), 'utf8')).root.toJSON()) as protobuf.INamespace).lookupType('onnx.ModelProto');

/**
 * A plain-data view of a decoded message: numbers, strings and byte arrays, defaults included, or
 * with `decoded` only the fields the bytes held (static and reflection code give oneof members
 * different defaults).
 */
function plain(v: unknown, decoded = false): unknown {
  if (v instanceof Uint8Array) return Array.from(v);
  if (Array.isArray(v)) return v.map((x) => plain(x, decoded));
  if (v && typeof v === 'object') {
    if ('toNumber' in v) return (v as { toNumber(): number }).toNumber(); // protobufjs's Long
    const out: Record<string, unknown> = {};
    for (const k in v) {
      if (decoded && !Object.hasOwn(v, k)) continue;
      if (!k.startsWith('$') && typeof (v as Record<string, unknown>)[k] !== 'function') out[k] = plain((v as Record<string, unknown>)[k], decoded);
    }
    return out;
  }
  return v;
}

function model(): Uint8Array {
  const rng = new Rng(11);
  const g = new GraphBuilder('decode-check', 17);
  const x = g.input('x', [2, 3, 'n']);
  const w = g.initializer('w', [3, 4], randNormal(rng, 12), { raw: false });
  const b = g.initializer('b', [4], new Float64Array([1.5, -2.25, 1e300, -0]), { raw: false });
  const big = g.initializer('big', [3], int64s([-1, -(2 ** 40) - 3, 2 ** 52 + 1]), { raw: false });
  const r = g.initializer('r', [2, 2], randNormal(rng, 4));
  const h = g.initializer('h', [2], new Uint16Array([0x3c00, 0xc000]), { raw: false, dataType: DataType.FLOAT16 });
  const t = g.op('Transpose', [x], { perm: [0, 2, 1] });
  const m = g.op('MatMul', [t, w]);
  const y = g.op('ReduceSum', [m, big], { keepdims: 0, noop_with_empty_axes: A.int(-7) });
  g.op('Identity', [b]); g.op('Identity', [r]); g.op('Identity', [h]);
  g.output(y);
  return g.toBytes({ docString: 'ünïcödé ✓' });
}

describe('ONNX decoder (generated code over runtime.ts)', () => {
  it('keeps exactly the fields inference reads', () => {
    for (const [msg, fields] of Object.entries(KEEP)) {
      const ctor = msg.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], lib) as { prototype?: object };
      if (fields.length) expect(Object.keys(ctor.prototype ?? {}).sort(), msg).toEqual([...fields].sort());
    }
    expect(Object.keys(lib).sort()).toEqual(Object.keys(KEEP).filter((k) => !k.includes('.')).sort());
  });

  it('decodes what protobufjs decodes: packed floats, doubles, negative and large int64, fp16 bits, raw bytes, strings', () => {
    const bytes = model();
    const got = plain(lib.ModelProto.decode(bytes));
    expect(got).toEqual(project(plain(ref.ModelProto.decode(bytes)), got));
    expect(plain(lib.ModelProto.decode(bytes), true)).toEqual(plain(trimmedRef.decode(bytes), true));
    const g = lib.ModelProto.decode(bytes).graph!;
    expect(g.initializer!.find((t) => t.name === 'big')!.int64Data).toEqual([-1, -(2 ** 40) - 3, 2 ** 52 + 1]);
  });

  it('decodes the shared real models field for field as protobufjs does', () => {
    const dir = join(__dirname, '..', '..', 'shared', 'models');
    const files = ['mnist-cnn.onnx', 'squeezenet1.1-fp16.onnx', 'shufflenet-v2-qdq-int8.onnx'].map((f) => join(dir, f)).filter(existsSync);
    for (const f of [...files, join(__dirname, '..', 'assets', 'squeezenet1.1-fp16.onnx')]) {
      const bytes = new Uint8Array(readFileSync(f));
      const got = plain(lib.ModelProto.decode(bytes));
      expect(got, f).toEqual(project(plain(ref.ModelProto.decode(bytes)), got));
    }
  });

  it('keeps the raw_data of a tensor as a view of the file, not a copy', () => {
    const bytes = model();
    const r = lib.ModelProto.decode(bytes).graph!.initializer!.find((t) => t.name === 'r')!.rawData!;
    expect(r.buffer).toBe(bytes.buffer);
    expect(r.length).toBe(16);
  });

  it('fails wherever protobufjs fails on truncated and mutated files, and the loader makes that a ModelFormatError', () => {
    const bytes = model();
    let refFailures = 0;
    const inputs = [...Array.from({ length: 120 }, (_, i) => bytes.subarray(0, Math.floor((bytes.length * i) / 120))), ...mutatedModels(bytes, 300, 5)];
    for (const b of inputs) {
      let refError: unknown, libError: unknown, refMsg: unknown, libMsg: unknown;
      try { refMsg = plain(trimmedRef.decode(b), true); } catch (e) { refError = e; }
      try { libMsg = plain(lib.ModelProto.decode(b), true); } catch (e) { libError = e; }
      expect(libError === undefined, `decoded where protobufjs ${refError ? 'failed' : 'succeeded'}`).toBe(refError === undefined);
      if (refError) {
        refFailures++;
        expect(() => decodeOnnx(b)).toThrow(ModelFormatError);
      } else {
        expect(libMsg).toEqual(refMsg);
      }
    }
    expect(refFailures).toBeGreaterThan(50);
  });
});
