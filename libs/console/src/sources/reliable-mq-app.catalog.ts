import type { INestApplicationContext } from '@nestjs/common';
import type { ModuleRef } from '@nestjs/core';
import { RELIABLE_MQ_OPTIONS, type DedupOptions } from '@reliable-mq/nestjs';
import { ConsumerExplorer } from '@reliable-mq/nestjs';
import { DEFAULT_DONE_TTL_MS, resolveDedupDuration } from '@reliable-mq/nestjs';
import { DEFAULT_INBOX_RETENTION_MS } from '@reliable-mq/nestjs';
import type { ConsoleConsumerInfo } from '../console-options.interface';

/** Handlers and dedup windows of one application, in the form the console's options take. */
export interface ReliableMqAppCatalog {
  consumers: ConsoleConsumerInfo[];
  /** Per consumer group; `null` when its dedup records never expire. */
  dedupWindows: Record<string, number | null>;
}

type Lookup = Pick<INestApplicationContext, 'get'> | Pick<ModuleRef, 'get'>;

/**
 * Reads the `@MqConsumer` handlers (with their DTO or schema) and the dedup settings of an application that uses
 * ReliableMqModule. An app without it gives an empty catalog. Use it to give a console running in another
 * application the handlers of the services it operates:
 *
 *     ReliableMqConsoleModule.forRoot({ ..., ...mergeCatalogs([describeReliableMqApp(orderApp), describeReliableMqApp(paymentApp)]) })
 */
export function describeReliableMqApp(app: Lookup): ReliableMqAppCatalog {
  let explorer: ConsumerExplorer;
  try {
    explorer = app.get(ConsumerExplorer, { strict: false });
  } catch {
    return { consumers: [], dedupWindows: {} };
  }
  const consumers: ConsoleConsumerInfo[] = explorer.explore().map((handler) => ({
    group: handler.options.group,
    topic: handler.options.topic,
    dto: handler.options.dto,
    schema: handler.options.schema as ConsoleConsumerInfo['schema'],
    handler: handler.name,
  }));
  let dedup: DedupOptions | undefined;
  try {
    dedup = app.get<{ dedup?: DedupOptions }>(RELIABLE_MQ_OPTIONS, { strict: false }).dedup;
  } catch {
    dedup = undefined;
  }
  const window = dedupWindowOf(dedup);
  const dedupWindows: Record<string, number | null> = {};
  if (window !== undefined) for (const consumer of consumers) dedupWindows[consumer.group] = window;
  return { consumers, dedupWindows };
}

/** The dedup window a store keeps done records for; `null` when a `db` store keeps its inbox rows forever. */
export function dedupWindowOf(dedup: DedupOptions | undefined): number | null | undefined {
  if (!dedup) return undefined;
  if (dedup.store === 'db') {
    if (dedup.retentionMs === null) return null;
    return resolveDedupDuration(dedup.retentionMs, DEFAULT_INBOX_RETENTION_MS, 'retentionMs');
  }
  if (dedup.store === 'redis') return resolveDedupDuration(dedup.doneTtlMs, DEFAULT_DONE_TTL_MS, 'doneTtlMs');
  // The memory store keeps done records for the default window (and forgets them all on restart).
  return DEFAULT_DONE_TTL_MS;
}

/** Joins catalogs of several applications; the first one to declare a (group, topic) wins. */
export function mergeCatalogs(catalogs: readonly ReliableMqAppCatalog[]): ReliableMqAppCatalog {
  const consumers: ConsoleConsumerInfo[] = [];
  const seen = new Set<string>();
  const dedupWindows: Record<string, number | null> = {};
  for (const catalog of catalogs) {
    for (const consumer of catalog.consumers) {
      const id = `${consumer.group}\u0000${consumer.topic}`;
      if (seen.has(id)) continue;
      seen.add(id);
      consumers.push(consumer);
    }
    for (const [group, window] of Object.entries(catalog.dedupWindows)) {
      if (!(group in dedupWindows)) dedupWindows[group] = window;
    }
  }
  return { consumers, dedupWindows };
}
