import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { RELIABLE_MQ_OPTIONS } from '../constants';
import { ConsumerMetadataAccessor } from '../consuming/consumer-metadata.accessor';
import { scanProviderMethods } from '../discovery/provider-method-scanner';
import type { ResolvedReliableMqOptions } from '../reliable-mq-options.resolver';
import type { TransactionCheckerOptions } from './transaction-checker-options.interface';

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
    const groupOf = (options: TransactionCheckerOptions): string => options.producerGroup ?? this.options.producerGroup;
    const found = scanProviderMethods(this.discovery, this.scanner, {
      label: '@TransactionChecker',
      read: (method) => this.accessor.getTransactionCheckerOptions(method),
      requestScopedAdvice:
        'A checkback arrives outside any request: remove the request scope, or move the checker to a singleton provider.',
      keyOf: ({ options }) => `${groupOf(options)}\u0000${options.topic ?? ''}`,
      duplicateError: ({ options, name }, previous) => {
        const what = options.topic === undefined ? 'every topic' : `topic "${options.topic}"`;
        return (
          `Two @TransactionChecker methods answer for producer group "${groupOf(options)}" and ${what}: ${previous} and ${name}. ` +
          'Keep one, or give each its own topic.'
        );
      },
    });
    this.checkers = found.map(({ options, instance, methodName, name }) => ({
      producerGroup: groupOf(options),
      topic: options.topic,
      instance,
      methodName,
      name,
    }));
    return this.checkers;
  }
}
