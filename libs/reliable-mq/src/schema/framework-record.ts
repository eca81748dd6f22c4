import { BaseEntity, type DataSource } from 'typeorm';
import { applyDialectSchema, type DialectSchema } from './dialect-schema';

/**
 * The base of the framework's entities. TypeORM hands every BaseEntity class the DataSource that maps it as soon as
 * that DataSource has built its metadata, before `synchronize`, a migration run or a schema diff reads it; that is
 * the one moment an entity can learn which database it is on. Each subclass lists in `dialectSchema` where its
 * table differs per database, and the metadata is adapted then (see `applyDialectSchema`).
 *
 * The Active Record methods inherited from BaseEntity are not wired: one class may be mapped by several
 * DataSources in a process (two apps in one test, or a SQLite and a PostgreSQL one), and a class-wide DataSource
 * would silently pick one of them. Use `dataSource.getRepository(...)`.
 */
export abstract class FrameworkRecord extends BaseEntity {
  protected static readonly dialectSchema: DialectSchema = {};

  static override useDataSource(dataSource: DataSource | null): void {
    if (dataSource?.hasMetadata(this)) applyDialectSchema(dataSource.getMetadata(this), dataSource, this.dialectSchema);
  }
}
