import { connect } from 'amqplib';
import { Redis } from 'ioredis';
import { postgresAdminQuery } from './databases';
import { natsServerInfo } from './nats-server';
import { RABBITMQ_URL, REDIS_URL, serviceAddress, type ServiceName } from './services';

const withTimeout = <T>(promise: Promise<T>, ms: number): Promise<T> =>
  Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timed out')), ms).unref())]);

/** Server versions of the reachable services, for the machine description; best effort. */
export async function serviceVersions(
  available: Readonly<Record<ServiceName, boolean>>,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  if (available.postgres) {
    try {
      const rows = await withTimeout(
        postgresAdminQuery<Array<{ v: string; fsync: string; sc: string }>>(
          "SELECT current_setting('server_version') AS v, current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sc",
        ),
        5000,
      );
      const row = rows[0]!;
      out.PostgreSQL = `${row.v} (fsync=${row.fsync}, synchronous_commit=${row.sc}), same machine`;
    } catch (error) {
      out.PostgreSQL = `reachable, version unknown (${(error as Error).message})`;
    }
  } else out.PostgreSQL = 'not reachable';
  if (available.redis) {
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await withTimeout(redis.connect(), 3000);
      const info = await redis.info('server');
      const persistence = await redis.config('GET', 'appendonly').catch(() => ['appendonly', '?']);
      out.Redis = `${/redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown'} (appendonly=${(persistence as string[])[1]}), same machine`;
    } catch (error) {
      out.Redis = `reachable, version unknown (${(error as Error).message})`;
    } finally {
      redis.disconnect();
    }
  } else out.Redis = 'not reachable';
  if (available.rabbitmq) {
    try {
      const connection = await withTimeout(connect(RABBITMQ_URL), 5000);
      const props = connection.connection.serverProperties as Record<string, unknown>;
      out.RabbitMQ = `${String(props.version ?? 'unknown')} (${String(props.platform ?? 'platform unknown')}), same machine`;
      await connection.close();
    } catch (error) {
      out.RabbitMQ = `reachable, version unknown (${(error as Error).message})`;
    }
  } else out.RabbitMQ = 'not reachable';
  if (available.nats) {
    const { host, port } = serviceAddress('nats');
    try {
      const info = await natsServerInfo(host, port, 3000);
      out.NATS = `${info.version} (JetStream ${info.jetstream ? 'on' : 'off'}), same machine`;
    } catch (error) {
      out.NATS = `reachable, version unknown (${(error as Error).message})`;
    }
  } else out.NATS = 'not reachable';
  return out;
}
