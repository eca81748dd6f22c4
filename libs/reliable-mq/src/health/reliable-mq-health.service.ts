import { Inject, Injectable } from '@nestjs/common';
import { parseDuration } from '@reliable-mq/engine';
import { RELIABLE_MQ_OPTIONS, RELIABLE_MQ_TRANSPORT } from '../constants';
import { ConsumerRunner } from '../consuming/consumer-runner.service';
import { MIGRATIONS_TABLE, reliableMqMigrations, type ReliableMqDatabaseType } from '../migrations';
import { BacklogMonitor } from '../observability/backlog-monitor.service';
import { OutboxRelayService } from '../outbox/outbox-relay.service';
import { outboxDialect } from '../outbox/outbox-dialect';
import type { ResolvedReliableMqOptions } from '../reliable-mq-options.resolver';
import type { Transport } from '../transport/transport.interface';

/** One check's verdict and what it looked at, for a health endpoint's body. */
export interface ReliableMqHealthReport {
  healthy: boolean;
  details: Record<string, string | number | boolean | null>;
}

/**
 * What an orchestrator asks of ReliableMQ, without `@nestjs/terminus` (`@reliable-mq/nestjs/health` turns these into
 * terminus indicators):
 * - `liveness()`: the relay and the consumers run. They run from the application's bootstrap to its shutdown; a
 *   process in which they stopped otherwise should be restarted.
 * - `readiness()`: the transport holds its broker connection, and the framework's tables are in place (migrated).
 * - `outboxAge(maxAge)`: no outbox row has waited longer than `maxAge` to be sent, so a relay that cannot send, for
 *   whatever reason, is seen before the backlog is large.
 * Reads of the database and the broker are shared with the metrics and made at most once per
 * `metrics.readIntervalMs`, so probes can come as often as they like.
 */
@Injectable()
export class ReliableMqHealth {
  private schemaReady = false;

  constructor(
    @Inject(RELIABLE_MQ_OPTIONS) private readonly options: ResolvedReliableMqOptions,
    @Inject(RELIABLE_MQ_TRANSPORT) private readonly transport: Transport,
    private readonly relay: OutboxRelayService,
    private readonly consumers: ConsumerRunner,
    private readonly monitor: BacklogMonitor,
  ) {}

  liveness(): ReliableMqHealthReport {
    const relay = this.relay.relay;
    const consumers = this.consumers.status();
    const relayState = relay === null ? 'disabled' : relay.running ? 'running' : 'stopped';
    return {
      healthy: relayState !== 'stopped' && consumers.running,
      details: {
        relay: relayState,
        consumers: consumers.running ? 'running' : 'stopped',
        handlers: consumers.handlers,
        handlersWaitingForBroker: consumers.waiting,
      },
    };
  }

  async readiness(): Promise<ReliableMqHealthReport> {
    // The transport's own state is known at once; the relay's status reads the outbox, so it is shared for
    // metrics.readIntervalMs, and read afresh when it disagrees with the transport (the broker just left or came back).
    const transportUp = this.transport.isConnected !== false;
    let relay = await this.monitor.relayStatus().catch(() => undefined);
    if (relay && relay.transportConnected !== transportUp)
      relay = await this.monitor.relayStatus(true).catch(() => undefined);
    const connected = transportUp && relay?.transportConnected !== false;
    const details: ReliableMqHealthReport['details'] = { transport: this.transport.kind, connected };
    if (relay) {
      details.disconnectedSince =
        relay.disconnectedSince === null ? null : new Date(relay.disconnectedSince).toISOString();
      details.rowsHeldForBroker = relay.rowsHeldForBroker;
    }
    let schema = true;
    if (this.options.dataSource) {
      try {
        await this.checkSchema();
        details.schema = 'migrated';
      } catch (error) {
        schema = false;
        details.schema = (error as Error)?.message ?? String(error);
      }
    }
    return { healthy: connected && schema, details };
  }

  /** Fails when the oldest outbox row not sent yet is older than `maxAge` (ms, or a string such as `'5m'`). */
  async outboxAge(maxAge: number | string): Promise<ReliableMqHealthReport> {
    const maxAgeMs = parseDuration(maxAge, 'maxAge');
    let backlog;
    try {
      backlog = await this.monitor.outbox();
    } catch (error) {
      return { healthy: false, details: { error: (error as Error)?.message ?? String(error), maxAgeMs } };
    }
    if (!backlog) return { healthy: true, details: { outbox: 'none', maxAgeMs } };
    const ageMs =
      backlog.oldestPendingCreatedAt === null ? 0 : Math.max(0, Date.now() - backlog.oldestPendingCreatedAt);
    return {
      healthy: ageMs <= maxAgeMs,
      details: { pending: backlog.pending, oldestPendingAgeMs: ageMs, maxAgeMs, dead: backlog.dead },
    };
  }

  /**
   * The outbox table answers the relay's kind of query, and with `runMigrations` every framework migration is
   * recorded. Once true it stays true: a schema does not go back.
   */
  private async checkSchema(): Promise<void> {
    if (this.schemaReady) return;
    const dataSource = this.options.dataSource!;
    if (!dataSource.isInitialized) throw new Error('the DataSource is not initialised');
    await this.monitor.outbox();
    if (this.options.runMigrations) {
      const dialect = outboxDialect(dataSource);
      const schema = dialect.name === 'postgres' ? (dataSource.options as { schema?: string }).schema : undefined;
      const table = schema
        ? `${dialect.quote(schema)}.${dialect.quote(MIGRATIONS_TABLE)}`
        : dialect.quote(MIGRATIONS_TABLE);
      const rows = (await dataSource.query(`SELECT COUNT(*) AS n FROM ${table}`)) as Array<{ n: number | string }>;
      const expected = reliableMqMigrations(dataSource.options.type as ReliableMqDatabaseType).length;
      const recorded = Number(rows[0]?.n ?? 0);
      if (recorded < expected) throw new Error(`${expected - recorded} framework migration(s) not applied`);
    }
    this.schemaReady = true;
  }
}
