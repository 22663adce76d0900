/**
 * LayerCAM (Jiang et al., IEEE TIP 2021; pytorch-grad-cam's LayerCAM): every activation is
 * weighted by its own positive gradient, map = ReLU(Σ_k ReLU(∂y_c/∂A_k) ⊙ A_k), then up-sampled
 * and min-max normalised like every gradient CAM. One forward and one backward pass.
 */
import { gradientProductSumProgram } from '../kernels/cam.js';
import { defineGradientCam, type CamOptions } from './cams.js';

/** LayerCAM of one image and class (options as Grad-CAM: `layers`, `classIndex`); see the file comment. */
export const layerCam = defineGradientCam<CamOptions>('layercam', (k, cmd) => {
  cmd.run(gradientProductSumProgram(k.ctx, k.channels, k.pixels, true), { inputs: [k.A, k.G], outputs: [k.cam] });
});
