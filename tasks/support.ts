import type { HardhatRuntimeEnvironment } from "hardhat/types";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { HardhatPluginError } from "hardhat/plugins";

/** Task errors print as one clear line instead of a stack trace. */
export function taskError(message: string): HardhatPluginError {
  return new HardhatPluginError("prsm", message);
}

/** The signer a task acts as: `--from` may be an account index (local wallets) or an address the node holds. */
export async function signerFor(hre: HardhatRuntimeEnvironment, from?: string): Promise<HardhatEthersSigner> {
  const signers = await hre.ethers.getSigners();
  if (signers.length === 0) throw taskError(`No account is configured for network ${hre.network.name}`);
  if (from === undefined || from === "") return signers[0];
  if (/^\d+$/.test(from)) {
    const signer = signers[Number(from)];
    if (!signer) throw taskError(`--from ${from}: only ${signers.length} accounts are configured`);
    return signer;
  }
  const match = signers.find((s) => s.address.toLowerCase() === from.toLowerCase());
  if (!match) throw taskError(`--from ${from}: not an account this network config can sign for`);
  return match;
}

export async function contractAt<T>(hre: HardhatRuntimeEnvironment, deploymentName: string): Promise<T> {
  const deployment = await hre.deployments.getOrNull(deploymentName);
  if (!deployment) {
    throw taskError(`${deploymentName} is not deployed on ${hre.network.name} (run: npx hardhat deploy --network ${hre.network.name})`);
  }
  return (await hre.ethers.getContractAt(deploymentName, deployment.address)) as T;
}

export function parseAmount(hre: HardhatRuntimeEnvironment, value: string, what: string): bigint {
  try {
    const amount = hre.ethers.parseEther(value);
    if (amount < 0n) throw new Error("negative");
    return amount;
  } catch {
    throw taskError(`${what}: "${value}" is not an FTNS amount (e.g. 12.5)`);
  }
}

export function parseAddress(hre: HardhatRuntimeEnvironment, value: string, what: string): string {
  if (!hre.ethers.isAddress(value)) {
    const checksumOnly = /^0x[0-9a-fA-F]{40}$/.test(value);
    throw taskError(`${what}: "${value}" ${checksumOnly ? "has a wrong EIP-55 checksum (mixed-case letters)" : "is not an address"}`);
  }
  return hre.ethers.getAddress(value);
}
