import type { ColumnType, DataSource, EntityMetadata } from 'typeorm';

/** The database families the framework's migrations are written for. */
export type SchemaDialect = 'sqlite' | 'postgres' | 'mysql';

/** A value fixed per dialect, or one that needs the connected DataSource (a server version, say). */
export type DialectValue<T> = T | ((dataSource: DataSource) => T);

/** How one column differs on a dialect from the entity's portable definition. Unset fields keep that definition. */
export interface DialectColumn {
  type?: ColumnType;
  collation?: DialectValue<string>;
  generationStrategy?: 'increment' | 'identity';
  generatedIdentity?: 'ALWAYS' | 'BY DEFAULT';
}

/** How one table differs on a dialect from the entity's portable definition. */
export interface DialectTable {
  /** Storage engine (MySQL/MariaDB). */
  engine?: string;
  /** Character set and collation of every string column, unless `columns` says otherwise (MySQL/MariaDB). */
  strings?: { charset: string; collation: DialectValue<string> };
  /** By property name. */
  columns?: Readonly<Record<string, DialectColumn>>;
  /** Index name → the property names it covers here, in order. */
  indexColumns?: Readonly<Record<string, readonly string[]>>;
}

export type DialectSchema = Readonly<Partial<Record<SchemaDialect, DialectTable>>>;

const SQLITE_FAMILY = new Set(['better-sqlite3', 'sqlite', 'sqljs', 'capacitor', 'cordova', 'expo', 'nativescript']);
const STRING_TYPES = new Set(['varchar', 'character varying', 'char', 'text', 'tinytext', 'mediumtext', 'longtext']);

/** The dialect whose migrations fit a DataSource type; undefined for a database the framework has none for. */
export function schemaDialectOf(type: string): SchemaDialect | undefined {
  if (type === 'postgres') return 'postgres';
  if (type === 'mysql' || type === 'mariadb') return 'mysql';
  return SQLITE_FAMILY.has(type) ? 'sqlite' : undefined;
}

const resolve = <T>(value: DialectValue<T>, dataSource: DataSource): T =>
  typeof value === 'function' ? (value as (dataSource: DataSource) => T)(dataSource) : value;

/**
 * Gives an entity's built metadata the form the framework's migrations create on this DataSource's database, so
 * that `synchronize` creates the same table and a schema diff against a migrated database is empty. TypeORM has
 * one set of column options for every database, while the framework's tables differ in a few places (the SQLite
 * rowid key, MySQL's LONGTEXT payloads, byte-wise collations); those places are listed in `schema`.
 */
export function applyDialectSchema(metadata: EntityMetadata, dataSource: DataSource, schema: DialectSchema): void {
  const dialect = schemaDialectOf(dataSource.options.type);
  const table = dialect === undefined ? undefined : schema[dialect];
  if (table === undefined) return;
  if (table.engine !== undefined) metadata.engine = table.engine;
  if (table.strings) {
    const collation = resolve(table.strings.collation, dataSource);
    for (const column of metadata.columns) {
      if (typeof column.type !== 'string' || !STRING_TYPES.has(column.type)) continue;
      column.charset = table.strings.charset;
      column.collation = collation;
    }
  }
  for (const [property, change] of Object.entries(table.columns ?? {})) {
    const column = metadata.findColumnWithPropertyName(property);
    if (!column) throw new Error(`${metadata.name} has no column "${property}" to adapt to ${dialect}.`);
    if (change.type !== undefined) column.type = change.type;
    if (change.collation !== undefined) column.collation = resolve(change.collation, dataSource);
    if (change.generationStrategy !== undefined) {
      // The PostgreSQL driver creates and reads identity columns, though ColumnMetadata's declared type omits them.
      (column as { generationStrategy?: string }).generationStrategy = change.generationStrategy;
    }
    if (change.generatedIdentity !== undefined) column.generatedIdentity = change.generatedIdentity;
  }
  for (const [name, properties] of Object.entries(table.indexColumns ?? {})) {
    const index = metadata.indices.find((candidate) => candidate.givenName === name);
    if (!index) throw new Error(`${metadata.name} has no index "${name}" to adapt to ${dialect}.`);
    index.givenColumnNames = [...properties];
    index.build(dataSource.namingStrategy);
  }
}
