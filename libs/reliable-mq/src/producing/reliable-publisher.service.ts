import {
  BatchTooLargeError,
  InvalidArgumentError,
  InvalidNameError,
  MessageTooLargeError,
  UnknownTopicError,
  isNonRetryable,
  validateName,
} from '@reliable-mq/engine';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import type { IsolationLevel } from 'typeorm/driver/types/IsolationLevel';
import { ConfigurationError } from '../errors/configuration.error';
import { NoActiveTransactionError } from '../errors/no-active-transaction.error';
import { singleConnectionLockFor } from '../dedup/serial-lock';
import { MessagingTelemetry } from '../observability/messaging-telemetry';
import { TransactionalTelemetry } from '../observability/transactional-telemetry';
import { insertOutboxRows } from '../outbox/insert-outbox-rows';
import type { Transport } from '../transport/transport.interface';
import { MessageSerializer, toTransportMessage } from './message-serializer';
import { OutboxCommitWaker } from './outbox-commit-waker';
import type { OutgoingMessage } from './outgoing-message.interface';
import { sendInTransaction, type LocalTransaction, type TransactionalSendResult } from './transactional-send';

export interface ReliablePublisherInit {
  /** Needed by `transaction()`; `publish()` works with the manager it is given. */
  dataSource?: DataSource;
  /** Used by `send()` only. */
  transport: Transport;
  /** This service's producer group, recorded on every outbox row. */
  producerGroup: string;
  /** Largest serialised payload. Default 1 MiB. */
  maxPayloadBytes?: number;
  /** Called after a transaction that wrote outbox rows commits: the local relay's `wake()`. */
  wakeRelay?: () => void;
  /** Retries of `send()`. Default 3 attempts, backoff 100 ms doubling up to 1 s. */
  sendRetry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number };
  /** Source of epoch ms for ids and delays. */
  clock?: () => number;
}

export interface PublishOptions {
  /** The EntityManager of the transaction that writes your business data. */
  manager: EntityManager;
}

export interface TransactionOptions {
  isolationLevel?: IsolationLevel;
}

/** Errors a second attempt cannot fix; `send()` gives up on them at once. */
function isPermanent(error: unknown): boolean {
  return (
    isNonRetryable(error) ||
    error instanceof InvalidNameError ||
    error instanceof UnknownTopicError ||
    error instanceof MessageTooLargeError ||
    error instanceof BatchTooLargeError ||
    error instanceof InvalidArgumentError
  );
}

/**
 * Publishes messages.
 *
 * `publish(…, { manager })` is the reliable path: it writes outbox rows in the caller's transaction, so the message
 * exists exactly when the business change does, and the relay sends it after the commit, however long the broker
 * is away. `send()` is the direct path for messages that need no atomicity with data.
 */
export class ReliablePublisher {
  private readonly dataSource: DataSource | undefined;
  private readonly transport: Transport;
  private readonly producerGroup: string;
  private readonly serializer: MessageSerializer;
  private readonly waker: OutboxCommitWaker;
  private readonly clock: () => number;
  private readonly sendAttempts: number;
  private readonly sendBaseDelayMs: number;
  private readonly sendMaxDelayMs: number;
  private wakeRelayCallback: (() => void) | undefined;
  private readonly telemetry: MessagingTelemetry;
  private transactionalTelemetry: TransactionalTelemetry | undefined;

  constructor(init: ReliablePublisherInit) {
    try {
      validateName('group', init.producerGroup);
    } catch (error) {
      throw new ConfigurationError(`producerGroup: ${(error as Error).message}`);
    }
    this.dataSource = init.dataSource;
    this.transport = init.transport;
    this.producerGroup = init.producerGroup;
    this.clock = init.clock ?? Date.now;
    this.serializer = new MessageSerializer({ maxPayloadBytes: init.maxPayloadBytes, now: this.clock });
    this.wakeRelayCallback = init.wakeRelay;
    this.waker = new OutboxCommitWaker(() => this.wakeRelay());
    this.telemetry = new MessagingTelemetry({ transportKind: init.transport.kind });
    this.sendAttempts = init.sendRetry?.attempts ?? 3;
    this.sendBaseDelayMs = init.sendRetry?.baseDelayMs ?? 100;
    this.sendMaxDelayMs = init.sendRetry?.maxDelayMs ?? 1_000;
    if (!Number.isInteger(this.sendAttempts) || this.sendAttempts < 1) {
      throw new ConfigurationError(`sendRetry.attempts must be a positive integer; got ${String(this.sendAttempts)}.`);
    }
  }

  /** Sets the relay to wake after commits, for wiring where the relay is created after the publisher. */
  setWakeRelay(wake: (() => void) | undefined): void {
    this.wakeRelayCallback = wake;
  }

