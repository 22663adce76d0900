/**
 * Shorthands for writing operator signatures (OpDef.schema) in the kernel files, and the
 * attribute sets several families share. Only data: src/runtime/validate.ts does the checking.
 */
import type { AttrSpec, AttrType, OpVersionSchema } from './types.js';

type Attrs = Readonly<Record<string, AttrType | AttrSpec>>;

/** One signature: from opset `since`, inputs [min, max], outputs [min, max], attributes, required attributes. */
export function sig(since: number, inputs: number | readonly [number, number], outputs: number | readonly [number, number] = 1,
  attrs: Attrs = {}, required: readonly string[] = []): OpVersionSchema {
  const pair = (x: number | readonly [number, number]): readonly [number, number] => (typeof x === 'number' ? [x, x] : x);
  return { since, inputs: pair(inputs), outputs: pair(outputs), attrs, required };
}

export const VARIADIC = Infinity;

/** `s` with the given inputs optional although required ones follow them (they may be ''). */
export function withOptional(s: OpVersionSchema, ...inputs: number[]): OpVersionSchema {
  return { ...s, optional: inputs };
}

/** auto_pad values ONNX defines. */
export const AUTO_PAD: AttrSpec = { type: 'string', oneOf: ['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'] };
export const POSITIVE_INTS: AttrSpec = { type: 'ints', min: 1 };
export const NONNEG_INTS: AttrSpec = { type: 'ints', min: 0 };
export const BOOL_INT: AttrSpec = { type: 'int', min: 0, max: 1 };

/** The sliding-window attributes of Conv and the pools. */
export const WINDOW: Attrs = { auto_pad: AUTO_PAD, kernel_shape: POSITIVE_INTS, pads: NONNEG_INTS, strides: POSITIVE_INTS };

/** Conv's attributes, shared by the quantised convolutions (QLinearConv, ConvInteger). */
export const CONV_ATTRS: Attrs = { ...WINDOW, dilations: POSITIVE_INTS, group: { type: 'int', min: 1 } };

/** Attributes of the legacy (opset < 7) broadcasting binary ops. */
export const LEGACY_BROADCAST: Attrs = { broadcast: BOOL_INT, axis: 'int' };
