import { randomUUID } from 'node:crypto';
import { loadOptionalDependency } from '@reliable-mq/engine';
import type * as IoRedis from 'ioredis';
import type { EntityManager } from 'typeorm';
import { DedupBusyError } from '../errors/dedup-busy.error';
import { DedupUnavailableError } from '../errors/dedup-unavailable.error';
import { DedupCounterSet } from './dedup-counter-set';
import { DEFAULT_DONE_TTL_MS, DEFAULT_PROCESSING_TTL_MS, resolveDedupDuration } from './dedup-duration';
import type { DedupLogger } from './dedup-logger.interface';
import type { RedisDedupClient } from './redis-dedup-client.interface';
import type { DedupCounters, DedupOutcome, DedupStore } from './dedup-store.interface';
import { CLAIM_SCRIPT, DONE_VALUE, MARK_DONE_SCRIPT, PROCESSING_PREFIX, RELEASE_SCRIPT } from './redis-dedup.scripts';

interface RedisDedupStoreSettings {
  /** How long a claim lasts if its run never finishes (crash): make it longer than your slowest handler. Default 5 min. */
  processingTtlMs?: number | string;
  /** The dedup window. Default 7 days. */
  doneTtlMs?: number | string;
  /** Default `rmq:dedup:`. Keys are `<prefix><group>:<key>`. */
  keyPrefix?: string;
  /** Bound on each Redis command, so that an unreachable Redis fails a delivery in seconds. Default 2 s. */
  commandTimeoutMs?: number | string;
  /** Name of the store's own connection in `CLIENT LIST`. Default `reliable-mq-dedup`. */
  connectionName?: string;
  logger?: DedupLogger;
}

/**
 * Either a URL, and the store creates, owns and closes its client; or your client, which `close()` leaves open.
 */
export type RedisDedupStoreOptions = RedisDedupStoreSettings &
  ({ url: string; client?: undefined } | { client: RedisDedupClient; url?: undefined });

export const DEFAULT_REDIS_KEY_PREFIX = 'rmq:dedup:';
const DEFAULT_COMMAND_TIMEOUT_MS = 2_000;
const DEFAULT_CONNECTION_NAME = 'reliable-mq-dedup';

/**
 * Dedup on Redis with two states per key: `PROCESSING:<token>` (claimed with `SET NX PX`, expires after
 * `processingTtlMs`) and `DONE` (expires after `doneTtlMs`). A run records DONE, or releases its claim on failure,
 * only while it still owns the claim, so a run that outlived its claim cannot undo a newer one.
 *
 * The group is percent-encoded in the key (`encodeURIComponent`), so a `:` in a group cannot make two
 * (group, key) pairs meet; group names the engine accepts are unchanged except for `%`.
 *
 * When DONE cannot be recorded after `work` succeeded, `execute` still resolves `processed` and logs a warning:
 * the effect happened, and failing would only make a retry run it again once the claim expires.
 */
export class RedisDedupStore implements DedupStore {
  readonly kind = 'redis' as const;
  private readonly client: RedisDedupClient;
  private readonly ownsClient: boolean;
  private readonly processingTtlMs: number;
  private readonly doneTtlMs: number;
  private readonly commandTimeoutMs: number;
  private readonly keyPrefix: string;
  private readonly logger: DedupLogger | undefined;
  private readonly totals = new DedupCounterSet();
  private closed = false;

  constructor(options: RedisDedupStoreOptions) {
    this.processingTtlMs = resolveDedupDuration(options.processingTtlMs, DEFAULT_PROCESSING_TTL_MS, 'processingTtlMs');
    this.doneTtlMs = resolveDedupDuration(options.doneTtlMs, DEFAULT_DONE_TTL_MS, 'doneTtlMs');
    this.commandTimeoutMs = resolveDedupDuration(
      options.commandTimeoutMs,
      DEFAULT_COMMAND_TIMEOUT_MS,
      'commandTimeoutMs',
    );
    this.keyPrefix = options.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX;
    this.logger = options.logger;
    if (options.client !== undefined) {
      this.client = options.client;
      this.ownsClient = false;
    } else {
      this.client = this.createClient(options.url, options.connectionName ?? DEFAULT_CONNECTION_NAME);
      this.ownsClient = true;
    }
  }

  get counters(): DedupCounters {
    return this.totals.snapshot();
  }

  /** The Redis key of a (group, key) pair; exposed for operators' tools and tests. */
  redisKeyOf(group: string, key: string): string {
    return `${this.keyPrefix}${encodeURIComponent(group)}:${key}`;
  }

