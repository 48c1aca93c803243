/** postbox/metrics: Prometheus metrics and health endpoints for a relay (loads prom-client). */
export { createRelayMetrics } from './relay-metrics.js';
export type { RelayMetrics, RelayMetricsOptions } from './relay-metrics.js';
export { startMetricsServer } from './server.js';
export type { MetricsServer, MetricsServerOptions } from './server.js';
export type { HealthReport, RelayHealth, RelayState } from './health.js';
