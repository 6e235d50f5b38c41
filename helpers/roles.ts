import type { HardhatRuntimeEnvironment } from "hardhat/types";
import { Contract, id, ZeroAddress, ZeroHash } from "ethers";
import { Deployments } from "../config/deployments";
import { requireAddress } from "../config/env";
import { isLiveNetwork } from "../config/networks";
import { parametersFor } from "../config/parameters";
import { toBigInt } from "./values";

/**
 * The handover's audit of a finished deployment (deploy/99_handover.ts), in three parts, each of which throws with
 * every violation it found:
 *   - roles: every role of every protocol contract (read from the ABIs: DEFAULT_ADMIN_ROLE and each `*_ROLE`
 *     constant) is held by exactly the expected accounts, rebuilt from RoleGranted/RoleRevoked history and confirmed
 *     with `hasRole`: the timelock administers, upgrades, arbitrates and admits; only the governor proposes; the
 *     governor and the safety council cancel; anyone executes; the token guardian is the configured one (on live
 *     networks the GUARDIAN_ADDRESS multisig); nobody mints. A role not listed here may be held by the timelock only.
 *   - the timelock's queue: no scheduled operation is still pending (the handover cancels what the deployer left);
 *   - day-one liveness: someone holds enough FTNS to propose, the registered participants can reach the quorum,
 *     the committee has at least its minimum size, the launch listings are rentable.
 */

export interface RoleViolation {
  deployment: string;
  role: string;
  holder: string;
  reason: string;
}

const ACCESS_CONTROL = [
  "event RoleGranted(bytes32 indexed role, address indexed account, address indexed sender)",
  "function hasRole(bytes32 role, address account) view returns (bool)",
];

/** Current holders of `role` on an AccessControl contract (OpenZeppelin's is not enumerable: from its events). */
export async function roleHolders(hre: HardhatRuntimeEnvironment, address: string, role: string, fromBlock: number): Promise<string[]> {
  const contract = new Contract(address, ACCESS_CONTROL, hre.ethers.provider);
  const granted = await contract.queryFilter(contract.filters.RoleGranted(role), fromBlock);
  const candidates = new Set(granted.map((log) => ("args" in log ? String(log.args.account) : "")).filter(Boolean));
  const holders: string[] = [];
  for (const account of candidates) if (await contract.hasRole(role, account)) holders.push(account);
  return holders;
}

/** Every role a deployed contract defines: DEFAULT_ADMIN_ROLE and each `*_ROLE()` constant of its ABI. */
export async function rolesOf(hre: HardhatRuntimeEnvironment, deploymentName: string): Promise<Record<string, string>> {
  const deployment = await hre.deployments.get(deploymentName);
  const names = (deployment.abi as { type: string; name?: string; inputs?: unknown[] }[])
    .filter((f) => f.type === "function" && f.name && /_ROLE$/.test(f.name) && (f.inputs?.length ?? 0) === 0)
    .map((f) => f.name!);
  const roles: Record<string, string> = {};
  for (const name of names) roles[name] = String(await hre.deployments.read(deploymentName, name));
  if (!roles.DEFAULT_ADMIN_ROLE && (deployment.abi as { name?: string }[]).some((f) => f.name === "hasRole")) roles.DEFAULT_ADMIN_ROLE = ZeroHash;
  return roles;
}

/** Who must hold each role after handover, per deployment (lower-case addresses). */
export async function expectedRoleHolders(hre: HardhatRuntimeEnvironment): Promise<Record<string, Record<string, string[]>>> {
  const timelock = (await hre.deployments.get(Deployments.Timelock)).address.toLowerCase();
  // A partial deployment (tests) may stop before the governor: then nobody is expected to propose yet.
  const governor = (await hre.deployments.getOrNull(Deployments.Governor))?.address.toLowerCase();
  const { deployer, safetyCouncil } = await hre.getNamedAccounts();
  const { token, governor: governorParams } = parametersFor(hre.network.name);
  const council = (governorParams.safetyCouncil.kind === "env" ? requireAddress(governorParams.safetyCouncil.variable) : safetyCouncil!).toLowerCase();
  const guardian = (token.guardian.kind === "env" ? requireAddress(token.guardian.variable) : token.guardian.kind === "deployer" ? deployer! : safetyCouncil!).toLowerCase();
  return {
    [Deployments.Timelock]: {
      DEFAULT_ADMIN_ROLE: [timelock],
      PROPOSER_ROLE: governor ? [governor] : [],
      CANCELLER_ROLE: governor ? [governor, council] : [],
      EXECUTOR_ROLE: [ZeroAddress.toLowerCase()],
    },
    [Deployments.Token]: { DEFAULT_ADMIN_ROLE: [timelock], UPGRADER_ROLE: [timelock], MINTER_ROLE: [], GUARDIAN_ROLE: [guardian] },
    [Deployments.Marketplace]: { DEFAULT_ADMIN_ROLE: [timelock], UPGRADER_ROLE: [timelock], ARBITER_ROLE: [timelock] },
    [Deployments.Committee]: { DEFAULT_ADMIN_ROLE: [timelock], UPGRADER_ROLE: [timelock], MEMBERSHIP_ROLE: [timelock] },
  };
}

