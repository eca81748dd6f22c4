import * as net from 'node:net';

/** The real services that integration tests run against, on loopback. */
export type ServiceName = 'postgres' | 'mariadb' | 'redis' | 'rabbitmq';

export const SERVICE_NAMES: readonly ServiceName[] = ['postgres', 'mariadb', 'redis', 'rabbitmq'];

export const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const MARIADB_URL = process.env.MARIADB_URL ?? 'mysql://root@127.0.0.1:3306/test';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const RABBITMQ_URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

export type ServiceAvailability = Readonly<Record<ServiceName, boolean>>;

declare module 'vitest' {
  // Filled once per run by services-global-setup.ts and read synchronously with inject().
  export interface ProvidedContext {
    reliableMqServices: ServiceAvailability;
  }
}

export interface ServiceEndpoint {
  readonly service: ServiceName;
  readonly label: string;
  readonly host: string;
  readonly port: number;
}

const SERVICES: Readonly<Record<ServiceName, { label: string; url: string; defaultPort: number }>> = {
  postgres: { label: 'PostgreSQL', url: POSTGRES_URL, defaultPort: 5432 },
  mariadb: { label: 'MariaDB', url: MARIADB_URL, defaultPort: 3306 },
  redis: { label: 'Redis', url: REDIS_URL, defaultPort: 6379 },
  rabbitmq: { label: 'RabbitMQ', url: RABBITMQ_URL, defaultPort: 5672 },
};

/** Where a service is expected, read from its connection URL so that overriding the URL also moves the probe. */
export function serviceEndpoint(service: ServiceName): ServiceEndpoint {
  const { label, url, defaultPort } = SERVICES[service];
  const parsed = new URL(url);
  // URL keeps the brackets of an IPv6 literal, which net.connect does not accept.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = parsed.port === '' ? defaultPort : Number(parsed.port);
  return { service, label, host, port };
}

export function describeEndpoint(endpoint: ServiceEndpoint): string {
  return `${endpoint.label} on ${endpoint.host}:${endpoint.port}`;
}

/** Resolves true when a TCP connection to host:port opens within `timeoutMs`; never rejects. */
export function probeTcp(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (reachable: boolean): void => {
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(reachable);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

/** Probes every service in parallel, so a run with all of them down waits one timeout, not four. */
export async function probeServices(timeoutMs = 1_000): Promise<ServiceAvailability> {
  const results = await Promise.all(
    SERVICE_NAMES.map(async (service) => {
      const { host, port } = serviceEndpoint(service);
      return [service, await probeTcp(host, port, timeoutMs)] as const;
    }),
  );
  return Object.fromEntries(results) as Record<ServiceName, boolean>;
}
