import type { DeployFunction } from "hardhat-deploy/types";
import { ethers } from "ethers";
import { parametersFor } from "../config/parameters";
import { Deployments, Tags } from "../config/deployments";
import { deployUupsProxy } from "../helpers/proxy";

/**
 * The model marketplace: administered, upgraded and arbitrated by the timelock, which also receives the fees.
 * Attested charges are verified by the federation committee.
 */
const deployMarketplace: DeployFunction = async (hre) => {
  const { marketplace: params } = parametersFor(hre.network.name);
  const token = await hre.deployments.get(Deployments.Token);
  const timelock = await hre.deployments.get(Deployments.Timelock);
  const committee = await hre.deployments.get(Deployments.Committee);

  await deployUupsProxy(hre, Deployments.Marketplace, {
    implementationArgs: [token.address],
    initializer: {
      method: "initialize",
      args: [
        {
          admin: timelock.address,
          treasury: timelock.address,
          protocolFeeBps: params.protocolFeeBps,
          minProviderBond: params.minProviderBond,
          minEscrowDeposit: params.minEscrowDeposit,
          maxEscrowDuration: params.maxEscrowDuration,
          disputeWindow: params.disputeWindow,
          unbondingDelay: params.unbondingDelay,
          settlementGrace: params.settlementGrace,
          disputeBond: params.disputeBond,
          disputeResolutionPeriod: params.disputeResolutionPeriod,
          disputeSlashBps: params.disputeSlashBps,
          attestationVerifier: committee.address,
          categories: params.categories.map((c) => ethers.encodeBytes32String(c)),
        },
      ],
    },
  });
};

deployMarketplace.id = "05_marketplace";
deployMarketplace.tags = [Tags.Marketplace];
deployMarketplace.dependencies = [Tags.Token, Tags.Committee];
export default deployMarketplace;
