/** Message -> the fields of it the library's decoder reads (camelCase). */
export const KEEP: Readonly<Record<string, readonly string[]>>;
/** The protobufjs JSON of onnx.proto (`pbjs -t json`) cut to KEEP: a new object, the input untouched. */
export function trimOnnxJson(json: unknown): Record<string, unknown>;
