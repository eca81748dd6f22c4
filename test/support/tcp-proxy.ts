import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a server, for tests of broken paths. `freeze()` stops forwarding on the connections open
 * now without closing them (a half-open path, as after a network partition); new connections work again.
 */
export class TcpProxy {
  private readonly pairs = new Set<{ client: Socket; upstream: Socket; frozen: boolean }>();

  private constructor(private readonly server: Server) {}

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server);
    server.on('connection', (client) => {
      const upstream = connect({ port: targetPort, host: targetHost });
      const pair = { client, upstream, frozen: false };
      proxy.pairs.add(pair);
      client.on('data', (chunk) => {
        if (!pair.frozen) upstream.write(chunk);
      });
      upstream.on('data', (chunk) => {
        if (!pair.frozen) client.write(chunk);
      });
      const end = (): void => {
        if (pair.frozen) return; // A frozen path carries no news either, closes included.
        proxy.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', end);
      upstream.on('close', end);
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `reliable-mq://127.0.0.1:${this.port}`;
  }

  /** Silences every connection open now, in both directions, without closing it. */
  freeze(): number {
    let count = 0;
    for (const pair of this.pairs) {
      if (!pair.frozen) count++;
      pair.frozen = true;
    }
    return count;
  }

  async close(): Promise<void> {
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
