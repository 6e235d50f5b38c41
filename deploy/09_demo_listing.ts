import type { DeployFunction } from "hardhat-deploy/types";
import { parametersFor, CATEGORIES } from "../config/parameters";
import { Deployments, Tags } from "../config/deployments";
import { DEMO_MODEL, listingMetadata, priceInFtns, UNIT_IDS } from "../config/launch-models";

/**
 * Local networks only: the demo provider lists the model its gateway really runs (wink-nlp text analysis), so
 * `npm start` has a listing whose queries are answered and settled end to end. Idempotent: listed once per chain.
 */
const listDemoModel: DeployFunction = async (hre) => {
  const { marketplace: params } = parametersFor(hre.network.name);
  const { demoProvider } = await hre.getNamedAccounts();
  const { execute, read, log, get } = hre.deployments;
  const { uri, contentHash } = listingMetadata(DEMO_MODEL);
  const count = (await read(Deployments.Marketplace, "listingCount")) as bigint;
  for (let id = 1n; id <= count; id++) {
    const listing = (await read(Deployments.Marketplace, "getListing", id)) as { contentHash: string };
    if (listing.contentHash === contentHash) return log(`demo listing: already listed as ${id}`);
  }
  const marketplace = await get(Deployments.Marketplace);
  await execute(Deployments.Token, { from: demoProvider }, "approve", marketplace.address, params.minProviderBond);
  await execute(
    Deployments.Marketplace,
    { from: demoProvider },
    "list",
    contentHash,
    uri,
    CATEGORIES.indexOf(DEMO_MODEL.category),
    UNIT_IDS[DEMO_MODEL.unit],
    priceInFtns(DEMO_MODEL),
    "0x0000000000000000000000000000000000000000",
    0,
    params.minProviderBond,
  );
  log(`demo listing: "${DEMO_MODEL.name}" listed as ${count + 1n} by ${demoProvider}`);
};

listDemoModel.id = "09_demo_listing";
listDemoModel.tags = [Tags.DemoListing];
listDemoModel.dependencies = [Tags.Marketplace, Tags.LocalFunding, Tags.LaunchListings];
listDemoModel.skip = async (hre) => parametersFor(hre.network.name).marketplace.seedLaunchListings.kind !== "always";
export default listDemoModel;
