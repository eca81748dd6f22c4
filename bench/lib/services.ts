import * as net from 'node:net';

export type ServiceName = 'postgres' | 'redis' | 'rabbitmq' | 'nats';

export const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const RABBITMQ_URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
/** A NATS server with JetStream on (scenario 13); the harness only reads it and creates streams named after the run. */
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

const URLS: Record<ServiceName, { url: string; port: number }> = {
  postgres: { url: POSTGRES_URL, port: 5432 },
  redis: { url: REDIS_URL, port: 6379 },
  rabbitmq: { url: RABBITMQ_URL, port: 5672 },
  nats: { url: NATS_URL, port: 4222 },
};

/** Host and port of a service's URL, with the service's usual port when the URL has none. */
export function serviceAddress(name: ServiceName): { host: string; port: number } {
  const parsed = new URL(URLS[name].url);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = parsed.port === '' ? URLS[name].port : Number(parsed.port);
  return { host, port };
}

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
      const { host, port } = serviceAddress(name);
      return [name, await probe(host, port)] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<ServiceName, boolean>;
}
