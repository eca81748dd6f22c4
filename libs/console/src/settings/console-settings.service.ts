import { Inject, Injectable } from '@nestjs/common';
import { CONSOLE_OPTIONS, CONSOLE_STORE } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import type { ConsoleStore } from '../store/console-store';

/** Settings an admin may change at run time; the module options give their starting values. */
export interface ConsoleSettings {
  /** An outbox row pending longer than this is "stuck". */
  stuckAfterMs: number;
  /** Rate of a bulk retry when the request gives none (messages per second). */
  defaultRetryRatePerSec: number;
}

export const SETTING_LIMITS = {
  stuckAfterMs: { min: 1_000, max: 30 * 24 * 3_600_000 },
  defaultRetryRatePerSec: { min: 1 },
} as const;

@Injectable()
export class ConsoleSettingsService {
  constructor(
    @Inject(CONSOLE_STORE) private readonly store: ConsoleStore,
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
  ) {}

  get(): ConsoleSettings {
    const rows = this.store.db.prepare('SELECT name, value FROM settings').all() as Array<{
      name: string;
      value: string;
    }>;
    const stored = new Map(rows.map((row) => [row.name, Number(row.value)]));
    const pick = (name: keyof ConsoleSettings, fallback: number): number => {
      const value = stored.get(name);
      return value !== undefined && Number.isFinite(value) ? value : fallback;
    };
    return {
      stuckAfterMs: pick('stuckAfterMs', this.options.stuckAfterMs),
      defaultRetryRatePerSec: Math.min(
        pick('defaultRetryRatePerSec', this.options.retry.defaultRatePerSec),
        this.options.retry.maxRatePerSec,
      ),
    };
  }

  /** Stores the given values; the caller has checked them against SETTING_LIMITS and the options. */
  update(change: Partial<ConsoleSettings>): ConsoleSettings {
    const upsert = this.store.db.prepare('INSERT OR REPLACE INTO settings (name, value) VALUES (?, ?)');
    this.store.db.transaction(() => {
      for (const [name, value] of Object.entries(change)) {
        if (value !== undefined) upsert.run(name, String(value));
      }
    })();
    return this.get();
  }
}
