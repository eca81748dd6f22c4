import { connect } from 'amqplib';
import { RABBITMQ_URL } from './service-probe';

/**
 * Deletes queues and exchanges on the test RabbitMQ, ignoring the ones already gone. Each deletion runs on its own
 * channel, since a failed one closes the channel it ran on.
 */
export async function deleteRabbitMqObjects(
  objects: { queues?: Iterable<string>; exchanges?: Iterable<string> },
  url: string = RABBITMQ_URL,
): Promise<void> {
  const connection = await connect(url);
  connection.on('error', () => undefined);
  try {
    for (const queue of new Set(objects.queues ?? [])) {
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      await channel.deleteQueue(queue).catch(() => undefined);
      await channel.close().catch(() => undefined);
    }
    for (const exchange of new Set(objects.exchanges ?? [])) {
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      await channel.deleteExchange(exchange).catch(() => undefined);
      await channel.close().catch(() => undefined);
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/**
 * Queues and exchanges whose name starts with `prefix`, read with `rabbitmqctl`: for removing what a test that
 * failed half-way declared without recording it.
 */
export async function listRabbitMqObjectsWithPrefix(
  prefix: string,
): Promise<{ queues: string[]; exchanges: string[] }> {
  const { execFile } = await import('node:child_process');
  const list = (what: 'list_queues' | 'list_exchanges'): Promise<string[]> =>
    new Promise((resolve, reject) => {
      execFile('rabbitmqctl', [what, '-q', '--no-table-headers', 'name'], { timeout: 30_000 }, (error, stdout) => {
        if (error) reject(error);
        else
          resolve(
            stdout
              .split('\n')
              .map((line) => line.trim())
              .filter((name) => name.startsWith(prefix)),
          );
      });
    });
  return { queues: await list('list_queues'), exchanges: await list('list_exchanges') };
}
