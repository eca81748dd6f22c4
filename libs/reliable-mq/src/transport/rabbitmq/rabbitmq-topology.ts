import { UnknownTopicError } from '@reliable-mq/engine';
import type { Channel, Options } from 'amqplib';
import { TopologyMismatchError } from '../../errors/topology-mismatch.error';
import { TransportError } from '../../errors/transport.error';
import { bounded } from './bounded';
import type { RabbitMqConnection } from './rabbitmq-connection';
import { SLOT_COUNT, type RabbitMqNames } from './rabbitmq-names';
import { NO_HISTORY, type ResolvedHistoryOptions } from './rabbitmq-history-options';
import type { ResolvedRabbitMqOptions } from './rabbitmq-options.resolver';

/** The queues one subscription consumes. */
export interface WorkQueues {
  /** Queue names; one for concurrent and broadcasting subscriptions, `queueCount` for orderly ones. */
  queues: string[];
  /** True for a broadcasting member's own queue, deleted when the member leaves. */
  memberQueue: boolean;
  /** A clustering group's queue did not exist before this declaration: the group is new on the topic. */
  created: boolean;
}

export interface WorkQueueSpec {
  group: string;
  topic: string;
  mode: 'concurrent' | 'orderly';
  groupMode: 'clustering' | 'broadcasting';
  maxReconsumeTimes: number;
  memberId: string;
}

const QUORUM = { 'x-queue-type': 'quorum' } as const;
const REPLICAS_ARG = 'x-quorum-initial-group-size';

/**
 * The replica count an existing queue was declared with, read from RabbitMQ's refusal of another one: `null` for
 * none, undefined when the refusal is about something else.
 */
function existingReplicas(refusal: string): number | null | undefined {
  const match = new RegExp(`inequivalent arg '${REPLICAS_ARG}'.*current is (none|(?:the value )?'(\\d+)')`).exec(
    refusal,
  );
  if (!match) return undefined;
  return match[2] === undefined ? null : Number(match[2]);
}

/** Thrown by a declaration refused only for its replica count; the block is declared again with the queue's own. */
class ReplicasAdopted extends Error {}

/** A declaration block meets at most this many queues whose replica count differs from the configured one. */
const MAX_ADOPTIONS_PER_BLOCK = 8;

/**
 * Declares the broker objects, idempotently, and remembers what it declared on the current connection (a new
 * connection declares again: the broker may have been reset). Every name it ever declared is kept in `declared`,
 * so tests and operators can remove them.
 *
 * - A topic is a durable `topic` exchange; routing keys are slots (see `slotOf`). With `unroutable: 'park'` its
 *   alternate exchange sends messages no queue took to the topic's `unrouted` queue.
 * - With a history (`historyRetention` > 0) a stream bound with `#` keeps every message of the topic for that long,
 *   for groups that subscribe later. Being bound, it also leaves nothing unroutable.
 * - A clustering group has one quorum queue per topic bound with `#` (concurrent), or `queueCount` quorum queues
 *   with single active consumer, queue i bound to the slots s with `s mod queueCount = i` (orderly). A
 *   broadcasting member has its own queue bound with `#`, expiring `broadcastQueueExpiresMs` after its member is
 *   gone.
 * - Work queues dead-letter (at least once) to the group's DLQ when the broker's own delivery limit is reached,
 *   which equals the subscription's `maxReconsumeTimes`.
 * - Retry queues hold a copy for a fixed TTL, then dead-letter it through the default exchange to the work queue
 *   named by its routing key.
 * - Every quorum queue is created with `quorumReplicas` replicas when that is set. The count matters only when a
 *   queue is created, yet RabbitMQ refuses a declaration whose count differs from the existing queue's: such a queue
 *   is declared again with the count it has (and a log line says so), so changing the option, or listing more nodes,
 *   never stops an application on queues that exist.
 */
export class RabbitMqTopology {
  private channel: Channel | null = null;
  private channelGeneration = -1;
  private done = new Set<string>();
  private doneGeneration = -1;
  readonly declared = { exchanges: new Set<string>(), queues: new Set<string>() };
  /** Queues found with another replica count than the configured one (`null`: none), declared with theirs. */
  private readonly existingReplicaCounts = new Map<string, number | null>();

  constructor(
    private readonly connection: RabbitMqConnection,
    private readonly names: RabbitMqNames,
    private readonly options: ResolvedRabbitMqOptions,
    private readonly notice: (message: string) => void = () => undefined,
    private readonly history: ResolvedHistoryOptions = NO_HISTORY,
  ) {}

