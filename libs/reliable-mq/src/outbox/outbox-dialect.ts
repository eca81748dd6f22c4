import type { DataSource } from 'typeorm';
import { ConfigurationError } from '../errors/configuration.error';
import { OUTBOX_TABLE } from './outbox-message.entity';

export type OutboxDialectName = 'postgres' | 'mysql' | 'sqlite';

/** The few SQL differences the outbox's hand-written statements care about. */
export interface OutboxDialect {
  readonly name: OutboxDialectName;
  /** The outbox table, quoted and qualified with the DataSource's schema where it has one. */
  readonly table: string;
  quote(identifier: string): string;
  /** Placeholder of the 1-based parameter `index`. */
  param(index: number): string;
}

const SUPPORTED = 'better-sqlite3, postgres, mysql and mariadb';

export function outboxDialectName(dataSource: DataSource): OutboxDialectName {
  switch (dataSource.options.type) {
    case 'postgres':
      return 'postgres';
    case 'mysql':
    case 'mariadb':
      return 'mysql';
    case 'better-sqlite3':
      return 'sqlite';
    default:
      throw new ConfigurationError(
        `The outbox supports ${SUPPORTED} DataSources; this one is "${dataSource.options.type}". ` +
          'Point ReliableMqModule at a DataSource of a supported type.',
      );
  }
}

const doubleQuote = (identifier: string): string => `"${identifier.replace(/"/g, '""')}"`;
const backQuote = (identifier: string): string => `\`${identifier.replace(/`/g, '``')}\``;

export function outboxDialect(dataSource: DataSource): OutboxDialect {
  const name = outboxDialectName(dataSource);
  if (name === 'postgres') {
    // Follow the DataSource's `schema` option as TypeORM does for its own entities; without it the
    // connection's search_path decides, exactly as for an unqualified entity.
    const schema = (dataSource.options as { schema?: string }).schema;
    const table = schema ? `${doubleQuote(schema)}.${doubleQuote(OUTBOX_TABLE)}` : doubleQuote(OUTBOX_TABLE);
    return { name, table, quote: doubleQuote, param: (index) => `$${index}` };
  }
  if (name === 'mysql') {
    return { name, table: backQuote(OUTBOX_TABLE), quote: backQuote, param: () => '?' };
  }
  return { name, table: doubleQuote(OUTBOX_TABLE), quote: doubleQuote, param: () => '?' };
}
