/**
 * Environment configuration, validated once, with errors that name the variable at fault.
 * Used by hardhat.config.ts (network definitions), the deploy preflight and, later, every service.
 */

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

/** Returns the variable's trimmed value, or undefined when it is unset or blank. */
export function optionalEnv(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

/** Returns the variable's value or throws a ConfigError naming it. */
export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = optionalEnv(name, env);
  if (value === undefined) throw new ConfigError(name, "is required but not set (see .env.example)");
  return value;
}

const PRIVATE_KEY = /^0x[0-9a-fA-F]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

export function requirePrivateKey(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = requireEnv(name, env);
  if (!PRIVATE_KEY.test(value)) throw new ConfigError(name, "must be a 0x-prefixed 32-byte hex private key");
  return value;
}

export function requireAddress(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = requireEnv(name, env);
  if (!ADDRESS.test(value)) throw new ConfigError(name, `must be a 0x-prefixed 20-byte hex address, got "${value}"`);
  return value;
}

export function requireUrl(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = requireEnv(name, env);
  try {
    const url = new URL(value);
    if (!["http:", "https:", "ws:", "wss:"].includes(url.protocol)) throw new Error("bad protocol");
  } catch {
    throw new ConfigError(name, `must be an http(s) or ws(s) URL, got "${value}"`);
  }
  return value;
}

/** A comma-separated list of addresses; at least one. */
export function requireAddressList(name: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const items = requireEnv(name, env)
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
  const bad = items.find((item) => !ADDRESS.test(item));
  if (bad !== undefined) throw new ConfigError(name, `contains "${bad}", which is not a 0x-prefixed 20-byte hex address`);
  if (items.length === 0) throw new ConfigError(name, "must list at least one address");
  return items;
}

/** A whole number from the environment, or `fallback` when unset. */
export function intEnv(name: string, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = optionalEnv(name, env);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  return Number(raw);
}
