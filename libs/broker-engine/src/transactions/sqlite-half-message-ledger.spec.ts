import { describe, it } from 'vitest';
import { halfMessageLedgerContract } from '../../test/half-message-ledger.contract';
import { sqliteLedgerUnderTest } from '../../test/sqlite-ledger-fixture';

halfMessageLedgerContract('the engine (SQLite)', async () => sqliteLedgerUnderTest(), { describe, it });
