/**
 * Verifies every contract of a deployment on Polygonscan (Amoy or Polygon) from the deployment files:
 *   ETHERSCAN_API_KEY=... npx hardhat deploy:verify --network amoy [--dry-run]
 * Each implementation, each proxy (ProtocolProxy with its implementation and initializer call) and every other
 * contract (timelock, vesting wallets, claim contracts) is verified with the constructor arguments recorded when it
 * was deployed. `--dry-run` prints what would be sent (address, contract, ABI-encoded constructor arguments, the
 * explorer) without a request. Etherscan's v2 API takes one key for every chain (hardhat.config.ts `etherscan`).
 */
import { task } from "hardhat/config";
import type { HardhatRuntimeEnvironment } from "hardhat/types";
import type { Deployment } from "hardhat-deploy/types";
import { AbiCoder, Interface } from "ethers";
import { taskError } from "./support";

export interface VerificationJob {
  deployment: string;
  address: string;
  /** Fully qualified name, e.g. contracts/ModelMarketplace.sol:ModelMarketplace */
  contract: string;
  constructorArguments: unknown[];
  /** The ABI-encoded constructor arguments, as the explorer receives them (no 0x). */
  encodedArguments: string;
}

/**
 * The contract a deployment file was compiled from: from the solc metadata hardhat-deploy keeps, or else the artifact
 * whose creation code is the deployment's.
 */
function fullyQualifiedName(name: string, d: Deployment, artifacts: Map<string, string>): string {
  if (d.metadata) {
    const target = (JSON.parse(d.metadata) as { settings: { compilationTarget: Record<string, string> } }).settings.compilationTarget;
    const [source, contract] = Object.entries(target)[0]!;
    return `${source}:${contract}`;
  }
  const match = d.bytecode ? artifacts.get(d.bytecode.toLowerCase()) : undefined;
  if (!match) throw taskError(`deployment ${name} has neither compiler metadata nor a matching artifact to verify it from`);
  return match;
}

/** Creation bytecode -> fully qualified name, for every compiled contract. */
export async function artifactsByBytecode(hre: HardhatRuntimeEnvironment): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  for (const fqn of await hre.artifacts.getAllFullyQualifiedNames()) {
    const artifact = await hre.artifacts.readArtifact(fqn);
    if (artifact.bytecode !== "0x") map.set(artifact.bytecode.toLowerCase(), fqn);
  }
  return map;
}

/**
 * One job per deployed bytecode. A proxied contract is saved three times (`X` at the proxy with the
 * implementation's ABI, `X_Proxy`, `X_Implementation`): `X` is skipped, its two real contracts are verified.
 */
export function verificationJobs(all: Record<string, Deployment>, artifacts: Map<string, string> = new Map()): VerificationJob[] {
  const jobs: VerificationJob[] = [];
  for (const [name, d] of Object.entries(all).sort(([a], [b]) => a.localeCompare(b))) {
    if (all[`${name}_Proxy`] && all[`${name}_Proxy`]!.address.toLowerCase() === d.address.toLowerCase()) continue;
    const args = (d.args ?? []) as unknown[];
    const constructor = (d.abi as { type: string; inputs?: { type: string }[] }[]).find((f) => f.type === "constructor");
    const types = constructor?.inputs?.map((i) => i.type) ?? [];
    const encoded = types.length ? AbiCoder.defaultAbiCoder().encode(types, args).slice(2) : "";
    jobs.push({ deployment: name, address: d.address, contract: fullyQualifiedName(name, d, artifacts), constructorArguments: args, encodedArguments: encoded });
  }
  return jobs;
}

/** A proxy's initializer call, decoded with its implementation's ABI, for a reviewer reading the dry run. */
export function describeProxyInit(all: Record<string, Deployment>, job: VerificationJob): string | undefined {
  if (!job.deployment.endsWith("_Proxy")) return undefined;
  const implementation = all[job.deployment.replace(/_Proxy$/, "_Implementation")];
  if (!implementation) return undefined;
  const call = new Interface(implementation.abi).parseTransaction({ data: String(job.constructorArguments[1]) });
  return call ? `${call.name}(...)` : undefined;
}

async function explorerFor(hre: HardhatRuntimeEnvironment) {
  const { Etherscan } = await import("@nomicfoundation/hardhat-verify/etherscan");
  const chainConfig = await Etherscan.getCurrentChainConfig(hre.network.name, hre.network.provider, []);
  return Etherscan.fromChainConfig(hre.config.etherscan.apiKey, chainConfig);
}

task("deploy:verify", "Verify every contract of this network's deployment on its block explorer")
  .addFlag("dryRun", "print what would be verified, send nothing")
  .setAction(async (args: { dryRun: boolean }, hre) => {
    const all = await hre.deployments.all();
    if (Object.keys(all).length === 0) throw taskError(`no deployment files for ${hre.network.name} (deployments/${hre.network.name}/)`);
    const jobs = verificationJobs(all, await artifactsByBytecode(hre));
    if (args.dryRun) {
      const explorer = await explorerFor(hre).catch(() => undefined);
      for (const job of jobs) {
        const init = describeProxyInit(all, job);
        console.log(`${job.deployment} ${job.address} ${job.contract}${init ? ` init ${init}` : ""}\n  constructor arguments: 0x${job.encodedArguments}${explorer ? `\n  ${explorer.getContractUrl(job.address)}` : ""}`);
      }
      return jobs;
    }
    if (!hre.config.etherscan.apiKey) throw taskError("ETHERSCAN_API_KEY is required (Etherscan v2: one key for Amoy and Polygon)");
    for (const job of jobs) {
      try {
        await hre.run("verify:verify", { address: job.address, constructorArguments: job.constructorArguments, contract: job.contract });
      } catch (error) {
        if (/already verified/i.test((error as Error).message)) console.log(`${job.deployment}: already verified`);
        else throw taskError(`verifying ${job.deployment} at ${job.address} failed: ${(error as Error).message}`);
      }
    }
    return jobs;
  });
