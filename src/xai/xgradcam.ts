/**
 * XGrad-CAM (Fu et al., BMVC 2020; pytorch-grad-cam's XGradCAM): channel weights are the
 * gradients averaged with the activations' own spatial weights, w_k = Σ_ij A_k,ij·∂y_c/∂A_k,ij /
 * (Σ_ij A_k,ij + 1e-7), map = ReLU(Σ_k w_k A_k). One forward, one backward.
 */
import { weightedChannelSumProgram, xGradCamWeightsProgram } from '../kernels/cam.js';
import { defineGradientCam, type CamOptions } from './cams.js';

/** XGrad-CAM of one image and class (options as Grad-CAM: `layers`, `classIndex`); see the file comment. */
export const xGradCam = defineGradientCam<CamOptions>('xgradcam', (k, cmd) => {
  const w = k.alloc([k.channels], 'xgradcam-weights');
  cmd.run(xGradCamWeightsProgram(k.ctx, k.channels, k.pixels), { inputs: [k.A, k.G], outputs: [w] });
  cmd.run(weightedChannelSumProgram(k.ctx, k.channels, k.pixels, true), { inputs: [k.A, w], outputs: [k.cam] });
});
