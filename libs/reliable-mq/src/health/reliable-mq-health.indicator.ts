import { Injectable } from '@nestjs/common';
import type { HealthIndicatorResult } from '@nestjs/terminus';
import { ReliableMqHealth, type ReliableMqHealthReport } from './reliable-mq-health.service';

/**
 * ReliableMQ's checks as `@nestjs/terminus` indicators, for `HealthCheckService.check([...])`:
 *
 *     @Get('ready') @HealthCheck()
 *     ready() { return this.health.check([() => this.mq.readiness('reliable-mq')]); }
 *
 * Each resolves `{ [key]: { status: 'up' | 'down', ...details } }`; terminus answers 503 when one is down. Terminus 11
 * and 12 read a `down` result as a failure; nothing here is thrown.
 */
@Injectable()
export class ReliableMqHealthIndicator {
  constructor(private readonly health: ReliableMqHealth) {}

  /** Up while the relay and the consumers run. */
  async liveness<Key extends string>(key: Key): Promise<HealthIndicatorResult<Key>> {
    return result(key, this.health.liveness());
  }

  /** Up while the transport holds its broker connection and the framework's tables are migrated. */
  async readiness<Key extends string>(key: Key): Promise<HealthIndicatorResult<Key>> {
    return result(key, await this.health.readiness());
  }

  /** Down when the oldest outbox row not sent yet has waited longer than `maxAge` (ms, or a string such as `'5m'`). */
  async outboxAge<Key extends string>(
    key: Key,
    options: { maxAge: number | string },
  ): Promise<HealthIndicatorResult<Key>> {
    return result(key, await this.health.outboxAge(options.maxAge));
  }
}

function result<Key extends string>(key: Key, report: ReliableMqHealthReport): HealthIndicatorResult<Key> {
  return { [key]: { status: report.healthy ? 'up' : 'down', ...report.details } } as HealthIndicatorResult<Key>;
}
