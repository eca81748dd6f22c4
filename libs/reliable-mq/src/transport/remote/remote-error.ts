import {
  BatchTooLargeError,
  DeadLetterNotFoundError,
  EngineClosedError,
  InsufficientDiskSpaceError,
  InvalidArgumentError,
  InvalidNameError,
  MessageTooLargeError,
  SchemaVersionError,
  StorageFullError,
  TransactionNotFoundError,
  TransactionStateError,
  UnknownTopicError,
} from '@reliable-mq/engine';
import { BrokerRefusedError } from '../../errors/broker-refused.error';
import type { WireError } from '@reliable-mq/protocol';

/** Engine errors the broker may send back, by class name; each is raised here as the same class as in process. */
const ENGINE_ERRORS: Record<string, abstract new (...args: never[]) => Error> = {
  BatchTooLargeError,
  DeadLetterNotFoundError,
  EngineClosedError,
  InsufficientDiskSpaceError,
  InvalidArgumentError,
  InvalidNameError,
  MessageTooLargeError,
  SchemaVersionError,
  StorageFullError,
  TransactionNotFoundError,
  TransactionStateError,
  UnknownTopicError,
};

/**
 * Raises a broker's error as the class the caller would get from the embedded transport, so `instanceof` checks (for
 * example which errors `send()` does not retry) behave the same on both. The message and public fields are the
 * broker's; the stack is this process's.
 */
export function fromWireError(wire: WireError, call: string): Error {
  const engineClass =
    wire.name !== undefined && Object.hasOwn(ENGINE_ERRORS, wire.name) ? ENGINE_ERRORS[wire.name] : undefined;
  if (engineClass) {
    const error = Object.create(engineClass.prototype as object) as Error & Record<string, unknown>;
    const local = new Error(wire.message);
    Object.defineProperties(error, {
      message: { value: wire.message, writable: true, configurable: true },
      name: { value: wire.name, writable: true, configurable: true },
      stack: {
        value: `${wire.name}: ${wire.message}\n${local.stack?.split('\n').slice(1).join('\n') ?? ''}`,
        writable: true,
        configurable: true,
      },
    });
    for (const [field, value] of Object.entries(wire.details ?? {})) {
      if (field !== '__proto__' && field !== 'constructor') error[field] = value;
    }
    error.code = wire.code;
    return error;
  }
  return new BrokerRefusedError(wire.code, `The broker refused "${call}": ${wire.message} (${wire.code})`);
}
