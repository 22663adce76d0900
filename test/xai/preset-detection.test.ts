/**
 * Preprocessing found from the model: Caffe-style inputs (`data_0`, as the shared and built-in
 * SqueezeNet have) get the caffe preset, MNIST-shaped inputs mnist, anything else torchvision's
 * ImageNet convention (not "confident"); an explicit preset wins, and one that contradicts a
 * confident guess warns once per model and preprocessing.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PRESETS, presetForModel, preprocessingMismatch, resolvePreprocessing } from '../../src/xai/preprocess.js';

const caffeModel = { inputs: [{ name: 'data_0', shape: [1, 3, 224, 224] }] };
const torchModel = { inputs: [{ name: 'input', shape: ['batch', 3, 'height', 'width'] }] };
const mnistModel = { inputs: [{ name: 'Input3', shape: [1, 1, 28, 28] }] };

describe('preset detection', () => {
  afterEach(() => vi.restoreAllMocks());

  it('finds the convention from the model input and sizes it to the input', () => {
    expect(presetForModel(caffeModel)).toMatchObject({ name: 'caffe', confident: true, preprocessing: { ...PRESETS.caffe } });
    expect(presetForModel(mnistModel)).toMatchObject({ name: 'mnist', confident: true });
    const t = presetForModel(torchModel);
    expect(t).toMatchObject({ name: 'imagenet', confident: false });
    expect(t.preprocessing).toMatchObject({ size: 224, channels: 'rgb' }); // symbolic H: the preset's own size
    expect(presetForModel({ inputs: [{ name: 'x', shape: [1, 3, 160, 160] }] }).preprocessing).toMatchObject({ size: 160, resize: 183 });
  });

  it('uses the found preset when none is given; an explicit one wins, and one that contradicts the model warns once', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect(resolvePreprocessing(caffeModel)).toEqual({ ...PRESETS.caffe });
    expect(resolvePreprocessing(caffeModel, 'caffe')).toEqual({ ...PRESETS.caffe });
    expect(warn).not.toHaveBeenCalled();
    const model = { ...caffeModel };
    expect(resolvePreprocessing(model, PRESETS.imagenet)).toBe(PRESETS.imagenet);
    resolvePreprocessing(model, PRESETS.imagenet);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/'caffe' convention that model input 'data_0'.*PRESETS\.caffe/);
    resolvePreprocessing(model, 'imagenet');
    expect(warn).toHaveBeenCalledTimes(1); // same values as PRESETS.imagenet: already said
  });

  it('warns through the given function instead, and only once with it or the default', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const model = { ...caffeModel };
    const mine: string[] = [];
    resolvePreprocessing(model, PRESETS.imagenet, (m) => mine.push(m));
    resolvePreprocessing(model, PRESETS.imagenet);
    expect(mine).toHaveLength(1);
    expect(warn).not.toHaveBeenCalled();
  });

  it('says nothing where the model names no convention, or where the values agree with it', () => {
    expect(preprocessingMismatch(torchModel, PRESETS.caffe)).toBeUndefined();
    expect(preprocessingMismatch(caffeModel, { ...PRESETS.caffe, size: 227, resize: 256 })).toBeUndefined();
    expect(preprocessingMismatch(caffeModel, { ...PRESETS.caffe, channels: 'rgb' })).toMatch(/differs/);
    expect(preprocessingMismatch(mnistModel, { ...PRESETS.mnist, divisor: 255 })).toMatch(/'mnist' convention/);
  });
});
