import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HealthReport {
  /** `ready` accepts work; `draining` is shutting down; `closed` is gone. */
  state: 'ready' | 'draining' | 'closed';
  protocol: number;
  version: string;
  connections: number;
  uptimeMs: number;
  memory: { rssBytes: number; heapUsedBytes: number };
}

/**
 * Plain HTTP for orchestrators: `GET /health` (liveness: 200 while the process serves) and `GET /ready` (200 only
 * while the broker accepts connections and its engine is open; 503 while it drains). Nothing else is served.
 */
export class HealthEndpoint {
  private constructor(private readonly server: Server) {}

  static async start(host: string, port: number, report: () => HealthReport): Promise<HealthEndpoint> {
    const server = createServer((request, response) => {
      const path = (request.url ?? '').split('?')[0];
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (path !== '/health' && path !== '/ready') {
        response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"try /health or /ready"}');
        return;
      }
      const current = report();
      const ok = path === '/health' ? current.state !== 'closed' : current.state === 'ready';
      response
        .writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(JSON.stringify({ status: ok ? (path === '/health' ? 'ok' : 'ready') : current.state, ...current }));
    });
    // Probes are tiny; a peer that holds a request open is not one.
    server.headersTimeout = 5_000;
    server.requestTimeout = 5_000;
    server.keepAliveTimeout = 1_000;
    server.maxConnections = 64;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new HealthEndpoint(server);
  }

  get address(): { host: string; port: number } {
    const info = this.server.address() as AddressInfo;
    return { host: info.address, port: info.port };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
