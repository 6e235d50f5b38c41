import type { DeployFunction } from "hardhat-deploy/types";
import { ethers } from "ethers";
import { parametersFor } from "../config/parameters";
import { Deployments, Tags } from "../config/deployments";
import { deployUupsProxy } from "../helpers/proxy";

/** Deployment (and contract) name of the marketplace's batch settlement module. */
const BATCH_MODULE = "MarketplaceBatchModule";

/**
 * The model marketplace: administered, upgraded and arbitrated by the timelock, which also receives the fees.
 * Attested charges are verified by the federation committee. Batched settlement is a separate module contract the
 * implementation delegates to (an immutable of the implementation, so it is deployed first); the saved
 * ModelMarketplace ABI includes the module's functions, events and errors.
 */
const deployMarketplace: DeployFunction = async (hre) => {
  const { marketplace: params } = parametersFor(hre.network.name);
  const token = await hre.deployments.get(Deployments.Token);
  const timelock = await hre.deployments.get(Deployments.Timelock);
  const committee = await hre.deployments.get(Deployments.Committee);
  const { deployer } = await hre.getNamedAccounts();

  const batchModule = await hre.deployments.deploy(BATCH_MODULE, {
    from: deployer,
    log: true,
    waitConfirmations: hre.network.live ? 2 : 1,
  });

  await deployUupsProxy(hre, Deployments.Marketplace, {
    implementationArgs: [token.address, batchModule.address],
    // The session-key module is created by the implementation's constructor (no deployment of its own); the
    // fallback routes its four selectors to it, so its ABI is part of the marketplace's too.
    delegateAbis: [batchModule.abi, (await hre.deployments.getArtifact("MarketplaceSessionKeyModule")).abi],
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
