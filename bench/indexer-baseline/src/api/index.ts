// Ponder requires an API module; the baseline serves only Ponder's built-in /health, /ready and /status.
import { Hono } from "hono";

export default new Hono();