  get historyEnabled(): boolean {
    return this.history.retentionMs > 0;
  }

  /** Declares the topic's exchange (and its unrouted queue when parking). */
  async ensureTopic(topic: string): Promise<void> {
    const exchange = this.names.topicExchange(topic);
    await this.once(`topic:${topic}`, async (channel) => {
      const args: Options.AssertExchange['arguments'] = {};
      if (this.options.unroutable === 'park') {
        const unrouted = this.names.unrouted(topic);
        this.declared.exchanges.add(unrouted);
        this.declared.queues.add(unrouted);
        await this.assertExchange(channel, unrouted, 'fanout');
        await this.assertQueue(channel, unrouted, { ...QUORUM, ...this.unlimitedDeliveries() });
        await channel.bindQueue(unrouted, unrouted, '');
        args['alternate-exchange'] = unrouted;
      }
      this.declared.exchanges.add(exchange);
      await this.assertExchange(channel, exchange, 'topic', args);
      if (this.historyEnabled) {
        const history = this.names.history(topic);
        this.declared.queues.add(history);
        await this.assertQueue(channel, history, {
          'x-queue-type': 'stream',
          'x-max-age': `${Math.ceil(this.history.retentionMs / 1000)}s`,
          'x-max-length-bytes': this.history.maxBytes,
          'x-stream-max-segment-size-bytes': this.history.segmentBytes,
        });
        await channel.bindQueue(history, exchange, '#');
      }
    });
  }

  /**
   * The marker of a group's unfinished catch-up from the history. It keeps only its newest message, the saved
   * position, so saving never grows it.
   */
  async ensureCatchUpMarker(group: string, topic: string): Promise<string> {
    const queue = this.names.catchUpPending(group, topic);
    await this.once(`queue:${queue}`, async (channel) => {
      this.declared.queues.add(queue);
      await this.assertQueue(channel, queue, {
        ...QUORUM,
        ...this.unlimitedDeliveries(),
        'x-max-length': 1,
        'x-overflow': 'drop-head',
      });
    });
    return queue;
  }

  /** The queue whose existence says a clustering group has consumed the topic before. */
  firstWorkQueue(group: string, topic: string, mode: 'concurrent' | 'orderly'): string {
    if (mode === 'concurrent') return this.names.groupQueue(group, topic);
    const count = this.options.topics.get(topic) ?? this.options.orderlyQueueCount;
    return this.names.orderlyQueue(group, topic, 0, count);
  }

  /** True when the queue exists (declared by this or any other application). */
  async queueExists(queue: string): Promise<boolean> {
    return !(await this.isMissing(queue));
  }

  /** True when the topic's exchange exists (declared by this or any other application). */
  async topicExists(topic: string): Promise<boolean> {
    if (this.known(topic)) return true;
    const model = this.connection.current();
    // A passive declare of a missing exchange closes its channel: use a throwaway one.
    const probe = await model.createChannel();
    probe.on('error', () => undefined);
    try {
      await probe.checkExchange(this.names.topicExchange(topic));
      this.markDone(`exists:${topic}`);
      return true;
    } catch (error) {
      if (/NOT[-_]FOUND|\b404\b/.test(String((error as Error).message))) return false;
      throw new TransportError(`Cannot check topic "${topic}" on RabbitMQ: ${(error as Error).message}`, {
        cause: error,
      });
    } finally {
      await bounded(probe.close(), 2000);
    }
  }

  /** Forgets that a topic exists (its exchange was deleted under us). */
  forgetTopic(topic: string): void {
    this.done.delete(`topic:${topic}`);
    this.done.delete(`exists:${topic}`);
  }

  /** True when every topic is known to exist on the current connection: `requireTopics` would ask nothing. */
  knowsTopics(topics: Iterable<string>): boolean {
    for (const topic of topics) if (!this.known(topic)) return false;
    return true;
  }

  /** Declared or seen to exist on the current connection. */
  private known(topic: string): boolean {
    return this.isDone(`topic:${topic}`) || this.isDone(`exists:${topic}`);
  }

  async requireTopics(topics: Iterable<string>): Promise<void> {
    for (const topic of new Set(topics)) {
      if (!(await this.topicExists(topic))) throw new UnknownTopicError(topic);
    }
  }

