import { execFileSync } from 'node:child_process';
import { readFileSync, statfsSync } from 'node:fs';
import * as os from 'node:os';
import type { MachineInfo } from './types';

/** The mount that holds `path`, from /proc/mounts (Linux); undefined elsewhere. */
function mountOf(path: string): { device: string; mountPoint: string; fsType: string; options: string } | undefined {
  let mounts: string;
  try {
    mounts = readFileSync('/proc/mounts', 'utf8');
  } catch {
    return undefined;
  }
  let best: { device: string; mountPoint: string; fsType: string; options: string } | undefined;
  for (const line of mounts.split('\n')) {
    const [device, mountPoint, fsType, options] = line.split(' ');
    if (!device || !mountPoint || !fsType) continue;
    const within = path === mountPoint || path.startsWith(mountPoint.endsWith('/') ? mountPoint : `${mountPoint}/`);
    if (within && (!best || mountPoint.length > best.mountPoint.length)) {
      best = { device, mountPoint, fsType, options: options ?? '' };
    }
  }
  return best;
}

function blockDeviceTraits(device: string): string {
  const name = device
    .replace(/^\/dev\//, '')
    .replace(/[0-9]+$/, '')
    .replace(/p$/, '');
  const read = (file: string): string | undefined => {
    try {
      return readFileSync(`/sys/block/${name}/${file}`, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const rotational = read('queue/rotational');
  const cache = read('queue/write_cache');
  const model = read('device/model');
  const parts = [
    model,
    rotational === undefined ? undefined : `kernel flag ${rotational === '1' ? 'rotational' : 'non-rotational'}`,
    cache ? `write cache: ${cache}` : undefined,
  ].filter(Boolean);
  return parts.join(', ');
}

/**
 * Pressure stall information (Linux): the share of the last 60 s in which some task waited for CPU or for I/O.
 * Other work on the machine shows here; figures taken under pressure are noisier and lower.
 */
export function pressureNow(): string | undefined {
  const read = (kind: string): string | undefined => {
    try {
      const line = readFileSync(`/proc/pressure/${kind}`, 'utf8').split('\n')[0] ?? '';
      const avg60 = /avg60=([0-9.]+)/.exec(line)?.[1];
      return avg60 === undefined ? undefined : `${kind} ${avg60}%`;
    } catch {
      return undefined;
    }
  };
  const parts = [read('cpu'), read('io')].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

/** Cores, memory, Node version and the disk that holds `dataDir`, for the committed results. */
export function describeMachine(dataDir: string, services: Record<string, string>): MachineInfo {
  const cpus = os.cpus();
  const mount = mountOf(dataDir);
  let disk = 'unknown';
  if (mount) {
    const stats = statfsSync(dataDir);
    const sizeGiB = (stats.blocks * stats.bsize) / 2 ** 30;
    const traits = blockDeviceTraits(mount.device);
    disk = `${mount.device} (${mount.fsType}${traits ? `, ${traits}` : ''}) mounted on ${mount.mountPoint}, ${sizeGiB.toFixed(0)} GiB`;
  }
  let osText = `${os.type()} ${os.release()} ${os.arch()}`;
  try {
    const pretty = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
    if (pretty) osText = `${pretty}, kernel ${os.release()}, ${os.arch()}`;
  } catch {
    // Not Linux, or no os-release: the generic text stays.
  }
  let virt: string | undefined;
  try {
    virt = execFileSync('systemd-detect-virt', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    virt = undefined;
  }
  if (virt && virt !== 'none') osText += ` (virtualised: ${virt})`;
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: osText,
    disk,
    loadAverageAtStart: os.loadavg().map((value) => Math.round(value * 100) / 100),
    ...(pressureNow() ? { pressureAtStart: pressureNow() } : {}),
    services,
  };
}
