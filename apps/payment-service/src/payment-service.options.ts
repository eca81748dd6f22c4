import type { ServiceHostOptions } from '../../shared/src/service-app';
import type { ServiceBaseOptions } from '../../shared/src/service-options';

/** The payment service's database (default schema `payment_service`, SQLite file e.g. `data/payments.sqlite`), broker and relay. */
export interface PaymentServiceOptions extends ServiceBaseOptions {
  /** Retry delays of `order.created`, e.g. `1s 5s 10s`. Default: the broker's levels (1s 5s 10s 30s 1m …). */
  retryDelays?: string;
  /** Failed deliveries before the DLQ. Default 16. */
  maxRetries?: number;
  /**
   * Token of the operations that change state (`POST /ops/dead-letters/:id/resend`), sent as
   * `authorization: Bearer <token>`. Without it they answer 403. The sample keeps one in `<dataDir>/ops-token`.
   */
  opsToken?: string;
}

export interface PaymentServiceAppOptions extends PaymentServiceOptions, ServiceHostOptions {}
