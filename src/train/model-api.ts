import type { Tensor, MemoryFormat } from '../tensor/index.js';
import type { LoadReport, LoadStateDictOptions } from '../nn/index.js';

/** What the fit loop needs from a model (the ResNet family in src/models implements it). */
export interface TrainableModel {
  readonly name: string;
  readonly training: boolean;
  train(): void;
  eval(): void;
  forward(x: Tensor): Tensor;
  parameters(): Tensor[];
  /** Parameters and buffers under torchvision's state-dict keys; the live tensors, not copies. */
  stateDict(): Map<string, Tensor>;
  loadStateDict(source: ReadonlyMap<string, Tensor>, options?: LoadStateDictOptions): LoadReport;
  toMemoryFormat(format: MemoryFormat): void;
  dispose(): void;
}
