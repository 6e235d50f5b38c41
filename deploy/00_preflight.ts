import type { DeployFunction } from "hardhat-deploy/types";
import { assertLiveNetworkEnv, LIVE_NETWORKS } from "../config/networks";
import { Tags } from "../config/deployments";

/**
 * Runs before anything is deployed: on a live network every variable must be present and well formed, the RPC
 * must serve the expected chain and the deployer must hold gas money. Failing here means nothing is half-deployed.
 */
const preflight: DeployFunction = async (hre) => {
  const live = LIVE_NETWORKS[hre.network.name];
  if (!live) return;

  // Also checked by the `deploy` task override (tasks/deploy.ts) before hardhat-deploy first calls the RPC;
  // repeated here because deploy scripts can be run through other entry points (fixtures, `hardhat run`).
  assertLiveNetworkEnv(hre.network.name);

  const { chainId } = await hre.ethers.provider.getNetwork();
  if (chainId !== BigInt(live.chainId)) {
    throw new Error(`${live.rpcUrlVariable} serves chain ${chainId}, but network "${hre.network.name}" is chain ${live.chainId}`);
  }
  const { deployer } = await hre.getNamedAccounts();
  const balance = await hre.ethers.provider.getBalance(deployer);
  if (balance === 0n) throw new Error(`Deployer ${deployer} (from DEPLOYER_PRIVATE_KEY) has no POL to pay for gas`);
  hre.deployments.log(`preflight: ${hre.network.name} (chain ${chainId}), deployer ${deployer}`);
};

preflight.tags = [Tags.Preflight];
export default preflight;
