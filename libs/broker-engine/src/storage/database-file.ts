/** The engine's database file in its data directory. Kept apart from the code that opens it, whose declarations name
 * the SQLite driver: an application that only reads this name must not need the driver's types. */
export const DATABASE_FILE = 'broker.sqlite';
