import { ConfigurableModuleBuilder } from '@nestjs/common';
import { RouterModule } from '@nestjs/core';
import { CONSOLE_MOUNT_PATH } from './console.constants';
import type { ReliableMqConsoleOptions } from './console-options.interface';
import { DEFAULT_MOUNT_PATH, normaliseMountPath } from './console-options.resolver';

/**
 * `forRoot(options)` / `forRootAsync({ useFactory, inject, path })`. The mount path is an extra, outside the
 * factory: routes are registered before an async factory runs, so the path must be known statically.
 */
export const {
  ConfigurableModuleClass: ReliableMqConsoleConfigurableModule,
  MODULE_OPTIONS_TOKEN: CONSOLE_MODULE_OPTIONS,
  OPTIONS_TYPE: CONSOLE_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: CONSOLE_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<ReliableMqConsoleOptions>()
  .setClassMethodName('forRoot')
  .setExtras({ path: DEFAULT_MOUNT_PATH }, (definition, extras) => {
    const path = normaliseMountPath(extras.path);
    return {
      ...definition,
      imports: [...(definition.imports ?? []), RouterModule.register([{ path, module: definition.module }])],
      providers: [...(definition.providers ?? []), { provide: CONSOLE_MOUNT_PATH, useValue: path }],
    };
  })
  .build();
