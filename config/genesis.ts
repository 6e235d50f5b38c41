/**
 * The genesis plan of a live deployment: a reviewed file (config/genesis/<network>.json, or GENESIS_FILE) that says
 * who gets what from the treasury on day one and who runs the protocol's first committee. The deploy applies it
 * through real timelock operations before handover (deploy/10_genesis.ts), and the handover then proves that the
 * protocol can act: some holder can propose, the committee has a quorum, the launch listings are rentable.
 *
 * Amounts are whole FTNS as decimal strings ("2500000", "0.5"); times are ISO-8601; every error names the field.
 */
import fs from "node:fs";
import path from "node:path";
import { getAddress, isAddress, parseUnits } from "ethers";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { optionalEnv } from "./env";
import { LAUNCH_MODELS } from "./launch-models";

export interface TransferAllocation {
  kind: "transfer";
  label: string;
  to: string;
  amount: string;
}

export interface VestingAllocation {
  kind: "vesting";
  label: string;
  beneficiary: string;
  amount: string;
  /** When vesting starts (ISO-8601). */
  start: string;
  durationDays: number;
  cliffDays: number;
}

export interface MerkleAllocation {
  kind: "merkle";
  label: string;
  /** Either the claims themselves or a JSON file of them next to the plan. */
  claims?: { account: string; amount: string }[];
  claimsFile?: string;
  /** Days after deployment during which claims are open; the rest then returns to the treasury. */
  claimDays: number;
}

export type Allocation = TransferAllocation | VestingAllocation | MerkleAllocation;

export interface GenesisPlan {
  network: string;
  allocations: Allocation[];
  /** The bootstrap committee: at least 4 members; each is sent its bond from the treasury and bonds it itself. */
  committee: { members: { address: string; bond: string }[] };
  /** The bootstrap participants of quadratic voting (registered when the governor is initialised). */
  participants: string[];
  /** The eight launch models, listed by the deployer with this bond each (sent from the treasury). */
  launchListings?: { bond: string };
}

/** A plan checked and converted: raw FTNS amounts, checksummed addresses, the Merkle tree built. */
export interface ResolvedGenesis {
  file: string;
  plan: GenesisPlan;
  transfers: { label: string; to: string; amount: bigint }[];
  vesting: { label: string; beneficiary: string; amount: bigint; start: bigint; duration: bigint; cliff: bigint }[];
  merkle: { label: string; root: string; amount: bigint; claimSeconds: bigint; tree: StandardMerkleTree<[bigint, string, bigint]> }[];
  members: { address: string; bond: bigint }[];
  participants: string[];
  launchListingBond?: bigint;
  /** Everything the genesis batch moves out of the treasury. */
  total: bigint;
}

export class GenesisError extends Error {
  override name = "GenesisError";
  constructor(file: string, field: string, message: string) {
    super(`${path.relative(process.cwd(), file)}: ${field}: ${message}`);
  }
}

export function genesisFile(network: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(optionalEnv("GENESIS_FILE", env) ?? path.join(__dirname, "genesis", `${network}.json`));
}

const DAY = 86_400n;

export function loadGenesis(network: string, env: NodeJS.ProcessEnv = process.env): ResolvedGenesis {
  const file = genesisFile(network, env);
  if (!fs.existsSync(file)) {
    throw new GenesisError(file, "file", `no genesis plan for "${network}": write one (see config/genesis/example.json and docs/deploy.md) or set GENESIS_FILE`);
  }
  let plan: GenesisPlan;
  try {
    plan = JSON.parse(fs.readFileSync(file, "utf8")) as GenesisPlan;
  } catch (error) {
    throw new GenesisError(file, "file", `not valid JSON (${(error as Error).message})`);
  }
  return resolveGenesis(plan, file, network);
}

