/**
 * The run-time half of the generated ONNX decoder (onnx.js, from protobufjs's static generator):
 * the wire-format Reader and the few `util` helpers that decode-only code calls, in place of
 * `protobufjs/minimal`. That module also carries a writer, RPC services and the `long` package,
 * none of which decoding needs (12 KB of the browser bundle, gzipped; docs/protobuf.md);
 * `tools/gen-onnx-pb.sh` points the generated import here.
 *
 * Semantics follow protobufjs's Reader: int64 fields decode to numbers (exact up to 2^53, as
 * `--force-number` promises), bytes are views of the input, strings are UTF-8 with replacement
 * characters, and every read past the end is a RangeError that the loader turns into a
 * ModelFormatError.
 */

const TWO32 = 4294967296;
const utf8 = new TextDecoder();

function outOfRange(r: Reader, n = 1): RangeError {
  return new RangeError(`index out of range: ${r.pos} + ${n} > ${r.len}`);
}

/** Wire-format reader over one Uint8Array; the generated decoders move `pos` and narrow `len` for sub-messages. */
export class Reader {
  /** Nesting depth beyond which decoding stops (protoc's default). */
  static recursionLimit = 100;
  /** Drop unknown fields rather than keep them on the message. */
  discardUnknown = true;
  pos = 0;
  len: number;
  private readonly view: DataView;
  /** High 32 bits of the last 64-bit varint (the low half is returned). */
  private hi = 0;

