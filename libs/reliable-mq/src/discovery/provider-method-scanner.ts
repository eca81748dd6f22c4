import type { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { ConfigurationError } from '../errors';

/** A provider method that carries a method decorator's options, with the singleton instance to call it on. */
export interface ProviderMethod<Options> {
  options: Options;
  instance: object;
  methodName: string;
  /** `ProviderClass.method`, for logs and errors. */
  name: string;
}

/** What one method decorator's scan looks for, and how its refusals read. */
export interface ProviderMethodScan<Options> {
  /** How errors name a decorated method, e.g. `@MqConsumer handler`. */
  label: string;
  /** The decorator's options on `method`, or undefined when it does not carry the decorator. */
  read(method: (...args: never[]) => unknown): Options | undefined;
  /** What to do about a decorated method of a request-scoped provider; follows the refusal in its error. */
  requestScopedAdvice: string;
  /** Two decorated methods with one key are refused. */
  keyOf(found: ProviderMethod<Options>): string;
  /** The error for `found`, whose key `previous` (a `ProviderClass.method`) already has. */
  duplicateError(found: ProviderMethod<Options>, previous: string): string;
}

/**
 * Every provider method carrying one decorator, found once with Nest's DiscoveryService and MetadataScanner. Refused
 * with a ConfigurationError: a decorated method of a request-scoped provider (there is no single instance to call),
 * one whose provider has no instance, and two decorated methods with the same key.
 */
export function scanProviderMethods<Options>(
  discovery: DiscoveryService,
  scanner: MetadataScanner,
  scan: ProviderMethodScan<Options>,
): ProviderMethod<Options>[] {
  const found: ProviderMethod<Options>[] = [];
  const seen = new Map<string, string>();
  for (const wrapper of discovery.getProviders()) {
    for (const method of decoratedMethodsOf(wrapper, scanner, scan)) {
      const key = scan.keyOf(method);
      const previous = seen.get(key);
      if (previous) throw new ConfigurationError(scan.duplicateError(method, previous));
      seen.set(key, method.name);
      found.push(method);
    }
  }
  return found;
}

function decoratedMethodsOf<Options>(
  wrapper: InstanceWrapper,
  scanner: MetadataScanner,
  scan: ProviderMethodScan<Options>,
): ProviderMethod<Options>[] {
  const metatype = wrapper.metatype as (new (...args: never[]) => object) | undefined;
  const prototype = (wrapper.instance ? Object.getPrototypeOf(wrapper.instance) : metatype?.prototype) as
    Record<string, unknown> | undefined;
  if (!prototype || typeof prototype !== 'object') return [];
  const result: ProviderMethod<Options>[] = [];
  for (const methodName of scanner.getAllMethodNames(prototype)) {
    const method = prototype[methodName];
    if (typeof method !== 'function') continue;
    const options = scan.read(method as (...args: never[]) => unknown);
    if (!options) continue;
    const name = `${metatype?.name ?? wrapper.name}.${methodName}`;
    if (!wrapper.isDependencyTreeStatic()) {
      throw new ConfigurationError(
        `${scan.label} ${name} is in a request-scoped provider (or depends on one). ${scan.requestScopedAdvice}`,
      );
    }
    if (!wrapper.instance) {
      throw new ConfigurationError(
        `${scan.label} ${name}: its provider has no instance; is it registered in a module?`,
      );
    }
    result.push({ options, instance: wrapper.instance as object, methodName, name });
  }
  return result;
}
