/** Typed errors: every failure the library reports on bad input or a broken device is one of these. */
export class XaiError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
/** The ONNX bytes could not be decoded (truncated, corrupted, not ONNX). */
export class ModelFormatError extends XaiError {}
/** The graph uses operators this engine does not implement; every such node is listed. */
export class UnsupportedOperatorError extends XaiError {
  constructor(readonly nodes: { opType: string; name: string; domain: string; opset?: number }[]) {
    const byType = new Map<string, string[]>();
    for (const n of nodes) {
      // Op, domain and opset: what a user needs to find the op's definition and an alternative.
      const t = (n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.` : '') + n.opType
        + (n.opset !== undefined ? ` (domain ${n.domain && n.domain !== 'ai.onnx' ? n.domain : 'ai.onnx'}, opset ${n.opset})` : '');
      byType.set(t, [...(byType.get(t) ?? []), n.name]);
    }
    const parts = [...byType].map(([t, names]) =>
      `${t} at ${names.length === 1 ? 'node' : `${names.length} nodes`} ${names.slice(0, 4).map((x) => `'${x}'`).join(', ')}${names.length > 4 ? ', ...' : ''}`);
    super(`unsupported operator${byType.size > 1 ? 's' : ''}: ${parts.join('; ')}`);
  }
}
/** The graph is well-formed ONNX but inconsistent (shapes that cannot match, missing values). */
export class GraphError extends XaiError {}
/** A caller passed an input of the wrong shape, dtype or name. */
export class InputError extends XaiError {}
/** The GPU device was lost or reported a validation / out-of-memory error. */
export class DeviceError extends XaiError {}
/** A long operation was cancelled through its AbortSignal. */
export class CancelledError extends XaiError {}
/**
 * A plan at this batch would exceed a device limit (a storage binding, a buffer, a dispatch
 * dimension). Not a user-facing failure on its own: the runtime catches it and splits the batch.
 */
export class BatchTooLargeError extends GraphError {}
