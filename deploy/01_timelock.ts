import type { DeployFunction } from "hardhat-deploy/types";
import { ZeroAddress } from "ethers";
import { isLiveNetwork } from "../config/networks";
import { parametersFor } from "../config/parameters";
import { Deployments, Tags } from "../config/deployments";

/**
 * The timelock: treasury and admin of every PRSM contract. The deployer is its temporary admin and proposer so
 * the remaining scripts can wire things up; deploy/99_handover.ts revokes both. Execution is open to anyone
 * (executor = address(0)): only what governance queued can ever run.
 * On live networks it starts with no delay, so the genesis batch (deploy/10_genesis.ts) runs as a real timelock
 * operation in the same deployment; the handover then sets the real delay by a timelock operation and cancels
 * anything still pending before the deployer gives up its roles.
 */
const deployTimelock: DeployFunction = async (hre) => {
  const { deployer } = await hre.getNamedAccounts();
  const { timelock } = parametersFor(hre.network.name);

  await hre.deployments.deploy(Deployments.Timelock, {
    from: deployer,
    args: [isLiveNetwork(hre.network.name) ? 0 : timelock.minDelay, [deployer], [ZeroAddress], deployer],
    log: true,
    waitConfirmations: hre.network.live ? 2 : 1,
  });
};

deployTimelock.id = "01_timelock";
deployTimelock.tags = [Tags.Timelock];
deployTimelock.dependencies = [Tags.Preflight];
export default deployTimelock;