/** Every role held by someone it should not be, or missing an account that must hold it. */
export async function auditRoles(hre: HardhatRuntimeEnvironment): Promise<RoleViolation[]> {
  const expected = await expectedRoleHolders(hre);
  const timelock = (await hre.deployments.get(Deployments.Timelock)).address.toLowerCase();
  const violations: RoleViolation[] = [];
  for (const deploymentName of Object.values(Deployments)) {
    const deployment = await hre.deployments.getOrNull(deploymentName);
    if (!deployment || !(deployment.abi as { name?: string }[]).some((f) => f.name === "hasRole")) continue;
    const fromBlock = deployment.receipt?.blockNumber ?? 0;
    for (const [roleName, role] of Object.entries(await rolesOf(hre, deploymentName))) {
      const allowed = expected[deploymentName]?.[roleName] ?? [timelock];
      const holders = (await roleHolders(hre, deployment.address, role, fromBlock)).map((h) => h.toLowerCase());
      for (const holder of holders) {
        if (!allowed.includes(holder)) {
          const code = await hre.ethers.provider.getCode(holder);
          violations.push({ deployment: deploymentName, role: roleName, holder, reason: code === "0x" ? "unexpected externally owned account" : "unexpected contract" });
        }
      }
      for (const must of expected[deploymentName]?.[roleName] ?? []) {
        if (!holders.includes(must)) violations.push({ deployment: deploymentName, role: roleName, holder: must, reason: "expected holder is missing" });
      }
    }
  }
  return violations;
}

export async function assertRolesAsExpected(hre: HardhatRuntimeEnvironment): Promise<void> {
  const violations = await auditRoles(hre);
  if (violations.length > 0) {
    const lines = violations.map((v) => `  ${v.deployment}.${v.role}: ${v.holder} (${v.reason})`);
    throw new Error(`Deployment roles are not as the handover requires:\n${lines.join("\n")}`);
  }
}

const TIMELOCK_QUEUE = [
  "event CallScheduled(bytes32 indexed id, uint256 indexed index, address target, uint256 value, bytes data, bytes32 predecessor, uint256 delay)",
  "function getOperationState(bytes32 id) view returns (uint8)",
];

/** Timelock operations still Waiting or Ready (not executed, not cancelled), with their calls. */
export async function pendingTimelockOperations(hre: HardhatRuntimeEnvironment): Promise<{ id: string; target: string; data: string }[]> {
  const deployment = await hre.deployments.get(Deployments.Timelock);
  const timelock = new Contract(deployment.address, TIMELOCK_QUEUE, hre.ethers.provider);
  const logs = await timelock.queryFilter(timelock.filters.CallScheduled(), deployment.receipt?.blockNumber ?? 0);
  const pending: { id: string; target: string; data: string }[] = [];
  const seen = new Set<string>();
  for (const log of logs) {
    if (!("args" in log)) continue;
    const opId = String(log.args.id);
    if (seen.has(opId)) continue;
    seen.add(opId);
    const state = Number(await timelock.getOperationState(opId));
    if (state === 1 || state === 2) pending.push({ id: opId, target: String(log.args.target), data: String(log.args.data) });
  }
  return pending;
}

export async function assertTimelockQueueEmpty(hre: HardhatRuntimeEnvironment): Promise<void> {
  const pending = await pendingTimelockOperations(hre);
  if (pending.length > 0) {
    throw new Error(`The timelock still has pending operations after handover:\n${pending.map((p) => `  ${p.id} -> ${p.target} ${p.data.slice(0, 10)}`).join("\n")}`);
  }
}

/** The timelock must be fed by the governor, and the governor must execute through this timelock. */
export async function assertGovernanceLive(hre: HardhatRuntimeEnvironment): Promise<void> {
  const governor = await hre.deployments.get(Deployments.Governor);
  const timelock = await hre.deployments.get(Deployments.Timelock);
  const { read } = hre.deployments;
  if (!(await read(Deployments.Timelock, "hasRole", id("PROPOSER_ROLE"), governor.address))) {
    throw new Error(`The governor ${governor.address} is not a proposer on the timelock ${timelock.address}`);
  }
  const governorTimelock = String(await read(Deployments.Governor, "timelock"));
  if (governorTimelock.toLowerCase() !== timelock.address.toLowerCase()) {
    throw new Error(`The governor executes through ${governorTimelock}, not the protocol timelock ${timelock.address}`);
  }
}

