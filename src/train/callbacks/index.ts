export * from './base.js';
export * from './monitor.js';
export * from './early-stopping.js';
export * from './model-checkpoint.js';
export { CSVLogger, DEFAULT_CSV_COLUMNS, readCsvLog, type CSVLoggerOptions, type CsvLog } from '../csv-logger.js';
export { TensorBoard, type TensorBoardOptions } from '../tensorboard.js';
export { HistoryLogger } from '../history.js';
export { ProgressCallback } from '../progress.js';
export { DivergenceGuard } from '../run-state.js';
