/**
 * Relation pages read only the columns their selection needs (api/columns.ts): the real schema and resolvers run
 * over a recording loader, and each relation's requested columns are checked: the selected fields' columns, what a
 * derived field or nested relation reads, the key and default order; every column for anything unaccounted for.
 * The loader path is reached through a one-to-one hop (charge { escrow { charges } }): relations straight below a root
 * field are read by the root field's own statement (api/tree.ts), whose SQL is checked last.
 * (test/e2e/api-read.test.ts checks the answers against Postgres: the same rows as a root list reading every column.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execute, parse } from "graphql";
import { makeExecutableSchema } from "@graphql-tools/schema";
import { selectedColumns } from "../../api/columns";
import { createResolvers } from "../../api/resolvers";
import { typeDefs } from "../../api/sdl";

const schema = makeExecutableSchema({ typeDefs: typeDefs(), resolvers: createResolvers() as never });

/** Runs `document` and returns the columns each relation asked for, by "Type.field" of the child type. */
async function requested(document: string, statements: string[] = []): Promise<Record<string, string[] | "*">> {
  const asked: Record<string, string[] | "*"> = {};
  const db = {
    query: async (sql: string) => {
      statements.push(sql);
      return [];
    },
  };
  const row = { address: "0xaa", id: "1", listing_id: "1", escrow_id: "1", renter: "0xaa", provider: "0xbb", proposal_id: "1", deposit: "10", charged: "1", attested: false };
  const loaders = {
    one: async () => row,
    many: async (type: string, field: string, _key: string, _limit: number, columns?: string[]) => {
      asked[`${type}.${field}`] = columns ?? "*";
      return [row];
    },
  };
  const result = await execute({ schema, document: parse(document), contextValue: { loaders, head: () => undefined, schema: "s", db } });
  // The stand-in rows lack most columns: only "missing value" errors are expected, nothing else.
  const other = (result.errors ?? []).filter((e) => !/Cannot return null for non-nullable field/.test(e.message));
  assert.deepEqual(other, []);
  return asked;
}

test("a relation page reads the selected columns, its key and default order, and what derived fields need (the loader adds the foreign key)", async () => {
  const asked = await requested(`{ escrow(id: "1") { renterAccount { escrows { id remaining listing { id } charges { amount } } } } }`);
  // Escrow: key id, default order opened_at; remaining reads deposit and charged; listing reads listing_id; the
  // nested charges relation reads the parent's id.
  assert.deepEqual(asked["Escrow.renter"], ["charged", "deposit", "id", "listing_id", "opened_at"]);
  assert.deepEqual(asked["Charge.escrowId"], ["amount", "id", "timestamp"]);
});

test("fragments and inline fragments count; __typename costs nothing", async () => {
  const asked = await requested(`
    fragment C on Charge { status dispute { chargeId } }
    { charge(id: "1") { escrow { charges { __typename ...C ... on Charge { txHash } } } } }`);
  assert.deepEqual(asked["Charge.escrowId"], ["attested", "charge_id", "id", "status", "timestamp", "tx_hash"]);
});

test("proposal votes and derived proposal fields", async () => {
  const asked = await requested(`{ vote(id: "1") { proposal { votes { voter proposal { id } } } } }`);
  assert.deepEqual(asked["Vote.proposalId"], ["id", "proposal_id", "timestamp", "voter"]);
});

test("a field with no column and no declared needs means every column", () => {
  const info = {
    fieldNodes: [parse(`{ x { id somethingNew } }`).definitions[0]].map((d) => (d as any).selectionSet.selections[0]),
    fragments: {},
  };
  assert.equal(selectedColumns("Escrow", info as never), undefined);
  assert.equal(selectedColumns("Escrow", undefined), undefined);
});

test("fragments nested deeper than it follows mean every column, not a partial list", async () => {
  let nested = "amount dispute { chargeId }";
  for (let i = 0; i < 12; i++) nested = `... on Charge { ${nested} }`;
  const asked = await requested(`{ charge(id: "1") { escrow { charges { id ${nested} } } } }`);
  assert.equal(asked["Charge.escrowId"], "*");
  const shallow = await requested(`{ charge(id: "1") { escrow { charges { id ... on Charge { ... on Charge { amount } } } } } }`);
  assert.deepEqual(shallow["Charge.escrowId"], ["amount", "id", "timestamp"]);
});

test("below a root field the relation tree reads the same columns, numerics as text, in one statement", async () => {
  const statements: string[] = [];
  const asked = await requested(`{ account(address: "0xAA") { escrows(limit: 3) { id remaining listing { id } charges { amount } } } }`, statements);
  assert.deepEqual(asked, {}, "no loader ran");
  assert.equal(statements.length, 1);
  const sql = statements[0];
  const keys = (alias: string) => [...sql.matchAll(new RegExp(`'([a-z_]+)', ${alias}\\."`, "g"))].map((m) => m[1]);
  assert.deepEqual(keys("r0"), ["charged", "deposit", "id", "listing_id", "opened_at"]);
  assert.deepEqual(keys("r1"), ["amount", "id", "timestamp"]);
  assert.match(sql, /'deposit', r0\."deposit"::text/);
  assert.match(sql, /r0\."renter" = t\."address" ORDER BY r0\."opened_at", r0\."id" LIMIT 3/);
  assert.match(sql, /r1\."escrow_id" = r0\."id" ORDER BY r1\."timestamp", r1\."id" LIMIT 10/);
  assert.match(sql, /'__tree_charges', \(SELECT/);
  assert.match(sql, /AS "__tree_escrows" FROM "s"\."account" t WHERE t\."address" = \$1::text$/);
});
