/**
 * webgpu-xai: the browser-safe public surface. Node users import 'webgpu-xai/node', which adds
 * device acquisition through Dawn and file reading.
 */
export * from './runtime/errors.js';
export { createGpuContext, type GpuContext, type DeviceOptions } from './runtime/device.js';
export type { HostTensor, DType } from './runtime/tensor.js';
export { Model, loadModel, type LoadOptions, type RunOptions, type RunResult, type Feed } from './runtime/model.js';
export type { ValueInfo } from './runtime/graph.js';
export type { ExecutionPlan, GpuTensor } from './runtime/plan.js';
export { profileTable, chromeTrace, type Profile, type KernelTiming, type OpTimeRow } from './runtime/profiler.js';
export { preprocessImage, PRESETS, guessPreset, type RgbaImage, type Preprocessing, type PresetName, type ImageTransform, type PreparedImage } from './xai/preprocess.js';
export { explainImage, METHODS, type MethodOptions } from './xai/explain.js';
export { sise, adaSise, selectChannels, type SiseOptions } from './xai/sise.js';
export { gradCam, gradCamPlusPlus, scoreCam, type CamOptions, type GradCamPlusPlusOptions } from './xai/cams.js';
export { detectBlocks, type BlockLayer } from './xai/blocks.js';
export { mapToOriginal, type Explanation, type SaliencyMap, type LayerMap } from './xai/explanation.js';
export type { Progress, CommonOptions } from './xai/session.js';
export type { ScoreMode } from './kernels/score.js';
export { GradientPlan, type GradientOptions } from './runtime/reverse.js';
