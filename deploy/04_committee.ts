import type { DeployFunction } from "hardhat-deploy/types";
import { parametersFor } from "../config/parameters";
import { Deployments, Tags } from "../config/deployments";
import { deployUupsProxy } from "../helpers/proxy";

/**
 * The federation committee: verifies quorum attestations for the marketplace. Governed by the timelock; the
 * deployer may admit the first nodes until 99_handover renounces that role.
 */
const deployCommittee: DeployFunction = async (hre) => {
  const { deployer } = await hre.getNamedAccounts();
  const { committee: params } = parametersFor(hre.network.name);
  const token = await hre.deployments.get(Deployments.Token);
  const timelock = await hre.deployments.get(Deployments.Timelock);

  await deployUupsProxy(hre, Deployments.Committee, {
    implementationArgs: [token.address],
    initializer: {
      method: "initialize",
      args: [
        {
          admin: timelock.address,
          treasury: timelock.address,
          bootstrapAdmitter: deployer,
          params: {
            minBond: params.minBond,
            autoAdmissionBond: params.autoAdmissionBond,
            unbondingDelay: params.unbondingDelay,
            epochGrace: params.epochGrace,
            slashRewardBps: params.slashRewardBps,
            minCommitteeSize: params.minCommitteeSize,
          },
        },
      ],
    },
  });
};

deployCommittee.id = "04_committee";
deployCommittee.tags = [Tags.Committee];
deployCommittee.dependencies = [Tags.Token];
export default deployCommittee;
