/**
 * Test fixtures built from the deploy scripts themselves (hardhat-deploy `deployments.fixture`), so the scripts
 * that deploy to Polygon are the ones under test.
 */
import { deployments, ethers, network } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { Deployments, Tags } from "../../config/deployments";
import type { FTNSGovernor, FTNSToken, ModelMarketplace, ProtocolTimelock } from "../../typechain-types";

export interface Protocol {
  token: FTNSToken;
  timelock: ProtocolTimelock;
  /** Undefined in partial deployments that stop before the governor. */
  governor: FTNSGovernor;
  /** Undefined in partial deployments that stop before the marketplace. */
  marketplace: ModelMarketplace;
  deployer: HardhatEthersSigner;
  /** Funded accounts that hold no role. */
  users: HardhatEthersSigner[];
}

async function load(): Promise<Protocol> {
  const [deployer, ...users] = await ethers.getSigners();
  const token = await ethers.getContractAt("FTNSToken", (await deployments.get(Deployments.Token)).address);
  const timelock = await ethers.getContractAt(
    "ProtocolTimelock",
    (await deployments.get(Deployments.Timelock)).address,
  );
  const governorDeployment = await deployments.getOrNull(Deployments.Governor);
  const governor = governorDeployment
    ? await ethers.getContractAt("FTNSGovernor", governorDeployment.address)
    : (undefined as unknown as FTNSGovernor);
  const marketplaceDeployment = await deployments.getOrNull(Deployments.Marketplace);
  const marketplace = marketplaceDeployment
    ? await ethers.getContractAt("ModelMarketplace", marketplaceDeployment.address)
    : (undefined as unknown as ModelMarketplace);
  return { token, timelock, governor, marketplace, deployer, users };
}

/**
 * The complete deployment, handover included: the state a live network is left in. Built with hardhat-deploy's
 * createFixture (snapshot once, revert on every later call); do not mix with network-helpers' loadFixture, whose
 * snapshots hardhat-deploy's would invalidate.
 */
export const deployProtocol = deployments.createFixture(async () => {
  await deployments.fixture();
  return load();
});

/** Everything up to the token, before the handover: the deployer still proposes to the timelock. */
export const deployBeforeHandover = deployments.createFixture(async () => {
  // fallbackToGlobal: false, or hardhat-deploy reuses the full (handed-over) snapshot when one exists.
  await deployments.fixture([Tags.Token], { fallbackToGlobal: false });
  return load();
});

/** Every deploy script but the handover: the deployer still holds its temporary roles and can schedule. */
export const deployAllButHandover = deployments.createFixture(async () => {
  await deployments.fixture(
    [Tags.Token, Tags.Governor, Tags.Committee, Tags.Marketplace, Tags.LocalFunding, Tags.LaunchListings, Tags.LocalCommittee, Tags.DemoListing],
    { fallbackToGlobal: false },
  );
  return load();
});

/**
 * A signer for a contract address (the timelock, say), funded for gas. Unit tests use it to exercise the functions
 * that only governance can reach; the governance lifecycle tests go through real proposals instead.
 */
export async function impersonate(address: string): Promise<HardhatEthersSigner> {
  await network.provider.request({ method: "hardhat_impersonateAccount", params: [address] });
  await network.provider.request({ method: "hardhat_setBalance", params: [address, "0x56BC75E2D63100000"] });
  return ethers.getSigner(address);
}

export const ftns = (whole: bigint | number | string): bigint => ethers.parseEther(String(whole));
