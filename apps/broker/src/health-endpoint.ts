import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** Whole request, headers included; a probe needs microseconds. */
const HEADERS_TIMEOUT_MS = 2_000;
/** Connections held at once, in all and per remote address; past them the oldest is closed (see below). */
const MAX_CONNECTIONS = 64;
const MAX_CONNECTIONS_PER_ADDRESS = 16;

export interface HealthReport {
  /** `ready` accepts work; `draining` is shutting down; `closed` is gone. */
  state: 'ready' | 'draining' | 'closed';
  protocol: number;
  version: string;
  connections: number;
  uptimeMs: number;
  memory: { rssBytes: number; heapUsedBytes: number };
}

/** Answers `GET /metrics` (Prometheus' text format). */
export type MetricsHandler = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * Plain HTTP for orchestrators: `GET /health` (liveness: 200 while the process serves) and `GET /ready` (200 only
 * while the broker accepts connections and its engine is open; 503 while it drains), and `GET /metrics` for
 * Prometheus when a handler is given. Nothing else is served.
 */
export class HealthEndpoint {
  private constructor(private readonly server: Server) {}

  static async start(
    host: string,
    port: number,
    report: () => HealthReport,
    metrics?: MetricsHandler,
  ): Promise<HealthEndpoint> {
    const server = createServer(
      {
        // Node checks these timeouts only this often (30 s by default): half-sent requests would hold their
        // connections, and with them the probes' room, for that long.
        connectionsCheckingInterval: 250,
        headersTimeout: HEADERS_TIMEOUT_MS,
        requestTimeout: HEADERS_TIMEOUT_MS,
        keepAliveTimeout: 1_000,
        maxHeaderSize: 8 * 1024,
      },
      (request, response) => {
        const path = (request.url ?? '').split('?')[0];
        if (request.method !== 'GET' && request.method !== 'HEAD') {
          response.writeHead(405, { allow: 'GET, HEAD', connection: 'close' }).end();
          return;
        }
        if (path === '/metrics' && metrics) {
          metrics(request, response);
          return;
        }
        if (path !== '/health' && path !== '/ready') {
          response
            .writeHead(404, { 'content-type': 'application/json' })
            .end(`{"error":"try /health, /ready${metrics ? ' or /metrics' : ''}"}`);
          return;
        }
        const current = report();
        const ok = path === '/health' ? current.state !== 'closed' : current.state === 'ready';
        response
          .writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' })
          .end(JSON.stringify({ status: ok ? (path === '/health' ? 'ok' : 'ready') : current.state, ...current }));
      },
    );
    // A probe sends its request at once and is answered within a millisecond, so when connections are too many the
    // oldest gives way: peers that hold connections open (half-sent requests, idle keep-alives) can never leave a
    // probe without room, as a plain cap on connections would. Per address first, so that one abusive peer churns
    // only its own connections, never a probe's from elsewhere.
    const open = new Map<Socket, string>();
    const perAddress = new Map<string, Set<Socket>>();
    const drop = (socket: Socket): void => {
      const address = open.get(socket);
      if (address === undefined) return;
      open.delete(socket);
      const own = perAddress.get(address);
      own?.delete(socket);
      if (own?.size === 0) perAddress.delete(address);
    };
    server.on('connection', (socket: Socket) => {
      const address = socket.remoteAddress ?? 'unknown';
      const own = perAddress.get(address);
      const oldest =
        own && own.size >= MAX_CONNECTIONS_PER_ADDRESS
          ? own.values().next().value
          : open.size >= MAX_CONNECTIONS
            ? open.keys().next().value
            : undefined;
      if (oldest) {
        drop(oldest);
        oldest.destroy();
      }
      open.set(socket, address);
      perAddress.set(address, (perAddress.get(address) ?? new Set<Socket>()).add(socket));
      socket.once('close', () => drop(socket));
    });
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
