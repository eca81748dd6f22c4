// Test support for applications and for transports and dedup stores built on ReliableMQ.
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
  temporaryEmbeddedTransport,
  waitForIdle,
  type IdleOptions,
  type TemporaryEmbeddedTransport,
} from './reliable-mq-test-harness';
