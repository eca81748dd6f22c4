import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { RELIABLE_MQ_OPTIONS } from '../constants';
import { ConsumerMetadataAccessor } from '../consuming/consumer-metadata.accessor';
import { ConfigurationError } from '../errors';
import type { ResolvedReliableMqOptions } from '../reliable-mq-options.resolver';

export interface DiscoveredChecker {
  producerGroup: string;
  /** undefined: every topic of the group that has no checker of its own. */
  topic: string | undefined;
  instance: object;
  methodName: string;
  /** `ProviderClass.method`, for logs and errors. */
  name: string;
}

/**
 * Finds every `@TransactionChecker` method once, at module init, and refuses what cannot work: request-scoped
 * providers (a checkback has no request) and two checkers for one (producer group, topic), which would answer the
 * same question differently. State lives on this instance, so two apps in one process never share it.
 */
@Injectable()
export class TransactionCheckerExplorer implements OnModuleInit {
  private checkers: DiscoveredChecker[] | null = null;

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly accessor: ConsumerMetadataAccessor,
    @Inject(RELIABLE_MQ_OPTIONS) private readonly options: ResolvedReliableMqOptions,
  ) {}

  onModuleInit(): void {
    this.explore();
  }

  explore(): DiscoveredChecker[] {
    if (this.checkers) return this.checkers;
    const found: DiscoveredChecker[] = [];
    const seen = new Map<string, string>();
    for (const wrapper of this.discovery.getProviders()) {
      for (const checker of this.scan(wrapper)) {
        const id = `${checker.producerGroup}\u0000${checker.topic ?? ''}`;
        const previous = seen.get(id);
        if (previous) {
          const what = checker.topic === undefined ? 'every topic' : `topic "${checker.topic}"`;
          throw new ConfigurationError(
            `Two @TransactionChecker methods answer for producer group "${checker.producerGroup}" and ${what}: ${previous} and ${checker.name}. ` +
              'Keep one, or give each its own topic.',
          );
        }
        seen.set(id, checker.name);
        found.push(checker);
      }
    }
    this.checkers = found;
    return found;
  }

  private scan(wrapper: InstanceWrapper): DiscoveredChecker[] {
    const metatype = wrapper.metatype as (new (...args: never[]) => object) | undefined;
    const prototype = (wrapper.instance ? Object.getPrototypeOf(wrapper.instance) : metatype?.prototype) as
      Record<string, unknown> | undefined;
    if (!prototype || typeof prototype !== 'object') return [];
    const result: DiscoveredChecker[] = [];
    for (const methodName of this.scanner.getAllMethodNames(prototype)) {
      const method = prototype[methodName];
      if (typeof method !== 'function') continue;
      const options = this.accessor.getTransactionCheckerOptions(method as (...args: never[]) => unknown);
      if (!options) continue;
      const name = `${metatype?.name ?? wrapper.name}.${methodName}`;
      if (!wrapper.isDependencyTreeStatic()) {
        throw new ConfigurationError(
          `@TransactionChecker ${name} is in a request-scoped provider (or depends on one). ` +
            'A checkback arrives outside any request: remove the request scope, or move the checker to a singleton provider.',
        );
      }
      if (!wrapper.instance) {
        throw new ConfigurationError(
          `@TransactionChecker ${name}: its provider has no instance; is it registered in a module?`,
        );
      }
      result.push({
        producerGroup: options.producerGroup ?? this.options.producerGroup,
        topic: options.topic,
        instance: wrapper.instance as object,
        methodName,
        name,
      });
    }
    return result;
  }
}
