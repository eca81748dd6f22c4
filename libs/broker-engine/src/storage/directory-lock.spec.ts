import {
  BrokerEngine,
  DataDirectoryInUseError,
  DataDirectoryUnusableError,
  WorkerEngine,
  type Delivery,
} from '@reliable-mq/engine';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnTs } from '../../../../test/support/spawn-ts';
import { tempDataDir, until } from '../../test/engine-test-kit';

/**
 * One engine owns a data directory. A second one, in this process or another, is refused at open with a sentence that
 * says what to do, instead of appending to the same queues and colliding on their offsets; a process killed with its
 * engine open leaves the directory free for the next.
 */
describe('data directory lock', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('refuses a second engine on an open directory, in this thread or a worker, and admits one after the close', async () => {
    const temp = tempDataDir();
    cleanups.push(temp.cleanup);
    const first = BrokerEngine.open({ dataDir: temp.dir, minFreeDiskBytes: 0 });
    let thrown: unknown;
    try {
      BrokerEngine.open({ dataDir: temp.dir, minFreeDiskBytes: 0 });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DataDirectoryInUseError);
    expect(thrown).toMatchObject({ code: 'DATA_DIR_IN_USE', dataDir: temp.dir });
    expect((thrown as Error).message).toMatch(/give this one a dataDir of its own/);
    await expect(WorkerEngine.open({ dataDir: temp.dir, minFreeDiskBytes: 0 })).rejects.toBeInstanceOf(
      DataDirectoryInUseError,
    );
    // The refused opens left nothing behind: the first engine still works.
    await first.createTopic('t', { queueCount: 1 });
    await first.publish([{ topic: 't', body: 'x' }]);
    await first.close();
    const second = BrokerEngine.open({ dataDir: temp.dir, minFreeDiskBytes: 0 });
    expect(second.getTopic('t')).toBeTruthy();
    await second.close();
  });

  it('says which option to fix when the data directory cannot be used, with the cause kept', async () => {
    const temp = tempDataDir();
    cleanups.push(temp.cleanup);
    const file = join(temp.dir, 'a-file');
    writeFileSync(file, 'not a directory');
    let thrown: unknown;
    try {
      BrokerEngine.open({ dataDir: file, minFreeDiskBytes: 0 });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DataDirectoryUnusableError);
    expect(thrown).toMatchObject({ code: 'DATA_DIR_UNUSABLE', dataDir: file });
    expect((thrown as Error).message).toMatch(/transport\.dataDir in ReliableMqModule/);
    expect((thrown as Error).cause).toMatchObject({ code: 'EEXIST' });
    // A database file that is not one: SQLite's own refusal, in the same terms.
    const dir = join(temp.dir, 'garbled');
    mkdirSync(dir);
    writeFileSync(join(dir, 'broker.sqlite'), Buffer.alloc(4096, 7));
    await expect(WorkerEngine.open({ dataDir: dir, minFreeDiskBytes: 0 })).rejects.toMatchObject({
      code: 'DATA_DIR_UNUSABLE',
      message: expect.stringMatching(/not a database/),
    });
    // The refusal let the directory go: a sound engine can take it once the file is gone.
    rmSync(join(dir, 'broker.sqlite'));
    await (await WorkerEngine.open({ dataDir: dir, minFreeDiskBytes: 0 })).close();
  });

  it('refuses while another process holds the directory, and admits an engine once that process is SIGKILLed', async () => {
    const temp = tempDataDir();
    cleanups.push(temp.cleanup);
    const child: ChildProcess = spawnTs('libs/broker-engine/test/hold-data-directory.child.ts', [temp.dir]);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await until(() => output.includes('OPEN'), 30_000, `the child to open its engine (output: ${output})`);

    expect(() => BrokerEngine.open({ dataDir: temp.dir, minFreeDiskBytes: 0 })).toThrow(DataDirectoryInUseError);

    child.kill('SIGKILL');
    await exited;
    const engine = BrokerEngine.open({ dataDir: temp.dir, minFreeDiskBytes: 0 });
    const seen: Delivery[] = [];
    await engine.subscribe({ group: 'g', topic: 'held', handler: async (delivery) => void seen.push(delivery) });
    await until(() => seen.length === 1, 5000, 'the message confirmed before the kill');
    expect(seen[0]!.body.toString()).toBe('confirmed before the kill');
    await engine.close();
  });
});
