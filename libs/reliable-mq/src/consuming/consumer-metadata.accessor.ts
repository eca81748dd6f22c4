import { Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { MQ_CONSUMER_METADATA, TRANSACTION_CHECKER_METADATA } from '../constants';
import type { TransactionCheckerOptions } from '../transactions/transaction-checker-options.interface';
import type { MqConsumerOptions } from './mq-consumer-options.interface';

/** The one place that reads handler metadata. */
@Injectable()
export class ConsumerMetadataAccessor {
  constructor(private readonly reflector: Reflector) {}

  getConsumerOptions(method: (...args: never[]) => unknown): MqConsumerOptions | undefined {
    return this.reflector.get<MqConsumerOptions | undefined>(MQ_CONSUMER_METADATA, method);
  }

  getTransactionCheckerOptions(method: (...args: never[]) => unknown): TransactionCheckerOptions | undefined {
    return this.reflector.get<TransactionCheckerOptions | undefined>(TRANSACTION_CHECKER_METADATA, method);
  }
}