export function resolveGenesis(plan: GenesisPlan, file: string, network: string): ResolvedGenesis {
  const fail = (field: string, message: string): never => {
    throw new GenesisError(file, field, message);
  };
  const address = (field: string, value: unknown): string => {
    if (typeof value !== "string" || !isAddress(value) || /^0x0{40}$/.test(value)) fail(field, `"${String(value)}" is not a non-zero address`);
    return getAddress(value as string);
  };
  const amount = (field: string, value: unknown): bigint => {
    if (typeof value !== "string" || !/^\d+(\.\d{1,18})?$/.test(value)) fail(field, `"${String(value)}" is not a whole-FTNS decimal string such as "1000" or "0.5"`);
    const raw = parseUnits(value as string, 18);
    if (raw === 0n) fail(field, "must be more than 0");
    return raw;
  };
  const days = (field: string, value: unknown, min = 0): bigint => {
    if (typeof value !== "number" || !Number.isInteger(value) || value < min) fail(field, `must be a whole number of days >= ${min}`);
    return BigInt(value as number) * DAY;
  };

  if (typeof plan !== "object" || plan === null) fail("(root)", "must be a JSON object");
  if (plan.network !== network) fail("network", `the plan is for "${plan.network}", not "${network}"`);
  if (!Array.isArray(plan.allocations)) fail("allocations", "must be a list");

  const resolved: ResolvedGenesis = { file, plan, transfers: [], vesting: [], merkle: [], members: [], participants: [], total: 0n };
  plan.allocations.forEach((a, i) => {
    const at = `allocations[${i}]`;
    if (typeof a.label !== "string" || !a.label.trim()) fail(`${at}.label`, "is required");
    if (a.kind === "transfer") {
      resolved.transfers.push({ label: a.label, to: address(`${at}.to`, a.to), amount: amount(`${at}.amount`, a.amount) });
    } else if (a.kind === "vesting") {
      const start = Date.parse(a.start);
      if (Number.isNaN(start)) fail(`${at}.start`, `"${a.start}" is not an ISO-8601 time`);
      const duration = days(`${at}.durationDays`, a.durationDays, 1);
      const cliff = days(`${at}.cliffDays`, a.cliffDays);
      if (cliff > duration) fail(`${at}.cliffDays`, "is longer than the vesting itself");
      resolved.vesting.push({ label: a.label, beneficiary: address(`${at}.beneficiary`, a.beneficiary), amount: amount(`${at}.amount`, a.amount), start: BigInt(Math.floor(start / 1000)), duration, cliff });
    } else if (a.kind === "merkle") {
      let claims = a.claims;
      if (a.claimsFile !== undefined) {
        const claimsPath = path.resolve(path.dirname(file), a.claimsFile);
        if (!fs.existsSync(claimsPath)) fail(`${at}.claimsFile`, `${claimsPath} does not exist`);
        claims = JSON.parse(fs.readFileSync(claimsPath, "utf8"));
      }
      if (!Array.isArray(claims) || claims.length === 0) fail(`${at}.claims`, "must list at least one { account, amount }");
      const values = claims!.map((c, j) => [BigInt(j), address(`${at}.claims[${j}].account`, c.account), amount(`${at}.claims[${j}].amount`, c.amount)] as [bigint, string, bigint]);
      const tree = StandardMerkleTree.of(values, ["uint256", "address", "uint256"]);
      resolved.merkle.push({ label: a.label, root: tree.root, amount: values.reduce((s, v) => s + v[2], 0n), claimSeconds: days(`${at}.claimDays`, a.claimDays, 1), tree });
    } else {
      fail(`${at}.kind`, `"${(a as { kind: unknown }).kind}" is not one of transfer, vesting, merkle`);
    }
  });

  const members = plan.committee?.members;
  if (!Array.isArray(members) || members.length < 4) fail("committee.members", "needs at least 4 members (n >= 3f+1 with f >= 1)");
  members.forEach((m, i) => resolved.members.push({ address: address(`committee.members[${i}].address`, m.address), bond: amount(`committee.members[${i}].bond`, m.bond) }));
  if (new Set(resolved.members.map((m) => m.address)).size !== resolved.members.length) fail("committee.members", "lists an address twice");

  if (!Array.isArray(plan.participants) || plan.participants.length === 0) fail("participants", "must list at least one address");
  plan.participants.forEach((p, i) => resolved.participants.push(address(`participants[${i}]`, p)));

  if (plan.launchListings) resolved.launchListingBond = amount("launchListings.bond", plan.launchListings.bond);

  resolved.total =
    resolved.transfers.reduce((s, t) => s + t.amount, 0n) +
    resolved.vesting.reduce((s, v) => s + v.amount, 0n) +
    resolved.merkle.reduce((s, m) => s + m.amount, 0n) +
    resolved.members.reduce((s, m) => s + m.bond, 0n) +
    (resolved.launchListingBond ?? 0n) * BigInt(LAUNCH_MODELS.length);
  return resolved;
}

/** Names for the contracts a genesis deploys (hardhat-deploy deployment names). */
export const genesisDeploymentName = (kind: "Vesting" | "Claim", label: string) =>
  `Genesis${kind}_${label.replace(/[^A-Za-z0-9]+/g, "_").replace(/^_|_$/g, "")}`;
