import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { ReliableMqModuleOptions } from './reliable-mq-options.interface';

export const {
  ConfigurableModuleClass: ReliableMqConfigurableModule,
  MODULE_OPTIONS_TOKEN: RELIABLE_MQ_MODULE_OPTIONS,
  OPTIONS_TYPE: RELIABLE_MQ_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: RELIABLE_MQ_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<ReliableMqModuleOptions>()
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: true }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();
