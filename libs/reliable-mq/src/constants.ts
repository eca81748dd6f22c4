/** Injection tokens and metadata keys. Symbols, so two copies of the library never mix them up. */
export const RELIABLE_MQ_OPTIONS = Symbol('RELIABLE_MQ_OPTIONS');
export const RELIABLE_MQ_TRANSPORT = Symbol('RELIABLE_MQ_TRANSPORT');
export const RELIABLE_MQ_DEDUP_STORE = Symbol('RELIABLE_MQ_DEDUP_STORE');
export const MQ_CONSUMER_METADATA = 'reliable-mq:consumer';
export const TRANSACTION_CHECKER_METADATA = 'reliable-mq:transaction-checker';
