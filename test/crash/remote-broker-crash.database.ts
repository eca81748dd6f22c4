import { DataSource } from 'typeorm';
import { reliableMqEntities } from '@reliable-mq/nestjs';

/**
 * Opens a child's own SQLite database (its outbox or inbox and its business table), in WAL mode so that a SIGKILL
 * mid-write leaves it readable by the next child.
 */
export async function openChildDatabase(file: string): Promise<DataSource> {
  const dataSource = new DataSource({
    type: 'better-sqlite3',
    database: file,
    entities: [...reliableMqEntities],
    enableWAL: true,
  });
  await dataSource.initialize();
  return dataSource;
}