  /** The group's DLQ and audit queue. */
  async ensureDeadLetterQueues(group: string): Promise<void> {
    await this.once(`dlq:${group}`, async (channel) => {
      const dlq = this.names.deadLetterQueue(group);
      const audit = this.names.auditQueue(group);
      this.declared.queues.add(dlq);
      this.declared.queues.add(audit);
      await this.assertQueue(channel, dlq, { ...QUORUM, ...this.unlimitedDeliveries() });
      await this.assertQueue(channel, audit, {
        ...QUORUM,
        ...this.unlimitedDeliveries(),
        'x-max-length': this.options.auditMaxLength,
        'x-overflow': 'drop-head',
      });
    });
  }

  /** The queues of one subscription, bound to its topic's exchange. Declares the topic and the group's DLQ too. */
  async ensureWorkQueues(spec: WorkQueueSpec): Promise<WorkQueues> {
    await this.ensureTopic(spec.topic);
    await this.ensureDeadLetterQueues(spec.group);
    const exchange = this.names.topicExchange(spec.topic);
    const base = {
      ...QUORUM,
      'x-delivery-limit': spec.maxReconsumeTimes,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': this.names.deadLetterQueue(spec.group),
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    };
    const what = `group "${spec.group}" on topic "${spec.topic}"`;
    if (spec.groupMode === 'broadcasting') {
      const queue = this.names.memberQueue(spec.group, spec.topic, spec.memberId);
      await this.once(`queue:${queue}`, async (channel) => {
        this.declared.queues.add(queue);
        await this.assertQueue(channel, queue, { ...base, 'x-expires': this.options.broadcastQueueExpiresMs }, what);
        await channel.bindQueue(queue, exchange, '#');
      });
      return { queues: [queue], memberQueue: true, created: false };
    }
    if (spec.mode === 'concurrent') {
      const queue = this.names.groupQueue(spec.group, spec.topic);
      const created = await this.isMissing(queue);
      await this.once(`queue:${queue}`, async (channel) => {
        this.declared.queues.add(queue);
        await this.assertQueue(channel, queue, base, what);
        await channel.bindQueue(queue, exchange, '#');
      });
      return { queues: [queue], memberQueue: false, created };
    }
    const count = this.options.topics.get(spec.topic) ?? this.options.orderlyQueueCount;
    const queues: string[] = [];
    let created = false;
    for (let index = 0; index < count; index++) {
      const queue = this.names.orderlyQueue(spec.group, spec.topic, index, count);
      queues.push(queue);
      if (index === 0) created = await this.isMissing(queue);
      await this.once(`queue:${queue}`, async (channel) => {
        this.declared.queues.add(queue);
        await this.assertQueue(channel, queue, { ...base, 'x-single-active-consumer': true }, what);
        for (let slot = index; slot < SLOT_COUNT; slot += count) await channel.bindQueue(queue, exchange, String(slot));
      });
    }
    return { queues, memberQueue: false, created };
  }

  /**
   * True when the queue does not exist yet. Asked only before this connection declared it: afterwards it exists.
   * A passive declare of a missing queue closes its channel, so it runs on a throwaway one.
   */
  private async isMissing(queue: string): Promise<boolean> {
    if (this.isDone(`queue:${queue}`)) return false;
    const probe = await this.connection.current().createChannel();
    probe.on('error', () => undefined);
    try {
      await probe.checkQueue(queue);
      return false;
    } catch (error) {
      if (/NOT[-_]FOUND|\b404\b/.test(String((error as Error).message))) return true;
      throw new TransportError(`Cannot check queue "${queue}" on RabbitMQ: ${(error as Error).message}`, {
        cause: error,
      });
    } finally {
      await bounded(probe.close(), 2000);
    }
  }

  /** A group's retry queue for one delay, bound to the retry exchange; returns its name. */
  async ensureRetryQueue(group: string, delayMs: number): Promise<string> {
    const queue = this.names.retryQueue(group, delayMs);
    const exchange = this.names.retryExchange();
    await this.once(`retry:${queue}`, async (channel) => {
      this.declared.exchanges.add(exchange);
      this.declared.queues.add(queue);
      await this.assertExchange(channel, exchange, 'headers');
      await this.assertQueue(channel, queue, {
        ...QUORUM,
        'x-message-ttl': delayMs,
        'x-dead-letter-exchange': '',
        'x-dead-letter-strategy': 'at-least-once',
        'x-overflow': 'reject-publish',
      });
      await channel.bindQueue(queue, exchange, '', { 'x-match': 'all', 'rmq-retry-queue': queue });
    });
    return queue;
  }

