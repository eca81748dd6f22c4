import * as net from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 that a test owns: it forwards to `target` until `cut()`, which closes every open
 * connection and refuses new ones (they are accepted and dropped at once) until `restore()`. It lets a test make a
 * shared server unreachable for its own clients without touching the server. (For a path that goes silent without
 * closing, see `TcpProxy.freeze()` in tcp-proxy.ts.)
 */
export class CuttableTcpProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private isCut = false;
  /** Connections accepted while the proxy was open. */
  connections = 0;
  /** Connections dropped at once because the proxy was cut: how often a client tried meanwhile. */
  refusals = 0;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<number> {
    this.server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  /** The URL of `url`, pointed at this proxy. */
  urlFor(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.toString().replace(/\/$/, '');
  }

  get cutNow(): boolean {
    return this.isCut;
  }

  /** Drops every connection now and every new one until restore(). */
  cut(): void {
    this.isCut = true;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  restore(): void {
    this.isCut = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private accept(client: net.Socket): void {
    if (this.isCut) {
      this.refusals++;
      client.destroy();
      return;
    }
    this.connections++;
    const upstream = net.connect(this.target);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
