import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashConsolePassword } from '@reliable-mq/console';
import { runReliableMqMigrations } from '@reliable-mq/nestjs';
import { DataSource } from 'typeorm';
import { BrokerProcess, TEST_BROKER_TOKEN } from '../support/broker-process';
import { consoleStarted, runConsole, type ConsoleRun } from './standalone-console-kit';

export const OUTAGE_PASSWORD = 'outage password for the operator';

/**
 * A broker process and `npm run console` on it (BROKER_URL), with a service database holding what an outage
 * leaves behind: a dead and a stuck outbox row, and half messages kept in the database (as the framework keeps
 * them on RabbitMQ). `stopBroker` and `startBroker` cut and bring back the broker on the same port.
 */
export interface BrokerOutage {
  base: string;
  origin: string;
  broker: BrokerProcess;
  stopBroker(): Promise<void>;
  startBroker(): Promise<void>;
  close(): Promise<void>;
}

export async function startBrokerOutage(): Promise<BrokerOutage> {
  const dir = mkdtempSync(join(tmpdir(), 'rmq-console-outage-'));
  const ordersFile = join(dir, 'orders.sqlite');
  const dataSource = await new DataSource({ type: 'better-sqlite3', database: ordersFile }).initialize();
  await runReliableMqMigrations(dataSource);
  const old = Date.now() - 3_600_000;
  await dataSource.query(
    `INSERT INTO rmq_outbox (id, producer_group, topic, msg_key, headers, payload, status, attempts, next_attempt_at, created_at, last_error)
     VALUES ('0190a000-0000-7000-8000-000000000001', 'orders', 'order.created', 'o-1', '{}', '{"card":"4000000000000002"}', 'dead', 20, 0, ?, 'refused'),
            ('0190a000-0000-7000-8000-000000000002', 'orders', 'order.created', 'o-2', '{}', '{}', 'pending', 3, 0, ?, 'broker unreachable')`,
    [old, old],
  );
  for (const [txId, state] of [
    ['0190a000-0000-7000-8000-0000000000a1', 'unresolved'],
    ['0190a000-0000-7000-8000-0000000000a2', 'discarded'],
  ] as const) {
    await dataSource.query(
      `INSERT INTO rmq_half_message (tx_id, message_id, producer_group, topic, msg_key, headers, payload, state, check_count, next_check_at, sent_at)
       VALUES (?, ?, 'orders', 'order.created', 'o-3', '{}', '{}', ?, 0, 0, ?)`,
      [txId, txId.replace(/a(\d)$/, 'b$1'), state, old],
    );
  }
  await dataSource.destroy();

  const usersFile = join(dir, 'users.json');
  writeFileSync(
    usersFile,
    JSON.stringify([
      { username: 'olga', passwordHash: await hashConsolePassword(OUTAGE_PASSWORD, { cost: 10 }), role: 'operator' },
    ]),
  );
  let broker = await BrokerProcess.start({ dataDir: join(dir, 'broker') });
  const port = broker.port;
  const children: ChildProcess[] = [];
  const run: ConsoleRun = runConsole(
    [],
    {
      CONSOLE_PORT: '0',
      BROKER_URL: broker.url,
      BROKER_TOKEN: TEST_BROKER_TOKEN,
      SERVICE_DATABASES: `orders=sqlite:${ordersFile}`,
      CONSOLE_USERS_FILE: usersFile,
      CONSOLE_TOKENS_FILE: '',
      CONSOLE_STORE: join(dir, 'console.sqlite'),
    },
    children,
  );
  try {
    await consoleStarted(run);
  } catch (error) {
    await broker.kill();
    throw error;
  }
  const base = /ReliableMQ console: (\S+)/.exec(run.output())![1]!;
  const outage: BrokerOutage = {
    base,
    origin: new URL(base).origin,
    broker,
    async stopBroker() {
      await broker.kill();
      await broker.exited;
    },
    async startBroker() {
      broker = await BrokerProcess.start({ dataDir: join(dir, 'broker'), port });
      outage.broker = broker;
    },
    async close() {
      if (run.child.exitCode === null && run.child.signalCode === null) {
        run.child.kill('SIGTERM');
        const stopped = await Promise.race([
          run.exited.then(() => true),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 10_000)),
        ]);
        if (!stopped) run.child.kill('SIGKILL');
      }
      if (broker.running) await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return outage;
}
