export {
  ReliableMqError,
  InvalidNameError,
  UnknownTopicError,
  MessageTooLargeError,
  BatchTooLargeError,
  EngineClosedError,
  SchemaVersionError,
  StorageFullError,
  InsufficientDiskSpaceError,
  InvalidArgumentError,
  DeadLetterNotFoundError,
  TransactionNotFoundError,
  TransactionStateError,
  MissingDependencyError,
} from '@reliable-mq/engine';
export * from './no-active-transaction.error';
export * from './invalid-message.error';
export * from './payload-too-large.error';
export * from './configuration.error';
export * from './dedup-busy.error';
export * from './dedup-unavailable.error';
export * from './transport.error';
export * from './transport-unavailable.error';
export * from './non-retryable.error';
export * from './broker-refused.error';
export * from './topology-mismatch.error';
