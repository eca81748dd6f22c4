import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { CONSOLE_OPTIONS } from '../console.constants';
import type { ConsoleConsumerInfo } from '../console-options.interface';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import { describeReliableMqApp } from './reliable-mq-app.catalog';

export interface ConsumerView {
  group: string;
  topic: string;
  handler: string | null;
  /** `dto:<Class>`, `schema`, or `none`: what an edited payload is checked against before it is sent. */
  validation: string;
  /** Null when the group's dedup records never expire. */
  dedupWindowMs: number | null;
}

/**
 * What the console knows about handlers: the options' `consumers` first, then those discovered in the host
 * application. Dedup windows: the options' `dedupWindows`, then the host's ReliableMqModule dedup settings, then
 * `defaultDedupWindow`.
 */
@Injectable()
export class ConsumerCatalog implements OnModuleInit {
  private readonly consumers = new Map<string, ConsoleConsumerInfo>();
  private readonly windows = new Map<string, number | null>();

  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    private readonly moduleRef: ModuleRef,
  ) {}

  onModuleInit(): void {
    for (const consumer of this.options.consumers) this.add(consumer);
    for (const [group, window] of this.options.dedupWindows) this.windows.set(group, window);
    if (this.options.discoverConsumers) {
      const found = describeReliableMqApp(this.moduleRef);
      for (const consumer of found.consumers) this.add(consumer);
      for (const [group, window] of Object.entries(found.dedupWindows)) {
        if (!this.windows.has(group)) this.windows.set(group, window);
      }
    }
  }

  find(group: string, topic: string): ConsoleConsumerInfo | undefined {
    return this.consumers.get(`${group}\u0000${topic}`);
  }

  dedupWindowOf(group: string): number | null {
    const window = this.windows.get(group);
    return window === undefined ? this.options.defaultDedupWindowMs : window;
  }

  list(): ConsumerView[] {
    return [...this.consumers.values()].map((consumer) => ({
      group: consumer.group,
      topic: consumer.topic,
      handler: consumer.handler ?? null,
      validation: validationOf(consumer),
      dedupWindowMs: this.dedupWindowOf(consumer.group),
    }));
  }

  private add(consumer: ConsoleConsumerInfo): void {
    const id = `${consumer.group}\u0000${consumer.topic}`;
    if (!this.consumers.has(id)) this.consumers.set(id, consumer);
  }
}

export function validationOf(consumer: ConsoleConsumerInfo | undefined): string {
  if (consumer?.dto) return `dto:${consumer.dto.name}`;
  if (consumer?.schema) return 'schema';
  return 'none';
}
