import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brokerConfig, type BrokerConfig } from '../src/broker-config';
import { silentBrokerLogger, type BrokerLogger } from '../src/broker-logger';
import { BrokerServer } from '../src/broker-server';

/** A broker server in the test's own process, on a free port and a data directory of its own. */
export interface InProcessBroker {
  server: BrokerServer;
  dataDir: string;
  /** Shuts the server down and removes its data directory. */
  dispose(): Promise<void>;
}

/**
 * Starts a broker server for a spec: port 0, no health port, the disk guard off (tests share a disk), silent unless
 * a logger is given. `config` adds or overrides what the spec needs (tokens, topics, limits).
 */
export async function startInProcessBroker(
  config: Partial<BrokerConfig> = {},
  logger: BrokerLogger = silentBrokerLogger,
): Promise<InProcessBroker> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rmq-broker-spec-'));
  try {
    const server = await BrokerServer.start(
      brokerConfig({ dataDir, port: 0, healthPort: null, engine: { minFreeDiskBytes: 0 }, ...config }),
      { logger },
    );
    return {
      server,
      dataDir,
      dispose: async () => {
        await server.shutdown(2_000);
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}
