/**
 * Trims the protobufjs JSON form of onnx.proto to the messages and fields that inference reads
 * (src/runtime/onnx.ts, external data), for the library's decode-only code: every other field is
 * an unknown field to the generated decoder, which skips it by wire type. `npm run gen:onnx` runs
 * this; docs/protobuf.md says why. Usage: node tools/onnx-pb-decode-fields.mjs full.json trimmed.json
 */
import { readFileSync, writeFileSync } from 'node:fs';

/** Message -> fields kept (camelCase, as protobufjs names them). Enums not listed here are dropped. */
export const KEEP = {
  ModelProto: ['opsetImport', 'graph'],
  OperatorSetIdProto: ['domain', 'version'],
  GraphProto: ['node', 'initializer', 'input', 'output'],
  NodeProto: ['input', 'output', 'name', 'opType', 'domain', 'attribute'],
  AttributeProto: ['name', 'type', 'f', 'i', 's', 't', 'floats', 'ints', 'strings'],
  'AttributeProto.AttributeType': [],
  TensorProto: ['dims', 'dataType', 'floatData', 'int32Data', 'int64Data', 'name', 'rawData', 'externalData', 'dataLocation', 'doubleData', 'uint64Data'],
  StringStringEntryProto: ['key', 'value'],
  ValueInfoProto: ['name', 'type'],
  TypeProto: ['tensorType'],
  'TypeProto.Tensor': ['elemType', 'shape'],
  TensorShapeProto: ['dim'],
  'TensorShapeProto.Dimension': ['dimValue', 'dimParam'],
};

function trim(ns, prefix) {
  const out = {};
  for (const [name, def] of Object.entries(ns)) {
    const path = prefix + name;
    if (!(path in KEEP)) continue;
    if (def.values) { out[name] = def; continue; }
    const fields = {};
    for (const f of KEEP[path]) {
      if (!def.fields[f]) throw new Error(`onnx.proto has no field ${path}.${f}`);
      fields[f] = def.fields[f];
    }
    out[name] = { ...def, fields };
    // Oneofs name fields; keep only those that survive.
    if (def.oneofs) {
      const oneofs = Object.fromEntries(Object.entries(def.oneofs).map(([k, o]) => [k, { ...o, oneof: o.oneof.filter((f) => f in fields) }]).filter(([, o]) => o.oneof.length));
      if (Object.keys(oneofs).length) out[name].oneofs = oneofs; else delete out[name].oneofs;
    }
    delete out[name].reserved;
    if (def.nested) { const n = trim(def.nested, path + '.'); if (Object.keys(n).length) out[name].nested = n; else delete out[name].nested; }
  }
  return out;
}

/** Enum-typed fields whose enum is dropped decode as the int32 an enum is on the wire. */
function retype(ns, prefix, known) {
  for (const [name, def] of Object.entries(ns)) {
    if (def.fields) for (const f of Object.values(def.fields)) {
      const t = f.type;
      const isKept = [prefix + name + '.' + t, prefix + t, t].some((c) => known.all.has(c));
      if (!isKept && /^[A-Z]/.test(t)) {
        if (!known.droppedEnums.has(t.split('.').pop())) throw new Error(`field of dropped message type ${t}`);
        f.type = 'int32';
      }
    }
    if (def.nested) retype(def.nested, prefix + name + '.', known);
  }
}

/** The protobufjs JSON of onnx.proto (`pbjs -t json`) cut to KEEP: a new object, the input untouched. */
export function trimOnnxJson(json) {
  const full = structuredClone(json);
  const ns = full.nested.onnx.nested;
  const droppedEnums = new Set();
  (function walk(n) { for (const [k, d] of Object.entries(n)) { if (d.values) droppedEnums.add(k); if (d.nested) walk(d.nested); } })(ns);
  const trimmed = trim(ns, '');
  const all = new Set();
  (function walk(n, p) { for (const [k, d] of Object.entries(n)) { all.add(p + k); all.add(k); if (d.values) droppedEnums.delete(k); if (d.nested) walk(d.nested, p + k + '.'); } })(trimmed, '');
  retype(trimmed, '', { all, droppedEnums });
  full.nested.onnx.nested = trimmed;
  return full;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [, , src, dst] = process.argv;
  writeFileSync(dst, JSON.stringify(trimOnnxJson(JSON.parse(readFileSync(src, 'utf8'))), null, 1) + '\n');
}
