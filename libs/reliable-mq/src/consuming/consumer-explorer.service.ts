import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { scanProviderMethods, type ProviderMethod } from '../discovery/provider-method-scanner';
import { ConsumerMetadataAccessor } from './consumer-metadata.accessor';
import type { MqConsumerOptions } from './mq-consumer-options.interface';
import { dtoValidation } from './payload-validator';

export type DiscoveredHandler = ProviderMethod<MqConsumerOptions>;

/**
 * Finds every `@MqConsumer` method once, at module init, and refuses what cannot work:
 * request-scoped providers (no single instance to call) and two handlers for one
 * (group, topic). State lives on this instance, so two apps in one process never share it.
 */
@Injectable()
export class ConsumerExplorer implements OnModuleInit {
  private handlers: DiscoveredHandler[] | null = null;

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly accessor: ConsumerMetadataAccessor,
  ) {}

  onModuleInit(): void {
    this.explore();
  }

  explore(): DiscoveredHandler[] {
    if (this.handlers) return this.handlers;
    this.handlers = scanProviderMethods(this.discovery, this.scanner, {
      label: '@MqConsumer handler',
      read: (method) => this.accessor.getConsumerOptions(method),
      requestScopedAdvice:
        'Message handlers need a singleton: remove the request scope, or move the handler to a singleton provider that calls the scoped code.',
      keyOf: ({ options }) => `${options.group}\u0000${options.topic}`,
      duplicateError: (handler, previous) =>
        `Two @MqConsumer handlers consume topic "${handler.options.topic}" in group "${handler.options.group}": ${previous} and ${handler.name}. ` +
        'Give one of them another group, or merge them.',
    });
    // A handler with a DTO needs class-validator and class-transformer: a missing one fails the start, naming it.
    if (this.handlers.some((handler) => handler.options.dto)) dtoValidation();
    return this.handlers;
  }
}
