import type { DeployFunction } from "hardhat-deploy/types";
import { optionalEnv } from "../config/env";
import { parametersFor, CATEGORIES } from "../config/parameters";
import { Deployments, Tags } from "../config/deployments";
import { LAUNCH_MODELS, listingMetadata, priceInFtns, UNIT_IDS } from "../config/launch-models";

/**
 * Lists the eight launch models, each with the minimum bond. Local networks: by the demo provider account.
 * Live networks: only with SEED_LAUNCH_LISTINGS=true, by the deployer, which must already hold the bonds.
 */
const seedLaunchListings: DeployFunction = async (hre) => {
  const { marketplace: params } = parametersFor(hre.network.name);
  const { deployer, demoProvider } = await hre.getNamedAccounts();
  const provider = params.seedLaunchListings.kind === "always" ? demoProvider : deployer;
  const { execute, read, log } = hre.deployments;
  const marketplace = await hre.deployments.get(Deployments.Marketplace);
  const opts = { from: provider, log: true, waitConfirmations: hre.network.live ? 2 : 1 };

  const bond = params.minProviderBond;
  const needed = bond * BigInt(LAUNCH_MODELS.length);
  const balance = (await read(Deployments.Token, "balanceOf", provider)) as bigint;
  if (balance < needed) {
    throw new Error(`Listing the launch models needs ${needed} raw FTNS of bonds; ${provider} holds ${balance}`);
  }
  await execute(Deployments.Token, opts, "approve", marketplace.address, needed);
  for (const model of LAUNCH_MODELS) {
    const { uri, contentHash } = listingMetadata(model);
    const category = CATEGORIES.indexOf(model.category);
    await execute(
      Deployments.Marketplace,
      opts,
      "list",
      contentHash,
      uri,
      category,
      UNIT_IDS[model.unit],
      priceInFtns(model),
      "0x0000000000000000000000000000000000000000",
      0,
      bond,
    );
  }
  log(`launch listings: ${LAUNCH_MODELS.length} models listed by ${provider}`);
};

seedLaunchListings.id = "07_launch_listings";
seedLaunchListings.tags = [Tags.LaunchListings];
seedLaunchListings.dependencies = [Tags.Marketplace, Tags.LocalFunding];
seedLaunchListings.skip = async (hre) => {
  const { seedLaunchListings: seed } = parametersFor(hre.network.name).marketplace;
  return seed.kind === "env" && optionalEnv(seed.variable) !== "true";
};
export default seedLaunchListings;