  constructor(readonly buf: Uint8Array) {
    this.len = buf.length;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  static create(buf: Uint8Array): Reader {
    if (!(buf instanceof Uint8Array)) throw new Error('illegal buffer');
    return new Reader(buf);
  }

  /** A varint of up to 10 bytes: returns the low 32 bits unsigned, leaves the high ones in `hi`. */
  private varint(): number {
    const buf = this.buf;
    let pos = this.pos, lo = 0, hi = 0, b = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= this.len) throw outOfRange(this);
      b = buf[pos++]!;
      lo |= (b & 127) << shift;
      if (b < 128) { this.pos = pos; this.hi = 0; return lo >>> 0; }
    }
    if (pos >= this.len) throw outOfRange(this);
    b = buf[pos++]!;
    lo |= (b & 127) << 28;
    hi = (b & 127) >> 4;
    if (b >= 128) {
      for (let shift = 3; ; shift += 7) {
        if (shift > 31) { this.pos = pos; throw new Error('invalid varint encoding'); }
        if (pos >= this.len) throw outOfRange(this);
        b = buf[pos++]!;
        hi |= (b & 127) << shift;
        if (b < 128) break;
      }
    }
    this.pos = pos;
    this.hi = hi >>> 0;
    return lo >>> 0;
  }

  uint32(): number {
    const buf = this.buf;
    if (this.pos < this.len && buf[this.pos]! < 128) { this.hi = 0; return buf[this.pos++]!; }
    return this.varint();
  }

  /** A field key: field number << 3 | wire type, at most 32 bits. */
  tag(): number {
    const v = this.uint32();
    if (this.hi !== 0) throw new Error('invalid tag encoding');
    return v;
  }

  /** A length prefix (at most 2^31 - 1). */
  size(): number {
    const v = this.uint32();
    if (this.hi !== 0 || v > 0x7fffffff) throw new Error('invalid length encoding');
    return v;
  }

  int32(): number { return this.uint32() | 0; }

  int64(): number {
    const lo = this.varint();
    return (this.hi | 0) * TWO32 + lo;
  }

  uint64(): number {
    const lo = this.varint();
    return this.hi * TWO32 + lo;
  }

  float(): number {
    if (this.pos + 4 > this.len) throw outOfRange(this, 4);
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  double(): number {
    if (this.pos + 8 > this.len) throw outOfRange(this, 8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** A packed run of fixed-size values appended to `array`. */
  private fixed(array: number[], width: 4 | 8, get: (pos: number) => number): number[] {
    const len = this.size(), end = this.pos + len;
    if (end > this.len) throw outOfRange(this, len);
    if (len % width !== 0) throw new RangeError(`packed field of ${len} bytes is not a whole number of ${width}-byte values`);
    let i = array.length;
    array.length = i + len / width;
    for (let pos = this.pos; pos < end; pos += width) array[i++] = get(pos);
    this.pos = end;
    return array;
  }

  floats(array: number[] = []): number[] { return this.fixed(array, 4, (p) => this.view.getFloat32(p, true)); }
  doubles(array: number[] = []): number[] { return this.fixed(array, 8, (p) => this.view.getFloat64(p, true)); }

  /** A packed run of varints appended to `array`. */
  private varints(array: number[], read: () => number): number[] {
    const end = this.size() + this.pos, len = this.len;
    if (end > len) throw outOfRange(this, end - this.pos);
    this.len = end;
    while (this.pos < end) array.push(read());
    this.len = len;
    return array;
  }

  // Only the packed kinds onnx.proto has (repeated int32, int64, uint64, float, double).
  int32s(array: number[] = []): number[] { return this.varints(array, () => this.int32()); }
  int64s(array: number[] = []): number[] { return this.varints(array, () => this.int64()); }
  uint64s(array: number[] = []): number[] { return this.varints(array, () => this.uint64()); }

  /** Length-delimited bytes, as a view of the input (no copy: raw_data of a 100 MB model costs nothing). */
  bytes(): Uint8Array {
    const n = this.size(), start = this.pos, end = start + n;
    if (end > this.len) throw outOfRange(this, n);
    this.pos = end;
    return this.buf.subarray(start, end);
  }

  string(): string { return utf8.decode(this.bytes()); }

  raw(start: number, end: number): Uint8Array { return this.buf.subarray(start, end); }

  skip(length?: number): this {
    if (length === undefined) {
      do { if (this.pos >= this.len) throw outOfRange(this); } while (this.buf[this.pos++]! & 128);
    } else {
      if (this.pos + length > this.len) throw outOfRange(this, length);
      this.pos += length;
    }
    return this;
  }

  /** Skips a field of an unknown number (a newer schema's, or garbage), including whole groups. */
  skipType(wireType: number, depth = 0, fieldNumber?: number): this {
    if (depth > Reader.recursionLimit) throw new Error('max depth exceeded');
    if (fieldNumber === 0) throw new Error('illegal tag: field number 0');
    switch (wireType) {
      case 0: return this.skip();
      case 1: return this.skip(8);
      case 2: return this.skip(this.size());
      case 3:
        for (;;) {
          const tag = this.tag(), nested = tag >>> 3, wt = tag & 7;
          if (!nested) throw new Error('illegal tag: field number 0');
          if (wt === 4) {
            if (fieldNumber !== undefined && nested !== fieldNumber) throw new Error('invalid end group tag');
            return this;
          }
          this.skipType(wt, depth + 1, nested);
        }
      case 5: return this.skip(4);
      default: throw new Error(`invalid wire type ${wireType} at offset ${this.pos}`);
    }
  }
}

/** The helpers generated decode-only code refers to as `$util`. */
export const util = {
  global: globalThis,
  /** No Long class: int64 fields are plain numbers. */
  Long: undefined,
  emptyArray: Object.freeze([]) as readonly unknown[],
  newBuffer: (init: number | number[]): Uint8Array => (typeof init === 'number' ? new Uint8Array(init) : new Uint8Array(init)),
  makeProp(obj: object, key: string, enumerable?: boolean): void {
    if (Object.prototype.hasOwnProperty.call(obj, key)) return;
    Object.defineProperty(obj, key, { enumerable: enumerable ?? true, configurable: true, writable: true });
  },
  oneOfGetter(names: string[]): (this: Record<string, unknown>) => string | undefined {
    const set = new Set(names);
    return function () {
      const keys = Object.keys(this);
      for (let i = keys.length - 1; i >= 0; i--) if (set.has(keys[i]!) && this[keys[i]!] !== undefined && this[keys[i]!] !== null) return keys[i];
      return undefined;
    };
  },
  oneOfSetter(names: string[]): (this: Record<string, unknown>, name: string) => void {
    return function (name) { for (const n of names) if (n !== name) delete this[n]; };
  },
};

/** Where generated modules register their namespaces. */
export const roots: Record<string, unknown> = {};

export default { Reader, util, roots };