  async execute(
    group: string,
    key: string,
    work: (manager: EntityManager | undefined) => Promise<void>,
  ): Promise<DedupOutcome> {
    if (this.closed) throw new DedupUnavailableError('redis', new Error('the store is closed'));
    const redisKey = this.redisKeyOf(group, key);
    const claim = PROCESSING_PREFIX + randomUUID();

    const reply = await this.claim(redisKey, claim);
    if (reply !== 1) {
      if (reply === DONE_VALUE) {
        this.totals.duplicate();
        return 'duplicate';
      }
      if (typeof reply === 'string' && reply.startsWith(PROCESSING_PREFIX)) {
        this.totals.busy();
        throw new DedupBusyError(group, key);
      }
      throw new DedupUnavailableError(
        'redis',
        new Error(`key "${redisKey}" holds an unexpected value ${JSON.stringify(reply)}`),
      );
    }

    try {
      await work(undefined);
    } catch (error) {
      await this.release(redisKey, claim);
      throw error;
    }
    await this.markDone(redisKey, claim);
    this.totals.processed();
    return 'processed';
  }

  /** Quits the client when the store created it; a client passed in stays open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.ownsClient) return;
    if (this.client.status === 'ready') {
      try {
        await this.bounded(this.client.quit(), 'QUIT');
        return;
      } catch {
        // fall through to a hard disconnect
      }
    }
    this.client.disconnect();
  }

  private async claim(redisKey: string, claim: string): Promise<unknown> {
    const pending = this.client.eval(CLAIM_SCRIPT, 1, redisKey, claim, String(this.processingTtlMs));
    try {
      return await this.bounded(pending, 'the claim');
    } catch (error) {
      // A claim that times out here may still be applied later; give it back then, or it would block the key
      // until processingTtlMs although nobody runs the handler.
      pending.then(
        (reply) => (reply === 1 ? this.release(redisKey, claim) : undefined),
        () => undefined,
      );
      throw new DedupUnavailableError('redis', error);
    }
  }

  private async release(redisKey: string, claim: string): Promise<void> {
    try {
      await this.bounded(this.client.eval(RELEASE_SCRIPT, 1, redisKey, claim), 'the release');
    } catch (error) {
      this.logger?.warn(
        `Could not release dedup key "${redisKey}" after the handler failed (${messageOf(error)}); ` +
          `redeliveries are refused as busy until it expires in ${this.processingTtlMs} ms.`,
      );
    }
  }

  private async markDone(redisKey: string, claim: string): Promise<void> {
    try {
      const set = await this.bounded(
        this.client.eval(MARK_DONE_SCRIPT, 1, redisKey, claim, String(this.doneTtlMs)),
        'recording DONE',
      );
      if (set !== 1) {
        this.logger?.warn(
          `Dedup key "${redisKey}" was claimed by another delivery while this one ran: the handler outlived ` +
            `processingTtlMs (${this.processingTtlMs} ms) and may have run twice. Raise processingTtlMs.`,
        );
      }
    } catch (error) {
      this.logger?.warn(
        `The handler succeeded but DONE could not be recorded for dedup key "${redisKey}" (${messageOf(error)}); ` +
          `a redelivery after ${this.processingTtlMs} ms would run it again.`,
      );
    }
  }

  private bounded<T>(pending: Promise<T>, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Redis did not answer ${what} within ${this.commandTimeoutMs} ms`)),
        this.commandTimeoutMs,
      );
      pending.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  private createClient(url: string, connectionName: string): RedisDedupClient {
    const { Redis } = loadOptionalDependency<typeof IoRedis>(
      'ioredis',
      'The Redis dedup store (dedup.store "redis")',
      () => require('ioredis'),
    );
    const client = new Redis(url, {
      connectionName,
      // Queued commands fail after one failed reconnect instead of the default twenty.
      maxRetriesPerRequest: 1,
      connectTimeout: this.commandTimeoutMs,
      commandTimeout: this.commandTimeoutMs,
      retryStrategy: (attempt: number) => Math.min(attempt * 100, 2_000),
    });
    // Every command reports its own failure; the listener keeps ioredis from printing each reconnect error.
    let reported = false;
    client.on('error', (error: unknown) => {
      if (reported) return;
      reported = true;
      this.logger?.warn(`Redis dedup connection failed: ${messageOf(error)}`);
    });
    client.on('ready', () => {
      reported = false;
    });
    return client;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
