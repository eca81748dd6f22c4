import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { ConfigurationError } from '../errors';
import { ConsumerMetadataAccessor } from './consumer-metadata.accessor';
import type { MqConsumerOptions } from './mq-consumer-options.interface';

export interface DiscoveredHandler {
  options: MqConsumerOptions;
  instance: object;
  methodName: string;
  /** `ProviderClass.method`, for logs and errors. */
  name: string;
}

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
    const found: DiscoveredHandler[] = [];
    const seen = new Map<string, string>();
    for (const wrapper of this.discovery.getProviders()) {
      for (const handler of this.scan(wrapper)) {
        const id = `${handler.options.group}\u0000${handler.options.topic}`;
        const previous = seen.get(id);
        if (previous) {
          throw new ConfigurationError(
            `Two @MqConsumer handlers consume topic "${handler.options.topic}" in group "${handler.options.group}": ${previous} and ${handler.name}. ` +
              'Give one of them another group, or merge them.',
          );
        }
        seen.set(id, handler.name);
        found.push(handler);
      }
    }
    this.handlers = found;
    return found;
  }

  private scan(wrapper: InstanceWrapper): DiscoveredHandler[] {
    const metatype = wrapper.metatype as (new (...args: never[]) => object) | undefined;
    const prototype = (wrapper.instance ? Object.getPrototypeOf(wrapper.instance) : metatype?.prototype) as
      | Record<string, unknown>
      | undefined;
    if (!prototype || typeof prototype !== 'object') return [];
    const result: DiscoveredHandler[] = [];
    for (const methodName of this.scanner.getAllMethodNames(prototype)) {
      const method = prototype[methodName];
      if (typeof method !== 'function') continue;
      const options = this.accessor.getConsumerOptions(method as (...args: never[]) => unknown);
      if (!options) continue;
      const name = `${metatype?.name ?? wrapper.name}.${methodName}`;
      if (!wrapper.isDependencyTreeStatic()) {
        throw new ConfigurationError(
          `@MqConsumer handler ${name} is in a request-scoped provider (or depends on one). ` +
            'Message handlers need a singleton: remove the request scope, or move the handler to a singleton provider that calls the scoped code.',
        );
      }
      if (!wrapper.instance) {
        throw new ConfigurationError(`@MqConsumer handler ${name}: its provider has no instance; is it registered in a module?`);
      }
      result.push({ options, instance: wrapper.instance as object, methodName, name });
    }
    return result;
  }
}
