/**
 * An HTTP endpoint for a relay (node:http): GET /metrics (Prometheus text format), /healthz
 * (liveness) and /readyz (readiness), both JSON with 200 or 503. Used by `postbox relay
 * --metrics-port`; embed it in your own relay process the same way.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { ConnectionPool } from '../db/queryable.js';
import { toError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Relay } from '../relay/relay.js';
import { createRelayMetrics, type RelayMetricsOptions } from './relay-metrics.js';

export interface MetricsServerOptions extends Pick<RelayMetricsOptions, 'prefix' | 'statusMaxAgeMs' | 'perTopic' | 'defaultMetrics'> {
  readonly relay: Relay;
  readonly pool: ConnectionPool;
  readonly schema: string;
  /** 0 picks a free port (see MetricsServer.port). */
  readonly port: number;
  /** Interface to listen on. Default: every interface (Node's default). */
  readonly host?: string;
  readonly logger?: Logger;
  /** Default: a registry of its own. */
  readonly registry?: Registry;
}

export interface MetricsServer {
  /** The port listened on (the one chosen when 0 was asked). */
  readonly port: number;
  /** Stops listening, closes open connections and unsubscribes the metrics from the relay. */
  close(): Promise<void>;
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { relay, pool, schema, port, host, logger, registry, ...rest } = options;
  if (!Number.isSafeInteger(port) || port < 0 || port > 65_535) {
    throw new RangeError(`startMetricsServer: port must be an integer from 0 to 65535, got ${String(port)}`);
  }
  const metrics = createRelayMetrics(relay, { pool, schema, ...(registry === undefined ? {} : { registry }), ...(logger === undefined ? {} : { logger }), ...rest });

  async function respond(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?', 1)[0];
    if (path !== '/metrics' && path !== '/healthz' && path !== '/readyz') return send(response, 404, 'text/plain', 'not found: try /metrics, /healthz or /readyz\n');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      return send(response, 405, 'text/plain', 'method not allowed\n');
    }
    if (path === '/metrics') return send(response, 200, metrics.registry.contentType, await metrics.metrics(), request.method === 'HEAD');
    const report = path === '/healthz' ? metrics.health.liveness() : await metrics.health.readiness();
    return send(response, report.ok ? 200 : 503, 'application/json', `${JSON.stringify(report)}\n`, request.method === 'HEAD');
  }

  const server = createServer((request, response) => {
    respond(request, response).catch((error: unknown) => {
      logger?.warn('metrics server: request failed', { url: request.url, error: toError(error) });
      if (!response.headersSent) send(response, 500, 'text/plain', `internal error: ${toError(error).message}\n`);
      else response.destroy();
    });
  });
  server.on('clientError', (_error, socket) => socket.destroy());

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, ...(host === undefined ? {} : { host }) }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    metrics.close();
    const err = toError(error);
    throw new Error(`metrics server: cannot listen on ${host ?? '*'}:${port}: ${err.message}`, { cause: err });
  }
  server.on('error', (error) => logger?.warn('metrics server error', { error }));
  const bound = (server.address() as AddressInfo).port;
  logger?.info('metrics server listening', { host: host ?? '*', port: bound, paths: ['/metrics', '/healthz', '/readyz'] });

  let closing: Promise<void> | undefined;
  return {
    port: bound,
    close() {
      closing ??= new Promise<void>((resolve) => {
        metrics.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function send(response: ServerResponse, status: number, contentType: string, body: string, headOnly = false): void {
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  response.end(headOnly ? undefined : body);
}
