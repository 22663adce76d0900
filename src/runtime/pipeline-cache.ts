/**
 * Compute pipelines keyed by WGSL source and entry point, so every batch size and every node with the
 * same kernel variant shares one pipeline. Dawn compiles at first dispatch, so fewer distinct
 * sources also means fewer slow first runs on software adapters.
 */
export class PipelineCache {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly sourceByPipeline = new Map<GPUComputePipeline, { wgsl: string; entryPoint: string }>();
  constructor(private readonly device: GPUDevice) {}

  get(wgsl: string, entryPoint = 'main'): GPUComputePipeline {
    const key = `${entryPoint}\u0000${wgsl}`;
    let p = this.pipelines.get(key);
    if (!p) {
      let module = this.modules.get(wgsl);
      if (!module) {
        module = this.device.createShaderModule({ code: wgsl });
        this.modules.set(wgsl, module);
      }
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint } });
      this.pipelines.set(key, p);
      this.sourceByPipeline.set(p, { wgsl, entryPoint });
    }
    return p;
  }

  get size(): number { return this.pipelines.size; }
  /** Every WGSL source compiled so far (for dumping). */
  sources(): string[] { return [...this.modules.keys()]; }
  /** The WGSL and entry point a pipeline of this cache was compiled from. */
  sourceOf(pipeline: GPUComputePipeline): { wgsl: string; entryPoint: string } | undefined { return this.sourceByPipeline.get(pipeline); }
}
