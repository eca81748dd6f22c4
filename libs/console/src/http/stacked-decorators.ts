import { applyDecorators } from '@nestjs/common';

/**
 * Applies decorators in the order they would run when written one above the other (the lowest first), so a field
 * declared with a composed decorator keeps the validation error order it had when its checks were spelled out.
 */
export function stacked(...topToBottom: PropertyDecorator[]): PropertyDecorator {
  return applyDecorators(...[...topToBottom].reverse());
}
