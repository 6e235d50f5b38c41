import type { HardhatRuntimeEnvironment } from "hardhat/types";
import { Contract, id, ZeroHash } from "ethers";
import { Deployments } from "../config/deployments";

/**
 * Every role that can move value or change code, per deployment. A finished deployment must leave each of
 * them held only by protocol contracts (the timelock, later the governor), never by an externally owned account.
 * Roles that only stop things (the token guardian) or only run already-approved operations (the timelock's
 * executor, open to anyone) are deliberately absent.
 */
export const PRIVILEGED_ROLES: Record<string, Record<string, string>> = {
  [Deployments.Timelock]: {
    DEFAULT_ADMIN_ROLE: ZeroHash,
    PROPOSER_ROLE: id("PROPOSER_ROLE"),
  },
  [Deployments.Token]: {
    DEFAULT_ADMIN_ROLE: ZeroHash,
    UPGRADER_ROLE: id("UPGRADER_ROLE"),
    MINTER_ROLE: id("MINTER_ROLE"),
  },
  [Deployments.Marketplace]: {
    DEFAULT_ADMIN_ROLE: ZeroHash,
    UPGRADER_ROLE: id("UPGRADER_ROLE"),
    ARBITER_ROLE: id("ARBITER_ROLE"),
  },
  [Deployments.Committee]: {
    DEFAULT_ADMIN_ROLE: ZeroHash,
    UPGRADER_ROLE: id("UPGRADER_ROLE"),
    MEMBERSHIP_ROLE: id("MEMBERSHIP_ROLE"),
  },
};

const ACCESS_CONTROL_EVENTS = [
  "event RoleGranted(bytes32 indexed role, address indexed account, address indexed sender)",
  "event RoleRevoked(bytes32 indexed role, address indexed account, address indexed sender)",
  "function hasRole(bytes32 role, address account) view returns (bool)",
];

/**
 * Current holders of `role` on an AccessControl contract, rebuilt from its RoleGranted/RoleRevoked history
 * (OpenZeppelin's AccessControl is not enumerable) and confirmed with `hasRole`.
 */
export async function roleHolders(
  hre: HardhatRuntimeEnvironment,
  address: string,
  role: string,
  fromBlock: number,
): Promise<string[]> {
  const contract = new Contract(address, ACCESS_CONTROL_EVENTS, hre.ethers.provider);
  const granted = await contract.queryFilter(contract.filters.RoleGranted(role), fromBlock);
  const candidates = new Set(granted.map((log) => ("args" in log ? String(log.args.account) : "")).filter(Boolean));
  const holders: string[] = [];
  for (const account of candidates) {
    if (await contract.hasRole(role, account)) holders.push(account);
  }
  return holders;
}

export interface RoleViolation {
  deployment: string;
  role: string;
  holder: string;
  reason: string;
}

/** Lists every privileged role held by anything other than a deployed protocol contract. */
export async function auditPrivilegedRoles(hre: HardhatRuntimeEnvironment): Promise<RoleViolation[]> {
  const all = await hre.deployments.all();
  const protocolContracts = new Set(Object.values(all).map((d) => d.address.toLowerCase()));
  const violations: RoleViolation[] = [];

  for (const [deploymentName, roles] of Object.entries(PRIVILEGED_ROLES)) {
    const deployment = all[deploymentName];
    if (!deployment) continue; // not part of this (partial) deployment
    const fromBlock = deployment.receipt?.blockNumber ?? 0;
    for (const [roleName, role] of Object.entries(roles)) {
      for (const holder of await roleHolders(hre, deployment.address, role, fromBlock)) {
        const code = await hre.ethers.provider.getCode(holder);
        if (code === "0x") {
          violations.push({ deployment: deploymentName, role: roleName, holder, reason: "externally owned account" });
        } else if (!protocolContracts.has(holder.toLowerCase())) {
          violations.push({ deployment: deploymentName, role: roleName, holder, reason: "not a PRSM deployment" });
        }
      }
    }
  }
  return violations;
}

export async function assertNoEoaPrivileges(hre: HardhatRuntimeEnvironment): Promise<void> {
  const violations = await auditPrivilegedRoles(hre);
  if (violations.length > 0) {
    const lines = violations.map((v) => `  ${v.deployment}.${v.role} held by ${v.holder} (${v.reason})`);
    throw new Error(`Deployment left privileged roles outside the protocol:\n${lines.join("\n")}`);
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
