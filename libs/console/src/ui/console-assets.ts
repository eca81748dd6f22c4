import { Injectable } from '@nestjs/common';
import { ConfigurationError } from '@reliable-mq/nestjs';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ConsoleAsset {
  type: string;
  body: Buffer;
  etag: string;
}

const FILES: Record<string, string> = {
  'console.css': 'text/css; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
};

/**
 * The console's stylesheet and script: two plain files next to this one, read once at startup. There is no
 * front-end build step; a build of the library must copy `ui/assets` along with the compiled files.
 */
@Injectable()
export class ConsoleAssets {
  private readonly assets = new Map<string, ConsoleAsset>();

  constructor() {
    const dir = join(__dirname, 'assets');
    for (const [name, type] of Object.entries(FILES)) {
      let body: Buffer;
      try {
        body = readFileSync(join(dir, name));
      } catch {
        throw new ConfigurationError(
          `ReliableMqConsoleModule: the asset ${join(dir, name)} is missing; copy libs/console/src/ui/assets next to the compiled ui folder.`,
        );
      }
      this.assets.set(name, { type, body, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"` });
    }
  }

  /** Only the known file names; anything else (including paths) is not found. */
  get(name: string): ConsoleAsset | undefined {
    return Object.hasOwn(FILES, name) ? this.assets.get(name) : undefined;
  }
}
