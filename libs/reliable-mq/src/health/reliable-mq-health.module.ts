import { Module } from '@nestjs/common';
import { ReliableMqHealthIndicator } from './reliable-mq-health.indicator';

/**
 * Provides ReliableMqHealthIndicator next to `TerminusModule`. ReliableMqModule must be global (the default) or
 * imported by the same module.
 */
@Module({ providers: [ReliableMqHealthIndicator], exports: [ReliableMqHealthIndicator] })
export class ReliableMqHealthModule {}
