import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../support/spawn-ts';

const CI_SCRIPT = path.join(REPO_ROOT, '.ci', 'run');

/**
 * `ensure_chromium` from `.ci/run`, run against stand-ins: `apt-get` that logs its calls and installs a fake
 * Chromium (failing the first `failInstalls` installs), `id` that reports the user id, and `sudo` when asked for.
 * The PATH holds nothing else but `env`, so a real apt-get or sudo can never run.
 */
function runEnsureChromium(
  dir: string,
  options: { uid?: number; sudo?: boolean; failInstalls?: number; failUpdate?: boolean; chromiumPath?: string } = {},
): { status: number | null; stdout: string; stderr: string; calls: string[] } {
  const bin = path.join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const log = path.join(dir, 'calls.log');
  const chromium = path.join(dir, 'usr-bin-chromium');
  const counter = path.join(dir, 'installs');
  const script = (body: string): string => `#!/bin/bash\n${body}\n`;
  writeFileSync(path.join(bin, 'id'), script(`echo ${options.uid ?? 0}`));
  writeFileSync(
    path.join(bin, 'apt-get'),
    script(`echo "apt-get $* (DEBIAN_FRONTEND=$DEBIAN_FRONTEND)" >> '${log}'
if [[ $1 == update ]]; then exit ${options.failUpdate ? 1 : 0}; fi
n=0; [[ -f '${counter}' ]] && n=$(< '${counter}'); n=$((n + 1)); echo $n > '${counter}'
if ((n <= ${options.failInstalls ?? 0})); then echo "E: Unable to locate package chromium" >&2; exit 100; fi
echo '#!/bin/bash' > '${chromium}'; /bin/chmod 755 '${chromium}'`),
  );
  if (options.sudo) writeFileSync(path.join(bin, 'sudo'), script(`echo "sudo $*" >> '${log}'; shift; exec "$@"`));
  for (const name of ['id', 'apt-get', 'sudo']) {
    if (existsSync(path.join(bin, name))) chmodSync(path.join(bin, name), 0o755);
  }
  if (!existsSync(path.join(bin, 'env'))) symlinkSync('/usr/bin/env', path.join(bin, 'env'));

  const env: NodeJS.ProcessEnv = { PATH: bin, HOME: dir };
  if (options.chromiumPath !== undefined) env.CHROMIUM_PATH = options.chromiumPath;
  const result = spawnSync(
    '/bin/bash',
    ['-c', `set -euo pipefail; source '${CI_SCRIPT}'; CHROMIUM_DEBIAN='${chromium}'; ensure_chromium`],
    { env, encoding: 'utf8', timeout: 20_000 },
  );
  return {
    status: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
    calls: existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [],
  };
}

describe('.ci/run: Chromium for the browser tests', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'rmq-ci-chromium-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('leaves an installed Chromium alone', () => {
    const chromium = path.join(dir, 'usr-bin-chromium');
    writeFileSync(chromium, '#!/bin/bash\n');
    chmodSync(chromium, 0o755);
    const run = runEnsureChromium(dir);
    expect(run.status).toBe(0);
    expect(run.calls).toEqual([]);
    expect(run.stdout).toContain(`ci: Chromium is at ${chromium}`);
  });

  it('installs the package without updating the lists first, non-interactively, as root', () => {
    const run = runEnsureChromium(dir);
    expect(run.status, run.stderr).toBe(0);
    expect(run.calls).toEqual(['apt-get install -y --no-install-recommends chromium (DEBIAN_FRONTEND=noninteractive)']);
    expect(run.stdout).toContain('ci: Chromium is installed at');
  });

  it('updates the package lists only when the first install fails', () => {
    const run = runEnsureChromium(dir, { failInstalls: 1 });
    expect(run.status, run.stderr).toBe(0);
    expect(run.calls).toEqual([
      'apt-get install -y --no-install-recommends chromium (DEBIAN_FRONTEND=noninteractive)',
      'apt-get update (DEBIAN_FRONTEND=noninteractive)',
      'apt-get install -y --no-install-recommends chromium (DEBIAN_FRONTEND=noninteractive)',
    ]);
  });

  it('fails with a clear message when the package cannot be installed', () => {
    const run = runEnsureChromium(dir, { failInstalls: 2 });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(
      "ci: error: could not install Debian's chromium package, which the browser tests need (see the apt-get output above)",
    );
    const noLists = runEnsureChromium(mkdtempSync(path.join(dir, 'again-')), { failInstalls: 1, failUpdate: true });
    expect(noLists.status).not.toBe(0);
    expect(noLists.calls).toHaveLength(2);
    expect(noLists.stderr).toContain("could not install Debian's chromium package");
  });

  it('uses sudo without a prompt when not root, and says so when there is no sudo', () => {
    const withSudo = runEnsureChromium(dir, { uid: 1000, sudo: true });
    expect(withSudo.status, withSudo.stderr).toBe(0);
    expect(withSudo.calls).toEqual([
      'sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium',
      'apt-get install -y --no-install-recommends chromium (DEBIAN_FRONTEND=noninteractive)',
    ]);

    const noSudo = runEnsureChromium(mkdtempSync(path.join(dir, 'nosudo-')), { uid: 1000 });
    expect(noSudo.status).not.toBe(0);
    expect(noSudo.calls).toEqual([]);
    expect(noSudo.stderr).toContain('needs root, and this user is not root and has no sudo');
    expect(noSudo.stderr).toContain("could not install Debian's chromium package");
  });

  it('checks a CHROMIUM_PATH but never installs something else in its place', () => {
    const run = runEnsureChromium(dir, { chromiumPath: path.join(dir, 'elsewhere', 'chrome') });
    expect(run.status).not.toBe(0);
    expect(run.calls).toEqual([]);
    expect(run.stderr).toContain(
      `ci: error: CHROMIUM_PATH=${path.join(dir, 'elsewhere', 'chrome')} is not an executable file; fix it or unset it to use Debian's chromium package`,
    );
  });
});
