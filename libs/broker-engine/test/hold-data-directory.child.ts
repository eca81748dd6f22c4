import { BrokerEngine } from '@reliable-mq/engine';

/** Opens an engine on the directory given, publishes one message, says OPEN, and holds the engine until killed. */
async function main(): Promise<void> {
  const dataDir = process.argv[2]!;
  const engine = BrokerEngine.open({ dataDir, minFreeDiskBytes: 0 });
  await engine.createTopic('held', { queueCount: 1 });
  await engine.publish([{ topic: 'held', body: 'confirmed before the kill' }]);
  process.stdout.write('OPEN\n');
  setInterval(() => undefined, 60_000);
}

void main();
