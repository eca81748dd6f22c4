// `npm run start:processes`: the order and payment services as separate processes against the standalone broker
// process (docs/sample.md). Settings: ORDER_PORT, PAYMENT_PORT, HOST, DATA_DIR, BROKER_PORT (default 7420),
// BROKER_TOKEN (default: a random one for this run).
import { resolve } from 'node:path';
import { startSampleProcesses, type SampleProcesses } from './sample-processes';

function port(name: string, fallback: number): number {
  const raw = process.env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!/^[0-9]+$/.test(raw) || Number(raw) > 65_535) {
    console.error(`${name} must be a port number from 0 to 65535; got ${JSON.stringify(raw)}.`);
    process.exit(2);
  }
  return Number(raw);
}

async function main(): Promise<void> {
  const dataDir = resolve(process.env.DATA_DIR?.trim() || 'data');
  let sample: SampleProcesses;
  try {
    sample = await startSampleProcesses({
      dataDir,
      host: process.env.HOST?.trim() || '127.0.0.1',
      orderPort: port('ORDER_PORT', 3001),
      paymentPort: port('PAYMENT_PORT', 3002),
      brokerPort: port('BROKER_PORT', 7420),
      brokerToken: process.env.BROKER_TOKEN || undefined,
    });
  } catch (error) {
    console.error(`The sample could not start: ${(error as Error).message}`);
    process.exit(1);
  }
  console.log(
    [
      '',
      `ReliableMQ sample is running as three processes (data in ${dataDir}).`,
      `  broker           ${sample.brokerUrl}${sample.healthUrl ? `    health ${sample.healthUrl}/health, /ready` : ''}    pid ${sample.pids.broker}`,
      `  order service    ${sample.orderUrl}    POST /orders, GET /orders/:id    pid ${sample.pids.order}`,
      `  payment service  ${sample.paymentUrl}    GET /payments?orderId=, GET /ops/dead-letters    pid ${sample.pids.payment}`,
      '',
      'Place an order:',
      `  curl -s -X POST ${sample.orderUrl}/orders -H 'content-type: application/json' -d '{"customerId":"c-1","amount":42.5,"card":"4242424242424242"}'`,
      `then look at it with: curl -s ${sample.orderUrl}/orders/<id>`,
      '',
      'Try: kill -9 the broker pid, start it again with npm run start:broker (same BROKER_TOKEN and data), and watch',
      'the services reconnect. Ctrl+C stops all three.',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = (signal: string, code = 0, signalled = false): void => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping the services, then the broker...`);
    sample.close({ signalled }).then(
      () => process.exit(code),
      () => process.exit(1),
    );
  };
  // Ctrl+C reaches the children too (one process group): they stop on their own, and this waits for them.
  process.on('SIGINT', () => stop('SIGINT', 0, true));
  process.on('SIGTERM', () => stop('SIGTERM'));
  void sample.childExited.then(({ name, code, signal }) => stop(`${name} exited (${code ?? signal})`, 1));
}

void main();
