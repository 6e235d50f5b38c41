import { onchainTable } from "ponder";

// Ponder needs a schema; the baseline writes nothing.
export const unused = onchainTable("unused", (t) => ({ id: t.text().primaryKey() }));