/**
 * Day one works: governance can act (a holder with the proposal threshold, registered participants whose possible
 * quadratic weight reaches the quorum), the committee can attest (at least its minimum size), and the market is
 * open (every listing made at deployment is rentable). Returns what it measured; throws listing what fails.
 */
export async function assertDayOneLive(hre: HardhatRuntimeEnvironment) {
  const { read, get } = hre.deployments;
  const failures: string[] = [];
  await assertGovernanceLive(hre).catch((e: Error) => failures.push(e.message));

  const token = await get(Deployments.Token);
  const timelock = await get(Deployments.Timelock);
  const tokenContract = new Contract(token.address, ["event Transfer(address indexed from, address indexed to, uint256 value)", "function balanceOf(address) view returns (uint256)"], hre.ethers.provider);
  const fromBlock = token.receipt?.blockNumber ?? 0;
  const recipients = new Set(
    (await tokenContract.queryFilter(tokenContract.filters.Transfer(timelock.address), fromBlock)).map((l) => ("args" in l ? String(l.args.to) : "")).filter(Boolean),
  );
  const threshold = toBigInt(await read(Deployments.Governor, "proposalThreshold"));
  let proposer: string | undefined;
  for (const r of recipients) {
    if (((await tokenContract.balanceOf(r)) as bigint) >= threshold && (await hre.ethers.provider.getCode(r)) === "0x") {
      proposer = r;
      break;
    }
  }
  // The in-process `hardhat` network (unit tests) leaves the treasury whole on purpose (06_local_funding): tests fund
  // the holders they need. Every other network, live ones first, must be able to govern from its genesis.
  const governable = hre.network.name !== "hardhat";
  if (governable && !proposer) failures.push(`no account outside the protocol holds the proposal threshold (${threshold} raw FTNS): nobody can propose`);

  const governor = await get(Deployments.Governor);
  const registry = new Contract(governor.address, [
    "event ParticipantRegistered(address indexed account, address indexed registrar, uint48 since)",
    "event ParticipantUnregistered(address indexed account, address indexed registrar, uint48 until)",
  ], hre.ethers.provider);
  const participants = new Set<string>();
  for (const l of await registry.queryFilter(registry.filters.ParticipantRegistered(), governor.receipt?.blockNumber ?? 0)) if ("args" in l) participants.add(String(l.args.account));
  for (const l of await registry.queryFilter(registry.filters.ParticipantUnregistered(), governor.receipt?.blockNumber ?? 0)) if ("args" in l) participants.delete(String(l.args.account));
  let weight = 0n;
  for (const p of participants) weight += sqrt((await tokenContract.balanceOf(p)) as bigint);
  const now = BigInt((await hre.ethers.provider.getBlock("latest"))!.timestamp);
  const quorum = toBigInt(await read(Deployments.Governor, "quorum", now - 1n));
  if (governable && weight < quorum) failures.push(`the ${participants.size} registered participants can reach at most ${weight} quadratic units; the quorum is ${quorum}`);

  const members = (await read(Deployments.Committee, "currentMembers")) as string[];
  const minSize = Number(toBigInt(((await read(Deployments.Committee, "getParameters")) as { minCommitteeSize: unknown }).minCommitteeSize));
  if (members.length < minSize) failures.push(`the committee has ${members.length} members; it attests nothing below ${minSize}`);

  const listingCount = Number(toBigInt(await read(Deployments.Marketplace, "listingCount")));
  const minBond = toBigInt(await read(Deployments.Marketplace, "minProviderBond"));
  const seeded = !isLiveNetwork(hre.network.name) || listingCount > 0;
  if (seeded && listingCount === 0) failures.push("no listing is open: the market cannot rent anything");
  for (let i = 1; i <= listingCount; i++) {
    const l = (await read(Deployments.Marketplace, "getListing", i)) as { status: unknown; bond: unknown };
    const bond = toBigInt(l.bond);
    if (Number(toBigInt(l.status)) !== 1 || bond < minBond) failures.push(`listing ${i} is not rentable (status ${String(l.status)}, bond ${bond})`);
  }
  if (failures.length > 0) throw new Error(`Day-one liveness does not hold:\n  ${failures.join("\n  ")}`);
  return { proposer, participants: participants.size, weight, quorum, committee: members.length, listings: listingCount };
}

function sqrt(x: bigint): bigint {
  if (x < 2n) return x;
  let r = BigInt(Math.floor(Math.sqrt(Number(x))));
  while (r * r > x) r--;
  while ((r + 1n) * (r + 1n) <= x) r++;
  return r;
}
