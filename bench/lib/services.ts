import * as net from 'node:net';

export type ServiceName = 'postgres' | 'redis' | 'rabbitmq';

export const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const RABBITMQ_URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

const URLS: Record<ServiceName, { url: string; port: number }> = {
  postgres: { url: POSTGRES_URL, port: 5432 },
  redis: { url: REDIS_URL, port: 6379 },
  rabbitmq: { url: RABBITMQ_URL, port: 5672 },
};

function probe(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (ok: boolean): void => {
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

/** Which services answer a TCP connection on the addresses of their URLs. */
export async function probeServices(): Promise<Record<ServiceName, boolean>> {
  const entries = await Promise.all(
    (Object.keys(URLS) as ServiceName[]).map(async (name) => {
      const parsed = new URL(URLS[name].url);
      const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
      const port = parsed.port === '' ? URLS[name].port : Number(parsed.port);
      return [name, await probe(host, port)] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<ServiceName, boolean>;
}
