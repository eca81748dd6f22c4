import { Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { MQ_CONSUMER_METADATA } from '../constants';
import type { MqConsumerOptions } from './mq-consumer-options.interface';

/** The one place that reads handler metadata. */
@Injectable()
export class ConsumerMetadataAccessor {
  constructor(private readonly reflector: Reflector) {}

  getConsumerOptions(method: (...args: never[]) => unknown): MqConsumerOptions | undefined {
    return this.reflector.get<MqConsumerOptions | undefined>(MQ_CONSUMER_METADATA, method);
  }
}