  /**
   * Writes the message(s) to the outbox in the transaction of `manager` and resolves their ids. Nothing is sent
   * before that transaction commits, and nothing is sent if it rolls back. Every message is checked before any row
   * is written, so a bad message leaves the transaction as it was.
   *
   * @throws NoActiveTransactionError when `manager` is not inside an active transaction.
   * @throws InvalidMessageError, PayloadTooLargeError for a malformed message.
   */
  publish(message: OutgoingMessage, options: PublishOptions): Promise<string>;
  publish(messages: readonly OutgoingMessage[], options: PublishOptions): Promise<string[]>;
  async publish(
    input: OutgoingMessage | readonly OutgoingMessage[],
    options: PublishOptions,
  ): Promise<string | string[]> {
    const queryRunner = activeQueryRunner(options);
    const single = !Array.isArray(input);
    const now = this.clock();
    const serialized = this.serializer.serializeAll(
      single ? [input as OutgoingMessage] : (input as readonly OutgoingMessage[]),
      now,
    );
    // The creation context goes into each row's headers, so the relay's send and the consumers can link back to it.
    const create = this.telemetry.startCreate(serialized, this.producerGroup);
    try {
      await insertOutboxRows(queryRunner, serialized, this.producerGroup, now);
    } catch (error) {
      create.end(error);
      throw error;
    }
    create.end();
    this.waker.track(queryRunner);
    const ids = serialized.map((message) => message.id);
    return single ? ids[0]! : ids;
  }

  /**
   * Runs `work` in a transaction of the configured DataSource and wakes the relay once it has committed.
   * Pass the manager it receives to `publish()`.
   */
  async transaction<T>(work: (manager: EntityManager) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const dataSource = this.dataSource;
    if (!dataSource) {
      throw new ConfigurationError(
        'transaction() needs a dataSource; configure ReliableMqModule with the DataSource that holds the outbox.',
      );
    }
    let runner: QueryRunner | undefined;
    const wrapped = (manager: EntityManager): Promise<T> => {
      runner = manager.queryRunner;
      return work(manager);
    };
    const run = (): Promise<T> =>
      options.isolationLevel === undefined
        ? dataSource.transaction(wrapped)
        : dataSource.transaction(options.isolationLevel, wrapped);
    // On SQLite all transactions share one connection: take turns with the dedup store's handler transactions.
    const lock = singleConnectionLockFor(dataSource);
    const result = lock ? await lock.run(run) : await run();
    // Normally the commit subscriber has woken the relay already and the mark is gone; this covers the rest.
    if (runner && this.waker.take(runner)) this.wakeRelay();
    return result;
  }

  /**
   * Sends directly through the transport and resolves once the broker has confirmed every message, retrying a
   * failed send up to 3 times (100 ms, then 200 ms apart). Re-sent messages keep their ids, so the broker stores
   * each once.
   *
   * What it does not guarantee: the send is not atomic with any database change (a message can go out for a
   * transaction that then rolls back, or be missing for one that commits), and a message whose confirm has not
   * arrived when the process dies, or whose retries are exhausted, is lost. Use `publish()` when that matters.
   */
  send(message: OutgoingMessage): Promise<string>;
  send(messages: readonly OutgoingMessage[]): Promise<string[]>;
  async send(input: OutgoingMessage | readonly OutgoingMessage[]): Promise<string | string[]> {
    const single = !Array.isArray(input);
    const serialized = this.serializer.serializeAll(
      single ? [input as OutgoingMessage] : (input as readonly OutgoingMessage[]),
    );
    this.telemetry.startCreate(serialized, this.producerGroup, false).end();
    const batch = serialized.map(toTransportMessage);
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.telemetry.publish(this.transport, batch, false);
        break;
      } catch (error) {
        if (attempt >= this.sendAttempts || isPermanent(error)) throw error;
        const delay = Math.min(this.sendMaxDelayMs, this.sendBaseDelayMs * 2 ** (attempt - 1));
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
    const ids = serialized.map((message) => message.id);
    return single ? ids[0]! : ids;
  }

  /**
   * A transactional message, for flows whose state cannot hold an outbox row: sends a half message (durable,
   * invisible to consumers), runs `localTransaction`, then commits the message on `commit` or rolls it back on
   * `rollback`. On `unknown` (or a throw, or a crash before the end) the broker checks back with this producer
   * group's `@TransactionChecker`, which answers from local state.
   *
   * @throws InvalidMessageError, PayloadTooLargeError for a malformed message (nothing is sent).
   * @throws TransactionStateError when the broker had already resolved the message the other way.
   */
  sendInTransaction(message: OutgoingMessage, localTransaction: LocalTransaction): Promise<TransactionalSendResult> {
    return sendInTransaction(
      {
        transport: this.transport,
        producerGroup: this.producerGroup,
        serializer: this.serializer,
        retry: { attempts: this.sendAttempts, baseDelayMs: this.sendBaseDelayMs, maxDelayMs: this.sendMaxDelayMs },
        isPermanent,
        telemetry: (this.transactionalTelemetry ??= new TransactionalTelemetry({ transportKind: this.transport.kind })),
      },
      message,
      localTransaction,
    );
  }

  /** Stops listening for commits. */
  close(): void {
    this.waker.detach();
  }

  private wakeRelay(): void {
    try {
      this.wakeRelayCallback?.();
    } catch {
      // A wake is an optimisation; the relay's sweep finds the rows anyway.
    }
  }
}

function activeQueryRunner(options: PublishOptions | undefined): QueryRunner {
  if (typeof options !== 'object' || options === null || !options.manager) {
    throw new NoActiveTransactionError();
  }
  const queryRunner = options.manager.queryRunner;
  if (!queryRunner || queryRunner.isReleased || !queryRunner.isTransactionActive) throw new NoActiveTransactionError();
  return queryRunner;
}
