import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { CardDeclinedError } from './card-declined.error';
import { GatewayUnavailableError } from './gateway-unavailable.error';
import { TEST_CARDS, TRANSIENT_FAILURES } from './test-cards';

export interface ChargeRequest {
  /** The gateway charges a key at most once; the payment service passes the order id. */
  idempotencyKey: string;
  card: string;
  amountCents: number;
}

export interface GatewayCharge {
  id: string;
  amountCents: number;
  cardLast4: string;
  chargedAt: number;
}

/**
 * A payment gateway that decides by test card (see TEST_CARDS) and, like real ones, honours an idempotency key: a
 * second charge with the same key returns the first charge instead of charging again. State lives in this
 * instance, so every application has its own gateway.
 */
@Injectable()
export class FakePaymentGateway {
  private readonly logger = new Logger(FakePaymentGateway.name);
  private readonly calls = new Map<string, number>();
  private readonly charges = new Map<string, GatewayCharge>();

  async charge(request: ChargeRequest): Promise<GatewayCharge> {
    const call = (this.calls.get(request.idempotencyKey) ?? 0) + 1;
    this.calls.set(request.idempotencyKey, call);
    const previous = this.charges.get(request.idempotencyKey);
    if (previous) {
      this.logger.warn(
        `Charge ${previous.id} for key ${request.idempotencyKey} requested again; returning it, nothing charged`,
      );
      return previous;
    }
    const last4 = request.card.slice(-4);
    if (request.card === TEST_CARDS.declined) throw new CardDeclinedError(last4, 'do_not_honor');
    if (request.card === TEST_CARDS.failsTwice && call <= TRANSIENT_FAILURES) {
      throw new GatewayUnavailableError(
        `payment gateway timed out (card ending ${last4} fails its first ${TRANSIENT_FAILURES} calls; this was call ${call})`,
      );
    }
    const charge: GatewayCharge = {
      id: `ch_${randomUUID()}`,
      amountCents: request.amountCents,
      cardLast4: last4,
      chargedAt: Date.now(),
    };
    this.charges.set(request.idempotencyKey, charge);
    return charge;
  }

  /** Calls made with this key, successful or not. */
  callsFor(idempotencyKey: string): number {
    return this.calls.get(idempotencyKey) ?? 0;
  }

  /** Charges actually made, over all keys. */
  get chargeCount(): number {
    return this.charges.size;
  }
}
