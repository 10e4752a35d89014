/**
 * The report engine: pure report functions over event and interval lists, their loaders through
 * the storage interface, CSV, and the reference-004 log-file export. Pages, downloads, the CLI and
 * scheduled delivery import from here only (README.md in this folder lists the API).
 */
export * from './calendar.js';
export * from './pairing.js';
export * from './averages.js';
export * from './usage.js';
export * from './csv.js';
export * from './load.js';
export * from './logfiles.js';
export * from './selections.js';
export * from './intervals.js';
export * from './concurrency.js';
export * from './heatmap.js';
export * from './denials.js';
export * from './users.js';
export * from './active.js';
export * from './harvest.js';
export * from './processes.js';
export * from './work.js';
export * from './offline.js';
export * from './loaders.js';
export * from './tables.js';
export * from './alerts.js';
export * from './delivery.js';
