/**
 * Ponder's own HTTP endpoints: /health, /ready, /status, /metrics (built in) and its generated /graphql. The
 * protocol's public API is api/ (graphql-yoga over the views schema); this endpoint serves the indexer's operators
 * and the API benchmark's comparison.
 */
import { db } from "ponder:api";
import schema from "ponder:schema";
import { Hono } from "hono";
import { graphql } from "ponder";

const app = new Hono();
app.use("/graphql", graphql({ db, schema }));

export default app;
