import type { QueryRunner } from 'typeorm';

/**
 * The quoted name of a framework table for raw SQL in migrations. On PostgreSQL it is qualified with the
 * DataSource's `schema` option when there is one, which is where TypeORM puts entities and its own migrations
 * table; otherwise the connection's search_path decides. MySQL and SQLite use the connection's database.
 */
export function frameworkTable(queryRunner: QueryRunner, table: string): string {
  const options = queryRunner.connection.options;
  if (options.type === 'postgres') {
    const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`;
    return options.schema ? `${quote(options.schema)}.${quote(table)}` : quote(table);
  }
  if (options.type === 'mysql' || options.type === 'mariadb') return `\`${table.replace(/`/g, '``')}\``;
  return `"${table.replace(/"/g, '""')}"`;
}
