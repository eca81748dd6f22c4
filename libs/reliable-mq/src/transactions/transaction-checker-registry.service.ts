import { Inject, Injectable } from '@nestjs/common';
import { EscapingLogger } from '../logging/escaping-logger';
import { messageLogFields } from '../logging/message-log-fields';
import { isTransactionOutcome, type HalfMessage, type TransactionOutcome } from '@reliable-mq/engine';
import { RELIABLE_MQ_OPTIONS, RELIABLE_MQ_TRANSPORT } from '../constants';
import { ConfigurationError } from '../errors';
import { TransactionalTelemetry } from '../observability/transactional-telemetry';
import type { ResolvedReliableMqOptions } from '../reliable-mq-options.resolver';
import type { Transport } from '../transport/transport.interface';
import { TransactionCheckerExplorer, type DiscoveredChecker } from './transaction-checker-explorer.service';
import type { TransactionCheckContext } from './transaction-checker-options.interface';

/**
 * Registers the discovered checkers on the transport after bootstrap, one registration per producer group (this
 * app is one live instance of it), and unregisters them at shutdown. A checkback goes to the checker of the
 * message's topic, else to the group's checker without a topic.
 */
@Injectable()
export class TransactionCheckerRegistry {
  private readonly logger = new EscapingLogger('ReliableMqTransactions');
  private unregisters: Array<() => Promise<void>> = [];
  private started = false;
  private readonly telemetry: TransactionalTelemetry;

  constructor(
    private readonly explorer: TransactionCheckerExplorer,
    @Inject(RELIABLE_MQ_TRANSPORT) private readonly transport: Transport,
    @Inject(RELIABLE_MQ_OPTIONS) options?: ResolvedReliableMqOptions,
  ) {
    this.telemetry = new TransactionalTelemetry({
      transportKind: transport.kind,
      processSpan: options?.tracing.processSpan,
    });
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const checkers = this.explorer.explore();
    if (checkers.length === 0) return;
    const operations = this.transport.transactions;
    if (!operations) {
      throw new ConfigurationError(
        `@TransactionChecker ${checkers.map((checker) => checker.name).join(', ')} cannot be registered: the "${this.transport.kind}" transport has no transactional messages.`,
      );
    }
    const byGroup = new Map<string, DiscoveredChecker[]>();
    for (const checker of checkers)
      byGroup.set(checker.producerGroup, [...(byGroup.get(checker.producerGroup) ?? []), checker]);
    for (const [group, list] of byGroup) {
      this.unregisters.push(
        await operations.registerChecker(
          group,
          (half) => this.telemetry.checkback(half, () => this.answer(group, list, half)) as Promise<TransactionOutcome>,
        ),
      );
      this.logger.log(
        `${list.map((checker) => checker.name).join(', ')} answer checkbacks for producer group "${group}"`,
      );
    }
  }

  /** Stops answering checkbacks; other live instances of the group, or a later start, answer instead. */
  async stop(): Promise<void> {
    const unregisters = this.unregisters;
    this.unregisters = [];
    for (const unregister of unregisters) {
      try {
        await unregister();
      } catch (error) {
        this.logger.warn(`Could not unregister a transaction checker: ${(error as Error)?.message ?? String(error)}`);
      }
    }
  }

  get registered(): number {
    return this.unregisters.length;
  }

  private async answer(group: string, checkers: DiscoveredChecker[], half: HalfMessage): Promise<TransactionOutcome> {
    const checker =
      checkers.find((candidate) => candidate.topic === half.topic) ??
      checkers.find((candidate) => candidate.topic === undefined);
    if (!checker) {
      this.logger.warn(
        `No @TransactionChecker of producer group "${group}" answers for topic "${half.topic}"; answered unknown. Add one with { topic: "${half.topic}" }.` +
          messageLogFields({ id: half.messageId, topic: half.topic, key: half.key, headers: half.headers }),
      );
      return 'unknown';
    }
    let payload: unknown;
    try {
      payload = JSON.parse(half.body.toString('utf8'));
    } catch {
      this.logger.warn(
        `${checker.name}: the message has no JSON payload; answered unknown.` +
          messageLogFields({ id: half.messageId, topic: half.topic, key: half.key, headers: half.headers }),
      );
      return 'unknown';
    }
    const ctx: TransactionCheckContext = {
      txId: half.txId,
      messageId: half.messageId,
      producerGroup: half.producerGroup,
      topic: half.topic,
      key: half.key,
      tags: half.tags,
      headers: half.headers,
      sentAt: half.sentAt,
      checkCount: half.checkCount,
    };
    const method = (checker.instance as Record<string, (payload: unknown, ctx: TransactionCheckContext) => unknown>)[
      checker.methodName
    ]!;
    try {
      const outcome = await method.call(checker.instance, payload, ctx);
      if (isTransactionOutcome(outcome)) return outcome;
      this.logger.warn(
        `${checker.name} answered ${JSON.stringify(outcome) ?? 'undefined'}; expected "commit", "rollback" or "unknown". Counted as unknown.` +
          messageLogFields({ id: half.messageId, topic: half.topic, key: half.key, headers: half.headers }),
      );
    } catch (error) {
      this.logger.warn(
        `${checker.name} failed (check ${half.checkCount}): ${(error as Error)?.message ?? String(error)}. Counted as unknown.` +
          messageLogFields({ id: half.messageId, topic: half.topic, key: half.key, headers: half.headers }),
      );
    }
    return 'unknown';
  }
}
