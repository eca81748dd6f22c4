// Test support for applications and for transports and dedup stores built on ReliableMQ. Nothing here imports a test
// runner: the contract suites take the runner's describe/it (or find its globals), so this entry loads under Jest,
// Vitest and plain Node alike.
export { ContractViolation } from './contract-assertions';
export type { ContractSuiteOptions, ContractTestRunner } from './contract-suite-runner';
export {
  transportContract,
  transportContractCases,
  type TransportContractCase,
  type TransportFactory,
  type TransportFixture,
} from './transport.contract';
export {
  dedupStoreContract,
  dedupContractCases,
  type DedupContractCase,
  type DedupStoreUnderTest,
} from './dedup-store.contract';
export {
  outboxStoreContract,
  outboxStoreContractCases,
  type OutboxContractCase,
  type OutboxContractFixture,
  type OutboxStoreUnderTest,
} from './outbox-store.contract';
export {
  temporaryEmbeddedTransport,
  waitForIdle,
  type IdleOptions,
  type TemporaryEmbeddedTransport,
} from './reliable-mq-test-harness';
export {
  withTemporaryTransport,
  type ProviderOverridingBuilder,
  type TemporaryTransportOptions,
} from './temporary-transport.override';
export { temporaryTransport } from './temporary-transport.factory';
