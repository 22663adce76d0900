/**
 * HiResCAM (Draelos & Carin, 2020; pytorch-grad-cam's HiResCAM): the gradient multiplies the
 * activation element-wise instead of being averaged first, map = ReLU(Σ_k ∂y_c/∂A_k ⊙ A_k), so
 * the map shows where the score's first-order change comes from. One forward, one backward.
 */
import { gradientProductSumProgram } from '../kernels/cam.js';
import { defineGradientCam, type CamOptions } from './cams.js';

/** HiResCAM of one image and class (options as Grad-CAM: `layers`, `classIndex`); see the file comment. */
export const hiResCam = defineGradientCam<CamOptions>('hirescam', (k, cmd) => {
  cmd.run(gradientProductSumProgram(k.ctx, k.channels, k.pixels, false), { inputs: [k.A, k.G], outputs: [k.cam] });
});
