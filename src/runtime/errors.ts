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
  constructor(readonly nodes: { opType: string; name: string; domain: string }[]) {
    const types = [...new Set(nodes.map((n) => (n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.` : '') + n.opType))];
    super(`unsupported operator${types.length > 1 ? 's' : ''} ${types.join(', ')} at node${nodes.length > 1 ? 's' : ''} ` +
      nodes.map((n) => `'${n.name}' (${n.opType})`).join(', '));
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
