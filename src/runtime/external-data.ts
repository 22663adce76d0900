/**
 * External data: initializers whose bytes live in files beside the model (TensorProto.data_location
 * = EXTERNAL, external_data entries `location`, `offset`, `length`), as exporters write above 2 GB
 * and many converted models do. The decoder asks a source for each file by its location; in Node
 * the source reads the model's folder (`externalFilesIn` in node.ts, used by `loadModelFile`), in
 * the browser it is a map of file names to bytes the page was given.
 */
import { ModelFormatError } from './errors.js';

/**
 * Where external files come from: a map (or record) from `location` to the file's bytes, or a
 * function returning them (undefined when there is no such file).
 */
export type ExternalDataSource =
  | ReadonlyMap<string, Uint8Array>
  | Readonly<Record<string, Uint8Array>>
  | ((location: string) => Uint8Array | undefined);

/** An initializer's external file is missing, too short, or its location is not a plain relative path. */
export class ExternalDataError extends ModelFormatError {
  constructor(message: string, readonly location?: string) {
    super(message);
  }
}

interface Entry { key?: string | null; value?: string | null }

function lookup(source: ExternalDataSource, location: string): Uint8Array | undefined {
  if (typeof source === 'function') return source(location);
  if (source instanceof Map) return source.get(location);
  const rec = source as Readonly<Record<string, Uint8Array>>;
  return Object.prototype.hasOwnProperty.call(rec, location) ? rec[location] : undefined;
}

/**
 * The bytes of tensor `name` from its external_data entries. `needed` is what its shape and type
 * take; a range past the end of the file or shorter than that is reported with the file's name.
 */
export function externalBytes(name: string, entries: readonly Entry[], source: ExternalDataSource | undefined, needed: number): Uint8Array {
  const kv = new Map(entries.map((e) => [e.key ?? '', e.value ?? '']));
  const location = kv.get('location');
  if (!location) throw new ExternalDataError(`tensor '${name}' is marked as external data but names no location`);
  // The spec makes locations relative to the model's folder; refuse anything that could leave it.
  const parts = location.split(/[\\/]/);
  if (/^([\\/]|[A-Za-z]:)/.test(location) || parts.includes('..')) {
    throw new ExternalDataError(`tensor '${name}': external data location '${location}' must be a relative path inside the model's folder`, location);
  }
  if (!source) {
    throw new ExternalDataError(`tensor '${name}' keeps its data in the external file '${location}': load the model from its path (loadModelFile in Node) or pass LoadOptions.externalData with that file`, location);
  }
  const file = lookup(source, location);
  if (!file) throw new ExternalDataError(`tensor '${name}': external data file '${location}' not found`, location);
  const int = (key: string): number | undefined => {
    const v = kv.get(key);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new ExternalDataError(`tensor '${name}': external data ${key} '${v}' is not a byte count`, location);
    return n;
  };
  const offset = int('offset') ?? 0;
  const length = int('length') ?? Math.max(0, file.length - offset);
  if (offset + length > file.length) {
    throw new ExternalDataError(`tensor '${name}': external data file '${location}' has ${file.length} bytes, the tensor needs bytes ${offset} to ${offset + length}`, location);
  }
  if (length < needed) {
    throw new ExternalDataError(`tensor '${name}': ${length} bytes at offset ${offset} of '${location}', its shape and type need ${needed}`, location);
  }
  return file.subarray(offset, offset + length);
}
