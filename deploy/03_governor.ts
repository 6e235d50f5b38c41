import type { DeployFunction } from "hardhat-deploy/types";
import { ethers } from "ethers";
import { requireAddress } from "../config/env";
import { loadGenesis } from "../config/genesis";
import { parametersFor } from "../config/parameters";
import { Deployments, Tags } from "../config/deployments";
import { deployUupsProxy } from "../helpers/proxy";

/**
 * The quadratic governor behind the timelock. Wires the timelock while the deployer still administers it: the
 * governor becomes proposer and canceller, the safety council canceller only. 99_handover removes the deployer.
 */
const deployGovernor: DeployFunction = async (hre) => {
  const { deployer, safetyCouncil: localCouncil } = await hre.getNamedAccounts();
  const { governor: params } = parametersFor(hre.network.name);
  const token = await hre.deployments.get(Deployments.Token);
  const timelock = await hre.deployments.get(Deployments.Timelock);

  const council =
    params.safetyCouncil.kind === "env" ? requireAddress(params.safetyCouncil.variable) : localCouncil;
  const participants =
    params.initialParticipants.kind === "genesis"
      ? loadGenesis(hre.network.name).participants
      : (await hre.getUnnamedAccounts()).slice(0, params.initialParticipants.count - 1).concat(deployer);

  const governor = await deployUupsProxy(hre, Deployments.Governor, {
    initializer: {
      method: "initialize",
      args: [
        {
          token: token.address,
          timelock: timelock.address,
          votingDelay: params.votingDelay,
          votingPeriod: params.votingPeriod,
          proposalThreshold: params.proposalThreshold,
          quorum: params.quorum,
          lateQuorumVoteExtension: params.lateQuorumVoteExtension,
          participants,
        },
      ],
    },
  });

  const { execute, read } = hre.deployments;
  const opts = { from: deployer, log: true, waitConfirmations: hre.network.live ? 2 : 1 };
  const grants: [string, string][] = [
    ["PROPOSER_ROLE", governor.address],
    ["CANCELLER_ROLE", governor.address],
    ["CANCELLER_ROLE", council],
  ];
  for (const [roleName, account] of grants) {
    const role = ethers.id(roleName);
    if (!(await read(Deployments.Timelock, "hasRole", role, account))) {
      await execute(Deployments.Timelock, opts, "grantRole", role, account);
    }
  }
};

deployGovernor.id = "03_governor";
deployGovernor.tags = [Tags.Governor];
deployGovernor.dependencies = [Tags.Token];
export default deployGovernor;
