/// <reference types="@webgpu/types" preserve="true" />
/**
 * webgpu-xai: the browser-safe public surface. Node users import 'webgpu-xai/node', which adds
 * device acquisition through Dawn, file reading, image decoding and PNG encoding. Overlays (map
 * over photo, colour maps, colour bar) are in 'webgpu-xai/overlay', metrics in 'webgpu-xai/metrics'.
 */
export * from './runtime/errors.js';
export { createGpuContext, type GpuContext, type DeviceOptions } from './runtime/device.js';
export type { HostTensor, DType } from './runtime/tensor.js';
export { Model, loadModel, type LoadOptions, type RunOptions, type RunResult, type Feed, type KernelSource } from './runtime/model.js';
export type { ValueInfo } from './runtime/graph.js';
export { ExternalDataError, type ExternalDataSource } from './runtime/external-data.js';
export type { BatchPlan, ExecutionPlan, GpuTensor, PlannedDispatch } from './runtime/plan.js';
export type { SplitPlan } from './runtime/split-plan.js';
export type { TuneOptions, TuneReport, TunedGeometry, TuneProgress } from './runtime/tuner.js';
export { localStorageTuningStore, memoryTuningStore, type TuningStore, type TunedChoice } from './runtime/tuning-cache.js';
export { profileTable, chromeTrace, type Profile, type KernelTiming, type OpTimeRow } from './runtime/profiler.js';
export { preprocessImage, PRESETS, guessPreset, presetForInput, presetForModel, preprocessingMismatch, resolvePreprocessing, type RgbaImage, type Preprocessing, type PresetName, type ImageTransform, type PreparedImage, type ModelPreset } from './xai/preprocess.js';
export { explain, explainImage, methodInputs, METHODS, type MethodOptions, type ExplainRequest, type Target } from './xai/explain.js';
export { sise, adaSise, selectChannels, type SiseOptions } from './xai/sise.js';
export { gradCam, gradCamPlusPlus, scoreCam, defineGradientCam, type CamOptions, type GradCamPlusPlusOptions, type CamInputs, type CamRecipe, type GradientCamMethod, type ExplainRow } from './xai/cams.js';
export { layerCam } from './xai/layercam.js';
export { xGradCam } from './xai/xgradcam.js';
export { hiResCam } from './xai/hirescam.js';
export { ExplainSession, PlanLeases } from './xai/session.js';
export { Command, ForwardPass, ScoringPass, GradientPass, type ScoringOptions } from './xai/scoring.js';
export type { PlanLease } from './runtime/plan-cache.js';
export { detectBlocks, type BlockLayer } from './xai/blocks.js';
export { rise, riseParams, type RiseOptions, type RiseExplanation } from './xai/rise.js';
export { iassa, iassaParams, type IassaOptions, type IassaExplanation } from './xai/iassa.js';
export { maskOptimisation, maskOptimisationParams, type MaskOptimisationOptions, type MaskOptimisationExplanation } from './xai/mask-optimisation.js';
export { reconstructionCheck, diffusionInpaintingGenerator, type ReconstructionOptions, type ReconstructionResult, type ReconstructionGenerator } from './xai/reconstruction.js';
export { lime, limeParams, type LimeOptions, type LimeExplanation } from './xai/lime.js';
export { elime, elimeParams, type ElimeOptions, type ElimeExplanation } from './xai/elime.js';
export { quickshift, type QuickshiftOptions } from './xai/quickshift.js';
export type { SuperpixelOptions } from './xai/superpixels.js';
export { modelInputToRgb } from './xai/preprocess.js';
export { mapToOriginal, type Explanation, type SaliencyMap, type LayerMap } from './xai/explanation.js';
export type { Progress, CommonOptions } from './xai/session.js';
export type { ScoreMode } from './kernels/score.js';
export { GradientPlan, type GradientOptions } from './runtime/reverse.js';
