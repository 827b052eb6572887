// The typed tensor API over libtorch. Everything above this layer imports from here only.
export { Tensor, DTYPES, isFloatingDType, hostReadCount } from './tensor.js';
export type { DType, MemoryFormat, AnyTypedArray, Scalar } from './tensor.js';
export {
  tensor, zeros, ones, full, empty, zerosLike, onesLike, arange, rand, randn, randint, randperm, bernoulli,
  normal_, uniform_, cat, stack, where, oneHot, uploadTensor,
} from './factory.js';
export type { CreateOptions, RandomOptions } from './factory.js';
export { Generator, manualSeed } from './random.js';
export { tidy, keep, disposeAll, liveTensorCount } from './scope.js';
export { noGrad, isGradEnabled, setGradEnabled } from './autograd.js';
export {
  setNumThreads, getNumThreads, cudaAvailable, cudaDeviceCount, cpuSupportsBf16, cpuCapability, engineInfo, resolveDevice, releaseFreeHostMemory,
  defaultThreads, withAutocast, setCudnnBenchmark, setDeterministic, cudaDevices, deviceSupportsBf16, synchronize, deviceBusy, deviceSpin, formatCudaVersion, formatCudnnVersion,
} from './runtime.js';
export type { EngineInfo, AutocastOptions, CudaDevice } from './runtime.js';
export { init, engineLoaded, setConvWeightGrad, convWeightGrad, CONV_WEIGHT_GRAD_ENV, blasThreads, setBlasThreads, BLAS_THREAD_ENVS } from './native.js';
export type { ConvWeightGrad, ConvWeightGradSource, BlasThreadsSource } from './native.js';
export * as F from './functional.js';
export { ProcessGroup, GradientReducer, distributedSupport, backendFor, backendProblem } from './distributed.js';
export type { ProcessGroupOptions, GradientReducerOptions, DistributedSupport, DistBackend, ReduceOp } from './distributed.js';
export { Optimizer, SGD, Adam, AdamW, clipGradNorm, clipGradNormPerParam, gradsFinite } from './optim.js';
export type { OptimizerState, SGDOptions, AdamOptions, StepOptions } from './optim.js';
export { profileOps } from './profile.js';
export { ScriptModule, setData } from './script-module.js';
export type { ScriptTensor } from './script-module.js';
export type { OpTime } from './profile.js';
