/**
 * Moves a model's large initializers into one external-data file, as onnx's
 * `save_model(..., save_as_external_data=True)` does: each tensor's bytes at an aligned offset in
 * the file, `data_location` EXTERNAL and `external_data` entries location / offset / length.
 */
import { decodeModel, encodeModel, onnx } from './onnx-writer.js';

export interface ExternalizedModel {
  /** The model file, without the moved bytes. */
  model: Uint8Array;
  /** The external file's contents. */
  data: Uint8Array;
  /** Names of the initializers moved. */
  moved: string[];
}

/** Initializers stored as raw_data with at least `minBytes` bytes move to `location`. */
export function externalize(bytes: Uint8Array, location: string, minBytes = 1024, align = 64): ExternalizedModel {
  const m = decodeModel(bytes);
  const chunks: { offset: number; data: Uint8Array }[] = [];
  const moved: string[] = [];
  let size = 0;
  for (const t of m.graph?.initializer ?? []) {
    const raw = t.rawData;
    if (!raw || raw.length < minBytes) continue;
    const offset = Math.ceil(size / align) * align;
    chunks.push({ offset, data: raw });
    size = offset + raw.length;
    t.rawData = new Uint8Array(0);
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.externalData = [
      new onnx.StringStringEntryProto({ key: 'location', value: location }),
      new onnx.StringStringEntryProto({ key: 'offset', value: String(offset) }),
      new onnx.StringStringEntryProto({ key: 'length', value: String(raw.length) }),
    ];
    moved.push(t.name ?? '');
  }
  const data = new Uint8Array(size);
  for (const c of chunks) data.set(c.data, c.offset);
  return { model: encodeModel(m), data, moved };
}
