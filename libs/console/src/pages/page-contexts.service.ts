import { Inject, Injectable } from '@nestjs/common';
import { CONSOLE_MOUNT_PATH, CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import type { ConsolePrincipal, ConsoleRequest } from '../http/console-request';
import { mountBase } from '../http/mount-path';
import { ConsoleAssets } from './console-assets';
import type { PageContext } from './layout';

/** What every page is rendered with: where the console is mounted, who is looking, the broker, the clock, the bundle. */
@Injectable()
export class PageContexts {
  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    @Inject(CONSOLE_MOUNT_PATH) private readonly mount: string,
    private readonly assets: ConsoleAssets,
  ) {}

  /** The console's base URL path for this request (it may be mounted under a prefix). */
  base(request: ConsoleRequest): string {
    return mountBase(request, this.mount);
  }

  of(request: ConsoleRequest, principal: ConsolePrincipal): PageContext {
    const broker = this.options.broker;
    return {
      base: this.base(request),
      principal,
      brokerLabel: broker.label ?? broker.transport.kind,
      now: this.options.now(),
      bundle: this.assets.bundle,
    };
  }
}
