export { DataError, readArrayFile, arrayFromJson, matrixFromText, type NdArray } from './files.js';
export { MODALITY_SPECS, modalitySpec, type ModalitySpec, type ReadOptions, type TokenizerConfig } from './modalities.js';
export { loadDataset, targetColumn, type LoadedDataset, type RawSample, type DatasetFormat, type DatasetOptions } from './datasets.js';
export {
  OmniModel, OmniTask, buildModel, buildHead, defaultHead, resolveEncoder, readEncoderFile,
  type RunConfig, type EncoderSpec, type HeadConfig, type TargetConfig, type OmniSample,
} from './model.js';
export {
  trainRun, evalRun, predictRun, embedRun, encodeRun, loadRun, sortLabels, CONFIG_FILE, REPORT_FILE,
  type TrainRunOptions, type TrainRunResult, type RunReport, type EvalRunResult, type RunPrediction, type EmbedRunOptions,
} from './run.js';
export { exportRunOnnx, prepareRunInputs, type ExportRunOptions, type ExportRunResult, type ExportSidecar, type PreparedBatch, type PreparedTensor, type PrepareRunInputsOptions, type TensorSpec } from './export.js';
