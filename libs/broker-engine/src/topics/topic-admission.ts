import type { Database } from 'better-sqlite3';
import type { ResolvedEngineOptions } from '../engine-options';
import type { TopicInfo, TopicOptions } from '../engine.types';
import { InvalidArgumentError, UnknownTopicError } from '../errors';
import { isSystemTopic, validateName } from '../util/names';
import { TopicRegistry } from './topic-registry';

/** What a caller is doing with a topic it names: the verb of the refusal when the topic is reserved. */
export type TopicUse = 'publish' | 'send' | 'subscribe';

/**
 * Which topics a caller may use, and the one place that creates them: a business topic is created on first use when
 * `autoCreateTopics` is on and refused as unknown otherwise; a reserved (`%`) topic is refused to producers.
 */
export class TopicAdmission {
  constructor(
    private readonly db: Database,
    private readonly topics: TopicRegistry,
    private readonly options: Pick<ResolvedEngineOptions, 'autoCreateTopics' | 'defaultQueueCount'>,
    private readonly now: () => number,
  ) {}

  /** An explicit `createTopic`: reserved names refused, the existing topic returned unchanged. */
  create(name: string, options: TopicOptions): TopicInfo {
    validateName('topic', name);
    if (isSystemTopic(name)) {
      throw new InvalidArgumentError(`Topic names starting with "%" are reserved for retry and DLQ topics: ${name}.`);
    }
    return this.ensure(name, TopicRegistry.validateQueueCount(options.queueCount ?? this.options.defaultQueueCount));
  }

  /** Admits a topic named by a producer or a subscriber, creating it when `autoCreateTopics` allows. */
  admit(topic: string, use: TopicUse): void {
    if (use !== 'subscribe' && isSystemTopic(topic)) {
      throw new InvalidArgumentError(
        `Topic "${topic}" is reserved for the engine; ${use} to the business topic instead.`,
      );
    }
    if (this.topics.get(topic)) return;
    if (!this.options.autoCreateTopics) throw new UnknownTopicError(topic);
    this.ensure(topic, this.options.defaultQueueCount);
  }

  /** The engine's own topics (a group's retry topic): created with the default queue count when missing. */
  ensureSystem(name: string): TopicInfo {
    return this.ensure(name, this.options.defaultQueueCount);
  }

  private ensure(name: string, queueCount: number): TopicInfo {
    const existing = this.topics.get(name);
    if (existing) return existing;
    this.db.transaction(() => this.topics.insert(name, queueCount, this.now())).immediate();
    return this.topics.require(name);
  }
}
