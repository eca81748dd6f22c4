import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { AuditLog } from '../audit/audit-log.service';
import { LoginThrottle } from '../auth/login-throttle.service';
import { SessionService } from '../auth/session.service';
import { CONSOLE_OPTIONS, CONSOLE_STORE } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import type { ConsoleStore } from '../store/console-store';
import { OverviewService, type OverviewView } from './overview.service';

export type SeriesKind = 'lag' | 'consume' | 'publish' | 'dlq' | 'outbox-stuck' | 'outbox-dead' | 'halves';

export interface SeriesPoint {
  at: number;
  value: number;
}

export interface Series {
  /** `<kind>:<name>`, e.g. `lag:payment-service|order.created`. */
  series: string;
  kind: SeriesKind;
  name: string;
  points: SeriesPoint[];
}

/** Points per series returned for a chart; longer ranges are averaged into this many buckets. */
const MAX_POINTS = 240;

/**
 * Samples backlog, rates and problem counts into the console store on a timer, for the overview charts. Retention
 * is bounded twice: by age (`sampling.retention`) and by row count (`sampling.maxRows`, oldest first). The same
 * timer prunes expired sessions and old audit entries.
 */
@Injectable()
export class MetricsSampler implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('ReliableMqConsole');
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;
  private lastError: string | undefined;

  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    @Inject(CONSOLE_STORE) private readonly store: ConsoleStore,
    private readonly overview: OverviewService,
    private readonly sessions: SessionService,
    private readonly audit: AuditLog,
    private readonly throttle: LoginThrottle,
  ) {}

  onApplicationBootstrap(): void {
    const sampling = this.options.sampling;
    if (!sampling) return;
    this.timer = setInterval(() => void this.tick(), sampling.intervalMs);
    this.timer.unref();
    void this.tick();
  }

  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.sampling;
  }

  /** Takes one sample now; resolves when it is stored. */
  async sampleNow(): Promise<void> {
    const view = await this.overview.overview();
    this.record(view);
  }

  record(view: OverviewView): void {
    const rows: Array<[string, number]> = [];
    for (const group of view.groups) {
      const name = `${group.group}|${group.topic}`;
      rows.push(
        [`lag:${name}`, group.lag],
        [`consume:${name}`, group.deliveryRatePerSec],
        [`dlq:${name}`, group.dlqCount],
      );
    }
    for (const topic of view.topics) {
      if (topic.publishRatePerSec !== null) rows.push([`publish:${topic.topic}`, topic.publishRatePerSec]);
    }
    for (const service of view.outbox.services) {
      if (!service.counts) continue;
      rows.push(
        [`outbox-stuck:${service.name}`, service.counts.stuck],
        [`outbox-dead:${service.name}`, service.counts.dead],
      );
    }
    // What the broker could not be asked for is left out, not recorded as zero: the chart shows a gap.
    const { unresolved, discarded } = view.transactions;
    if (view.transactions.supported && unresolved !== null && discarded !== null) {
      rows.push(['halves:unresolved', unresolved], ['halves:discarded', discarded]);
    }
    if (!view.broker.statsAvailable && view.deadLetters.total !== null) rows.push(['dlq:all', view.deadLetters.total]);
    const insert = this.store.db.prepare('INSERT INTO samples (at, series, value) VALUES (?, ?, ?)');
    const at = view.at;
    this.store.db.transaction(() => {
      for (const [series, value] of rows) insert.run(at, series, value);
    })();
    this.prune();
  }

  /** Series of the given kinds over the last `rangeMs`. */
  recent(kinds: readonly SeriesKind[], rangeMs: number): Series[] {
    const now = this.options.now();
    return this.series(kinds, now - rangeMs, now);
  }

  /** Series of the given kinds since `from`, each at most MAX_POINTS points (bucket averages). */
  series(kinds: readonly SeriesKind[], from: number, to: number = this.options.now()): Series[] {
    const bucket = Math.max(1, Math.ceil((to - from) / MAX_POINTS));
    const rows = this.store.db
      .prepare(
        `SELECT series, (at / ?) * ? AS bucket, AVG(value) AS value FROM samples
         WHERE at >= ? AND at <= ? GROUP BY series, bucket ORDER BY series, bucket`,
      )
      .all(bucket, bucket, from, to) as Array<{ series: string; bucket: number; value: number }>;
    const result = new Map<string, Series>();
    for (const row of rows) {
      const index = row.series.indexOf(':');
      const kind = row.series.slice(0, index) as SeriesKind;
      if (!kinds.includes(kind)) continue;
      let entry = result.get(row.series);
      if (!entry) {
        entry = { series: row.series, kind, name: row.series.slice(index + 1), points: [] };
        result.set(row.series, entry);
      }
      entry.points.push({ at: row.bucket, value: Math.round(row.value * 100) / 100 });
    }
    return [...result.values()];
  }

  private prune(): void {
    const sampling = this.options.sampling;
    if (!sampling) return;
    const db = this.store.db;
    db.prepare('DELETE FROM samples WHERE at < ?').run(this.options.now() - sampling.retentionMs);
    const count = (db.prepare('SELECT COUNT(*) AS n FROM samples').get() as { n: number }).n;
    if (count > sampling.maxRows) {
      db.prepare('DELETE FROM samples WHERE rowid IN (SELECT rowid FROM samples ORDER BY at LIMIT ?)').run(
        count - sampling.maxRows,
      );
    }
  }

  private async tick(): Promise<void> {
    if (this.sampling) return;
    this.sampling = (async () => {
      try {
        await this.sampleNow();
        this.sessions.prune();
        this.audit.prune();
        this.throttle.prune();
        if (this.lastError) this.logger.log('Sampling works again.');
        this.lastError = undefined;
      } catch (error) {
        const message = (error as Error).message;
        // One line per distinct failure, not one per interval.
        if (message !== this.lastError) this.logger.warn(`Sampling the overview failed: ${message}`);
        this.lastError = message;
      }
    })();
    await this.sampling;
    this.sampling = undefined;
  }
}
