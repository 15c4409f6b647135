/// <reference lib="esnext.disposable" preserve="true" />
/**
 * bpfmap: userspace access to Linux BPF through the bpf(2) syscall.
 * This file is the package's main entry (`bpfmap/testing` is the second). What it exports is
 * src/api.ts (sections following API.md) and the metrics (§11), which use that surface as
 * users do. `npm run docs` builds the API reference from them.
 *
 * @module bpfmap
 */
export * from './api.js';

// §11 Metrics: maps as Prometheus metrics (prom-client), read at scrape time
export { registerMapMetrics } from './metrics/register.js';
export type { MapMetrics, MapMetricsOptions, MetricsRegistry } from './metrics/register.js';
export { DECODERS, MetricsConfigError } from './metrics/config.js';
export type { BucketConfig, DecoderName, LabelConfig, MapMetricsConfig, MetricConfig, SumConfig } from './metrics/config.js';
export type { ObjectMaps } from './metrics/source.js';
