import type { TestProject } from 'vitest/node';
import { probeServices } from './service-probe';

/** Probes the loopback services once per run; spec files read the result through inject('reliableMqServices'). */
export default async function setup(project: TestProject): Promise<void> {
  project.provide('reliableMqServices', await probeServices());
}
