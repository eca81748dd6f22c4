import { randomBytes } from 'node:crypto';
import { describe, inject, it } from 'vitest';
import {
  describeEndpoint,
  serviceEndpoint,
  type ServiceAvailability,
  type ServiceEndpoint,
  type ServiceName,
} from './service-probe';

export {
  MARIADB_URL,
  POSTGRES_URL,
  RABBITMQ_URL,
  REDIS_URL,
  describeEndpoint,
  probeTcp,
  serviceEndpoint,
  type ServiceEndpoint,
  type ServiceName,
} from './service-probe';

/**
 * Whether the service answered the probe made once at the start of the run (see services-global-setup.ts).
 * Synchronous, so it can feed `describe.skipIf` directly.
 */
export function serviceAvailable(service: ServiceName): boolean {
  // Undefined at run time when the global setup is missing, whatever the declared type says.
  const availability: ServiceAvailability | undefined = inject('reliableMqServices');
  if (availability === undefined) {
    throw new Error(
      'Service availability is unknown: add test/support/services-global-setup.ts to globalSetup in vitest.config.ts.',
    );
  }
  return availability[service];
}

export type ServiceGate =
  | { readonly mode: 'run' }
  | { readonly mode: 'skip'; readonly reason: string }
  | { readonly mode: 'fail'; readonly reason: string };

/**
 * What to do with a suite given the services that did not answer. Outside CI a missing service skips the suite, so
 * that a laptop without RabbitMQ can still run the rest; in CI it is an error, so that a broken environment cannot
 * pass by skipping everything.
 */
export function decideGate(unreachable: readonly ServiceEndpoint[], ci: boolean): ServiceGate {
  if (unreachable.length === 0) {
    return { mode: 'run' };
  }
  const which = unreachable.map(describeEndpoint).join(', ');
  const one = unreachable.length === 1;
  if (ci) {
    return { mode: 'fail', reason: `${which} ${one ? 'is' : 'are'} required in CI` };
  }
  return {
    mode: 'skip',
    reason: `${which} ${one ? 'is' : 'are'} not reachable; start ${one ? 'it' : 'them'} or set CI=true to make this a failure`,
  };
}

export function serviceGate(services: ServiceName | readonly ServiceName[]): ServiceGate {
  const wanted: readonly ServiceName[] = typeof services === 'string' ? [services] : services;
  const unreachable = wanted.filter((service) => !serviceAvailable(service)).map(serviceEndpoint);
  return decideGate(unreachable, process.env.CI === 'true');
}

/**
 * `describe` for a suite that needs real services:
 *
 *     describeWithService('redis', 'RedisDedupStore', () => { ... });
 *     describeWithService(['postgres', 'rabbitmq'], 'outbox relay to RabbitMQ', () => { ... });
 *
 * When a service is down the suite is skipped with the reason in its title, or, when CI=true, replaced by one
 * failing test that names the missing service.
 */
export function describeWithService(
  services: ServiceName | readonly ServiceName[],
  name: string,
  fn: () => void,
): void {
  const gate = serviceGate(services);
  switch (gate.mode) {
    case 'run':
      describe(name, fn);
      return;
    case 'skip':
      console.warn(`[services] skipping "${name}": ${gate.reason}`);
      describe.skip(`${name} (skipped: ${gate.reason})`, fn);
      return;
    case 'fail':
      describe(name, () => {
        it('has the services it needs', () => {
          throw new Error(gate.reason);
        });
      });
      return;
  }
}

let uniqueCounter = 0;

/**
 * A name no other test, worker or earlier run will use: prefix, pid, a per-process counter and random hex. The
 * added part uses only lower-case letters, digits and `_`, so with a prefix of the same kind the result is valid as
 * a database, schema, queue, topic, group or key name.
 */
export function uniqueName(prefix: string): string {
  uniqueCounter += 1;
  return `${prefix}_${process.pid}_${uniqueCounter}_${randomBytes(4).toString('hex')}`;
}