  /** Deletes a queue this transport declared (a broadcasting member leaving). */
  async deleteQueue(queue: string): Promise<void> {
    await this.withChannel((channel) => channel.deleteQueue(queue));
    this.done.delete(`queue:${queue}`);
  }

  async close(): Promise<void> {
    const channel = this.channel;
    this.channel = null;
    if (channel) await bounded(channel.close(), 2000);
  }

  /** 3.x quorum queues have no delivery limit unless asked; 4.x applies 20 by default, which reads would use up. */
  private unlimitedDeliveries(): Record<string, number> {
    return this.connection.serverMajor >= 4 ? { 'x-delivery-limit': -1 } : {};
  }

  private isDone(key: string): boolean {
    if (this.doneGeneration !== this.connection.generation) {
      this.done = new Set();
      this.doneGeneration = this.connection.generation;
    }
    return this.done.has(key);
  }

  private markDone(key: string): void {
    this.isDone(key);
    this.done.add(key);
  }

  private async once(key: string, declare: (channel: Channel) => Promise<void>): Promise<void> {
    if (this.isDone(key)) return;
    for (let adoptions = 0; ; adoptions++) {
      try {
        await this.withChannel(declare);
        break;
      } catch (error) {
        if (!(error instanceof ReplicasAdopted) || adoptions >= MAX_ADOPTIONS_PER_BLOCK) throw error;
        // The refusal closed the channel; the whole block runs again on a new one (each step is idempotent).
        this.channel = null;
      }
    }
    this.markDone(key);
  }

  private async assertExchange(
    channel: Channel,
    name: string,
    type: string,
    args: Options.AssertExchange['arguments'] = {},
  ): Promise<void> {
    await channel.assertExchange(name, type, { durable: true, autoDelete: false, arguments: args });
  }

  private async assertQueue(
    channel: Channel,
    name: string,
    args: Record<string, unknown>,
    what?: string,
  ): Promise<void> {
    const declared = this.withReplicas(name, args);
    try {
      await channel.assertQueue(name, { durable: true, exclusive: false, autoDelete: false, arguments: declared });
    } catch (error) {
      const text = String((error as Error).message);
      const existing = existingReplicas(text);
      if (existing !== undefined && existing !== (declared[REPLICAS_ARG] ?? null)) {
        this.existingReplicaCounts.set(name, existing);
        this.notice(
          `Queue "${name}" exists with ${existing === null ? "RabbitMQ's default replica count" : `${existing} replicas`} ` +
            `(${REPLICAS_ARG}), not ${declared[REPLICAS_ARG] ?? "RabbitMQ's default"}: it keeps its replicas, since ` +
            'the count applies when a queue is created. See them with `rabbitmq-queues quorum_status`; add some ' +
            'with `rabbitmq-queues grow`.',
        );
        throw new ReplicasAdopted(name);
      }
      if (/PRECONDITION[-_]FAILED/.test(text)) {
        const detail = /PRECONDITION_FAILED - (.*?)"?$/.exec(text)?.[1] ?? text;
        throw new TopologyMismatchError(
          `Queue "${name}" already exists on RabbitMQ with other arguments than ${what ? `${what} declares` : 'this application declares'} (${detail}). ` +
            (what
              ? 'All subscriptions of one group and topic must agree on maxReconsumeTimes, mode and the orderly queue count. '
              : '') +
            `Align the configuration, or drain the queue and delete it (rabbitmqctl delete_queue "${name}") so that it is declared again.`,
          name,
        );
      }
      throw error;
    }
  }

  /** A quorum queue's arguments with the replica count to declare it with: its own if it exists with another one. */
  private withReplicas(name: string, args: Record<string, unknown>): Record<string, unknown> {
    if (args['x-queue-type'] !== 'quorum') return args;
    const replicas = this.existingReplicaCounts.has(name)
      ? this.existingReplicaCounts.get(name)
      : this.options.quorumReplicas;
    return replicas === null || replicas === undefined ? args : { ...args, [REPLICAS_ARG]: replicas };
  }

  /** Runs on the topology channel; a channel closed by an error is replaced for the next call. */
  private async withChannel<T>(work: (channel: Channel) => Promise<T>): Promise<T> {
    const model = this.connection.current();
    if (!this.channel || this.channelGeneration !== this.connection.generation) {
      const channel = await model.createChannel();
      channel.on('error', () => undefined);
      channel.on('close', () => {
        if (this.channel === channel) this.channel = null;
      });
      this.channel = channel;
      this.channelGeneration = this.connection.generation;
    }
    return work(this.channel);
  }
}
