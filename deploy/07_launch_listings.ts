import type { DeployFunction } from "hardhat-deploy/types";
import { loadGenesis } from "../config/genesis";
import { isLiveNetwork } from "../config/networks";
import { parametersFor, CATEGORIES } from "../config/parameters";
import { Deployments, Tags } from "../config/deployments";
import { toBigInt } from "../helpers/values";
import { LAUNCH_MODELS, listingMetadata, priceInFtns, UNIT_IDS } from "../config/launch-models";

/**
 * Lists the eight launch models. Local networks: by the demo provider account, each with the minimum bond. Live
 * networks: when the genesis plan has `launchListings`, by the deployer, with the plan's bond each, which the genesis
 * batch (deploy/10_genesis.ts) sent it from the treasury.
 */
const seedLaunchListings: DeployFunction = async (hre) => {
  const { marketplace: params } = parametersFor(hre.network.name);
  const { deployer, demoProvider } = await hre.getNamedAccounts();
  const live = isLiveNetwork(hre.network.name);
  const provider = live ? deployer : demoProvider;
  const { execute, read, log } = hre.deployments;
  const marketplace = await hre.deployments.get(Deployments.Marketplace);
  const opts = { from: provider, log: true, waitConfirmations: hre.network.live ? 2 : 1 };

  const bond = live ? loadGenesis(hre.network.name).launchListingBond! : params.minProviderBond;
  if (bond < params.minProviderBond) throw new Error(`launch listing bond ${bond} is below the minimum provider bond ${params.minProviderBond}`);
  const needed = bond * BigInt(LAUNCH_MODELS.length);
  const listed = Number(toBigInt(await read(Deployments.Marketplace, "listingCount")));
  if (live && listed >= LAUNCH_MODELS.length) return; // a re-run of the deploy: already listed
  const balance = toBigInt(await read(Deployments.Token, "balanceOf", provider));
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
seedLaunchListings.dependencies = [Tags.Marketplace, Tags.LocalFunding, Tags.Genesis];
seedLaunchListings.skip = async (hre) => isLiveNetwork(hre.network.name) && !loadGenesis(hre.network.name).launchListingBond;
export default seedLaunchListings;
