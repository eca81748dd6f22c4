import type { DataSource } from 'typeorm';
import type { OutboxStore } from '../outbox/outbox-store.interface';
import { registerContractSuite, type ContractSuiteOptions } from './contract-suite-runner';
import { emptyOutbox } from './outbox-contract-rows';
import { outboxOperatorContractCases } from './outbox-operator.contract-cases';
import { outboxRelayContractCases, type OutboxContractCase } from './outbox-relay.contract-cases';

export type { OutboxContractCase, OutboxContractFixture } from './outbox-relay.contract-cases';

export interface OutboxStoreUnderTest {
  store: OutboxStore;
  /**
   * The store's DataSource, with the framework's migrations run. Each case DELETES EVERY ROW of its outbox table
   * before it starts: give the suite a database of its own.
   */
  dataSource: DataSource;
  /** Runs after the case: drop what the factory created. */
  cleanup?: () => Promise<void>;
}

/** Every rule of the OutboxStore contract: the relay's (claim, marks, leases, order) and the operator's. */
export const outboxStoreContractCases: readonly OutboxContractCase[] = [
  ...outboxRelayContractCases,
  ...outboxOperatorContractCases,
];

/**
 * Registers the OutboxStore contract: a `describe` with one test per case, each with a store from `factory` on an
 * emptied outbox table. Runs under Jest and Vitest alike; see `ContractSuiteOptions` for runners without globals.
 *
 *     outboxStoreContract('PostgreSQL', async () => ({ store: createOutboxStore(dataSource), dataSource }), { describe, it });
 */
export function outboxStoreContract(
  name: string,
  factory: () => Promise<OutboxStoreUnderTest>,
  options: ContractSuiteOptions = {},
): void {
  registerContractSuite(
    'outboxStoreContract',
    name,
    outboxStoreContractCases,
    async (contractCase) => {
      const { store, dataSource, cleanup } = await factory();
      try {
        await emptyOutbox(dataSource);
        await contractCase.run({ store, dataSource });
      } finally {
        await cleanup?.();
      }
    },
    options,
  );
}
