import type { DeployFunction } from "hardhat-deploy/types";
import { ethers } from "ethers";
import { Deployments, Tags } from "../config/deployments";
import { assertGovernanceLive, assertNoEoaPrivileges } from "../helpers/roles";

/**
 * The last step of every full deployment: the deployer gives up the temporary timelock roles it used for wiring,
 * then the script proves that no externally owned account holds any admin, proposer, upgrader or minter role, and
 * that governance can still act (otherwise revoking the deployer would freeze the protocol).
 */
const handover: DeployFunction = async (hre) => {
  const { deployer } = await hre.getNamedAccounts();
  const { execute, read, log } = hre.deployments;
  const opts = { from: deployer, log: true, waitConfirmations: hre.network.live ? 2 : 1 };

  for (const roleName of ["PROPOSER_ROLE", "CANCELLER_ROLE", "DEFAULT_ADMIN_ROLE"] as const) {
    const role = roleName === "DEFAULT_ADMIN_ROLE" ? ethers.ZeroHash : ethers.id(roleName);
    if (await read(Deployments.Timelock, "hasRole", role, deployer)) {
      await execute(Deployments.Timelock, opts, "renounceRole", role, deployer);
    }
  }

  const membershipRole = ethers.id("MEMBERSHIP_ROLE");
  if (await read(Deployments.Committee, "hasRole", membershipRole, deployer)) {
    await execute(Deployments.Committee, opts, "renounceRole", membershipRole, deployer);
  }

  await assertNoEoaPrivileges(hre);
  await assertGovernanceLive(hre);
  log("handover: no externally owned account holds a privileged role; the governor proposes to the timelock");
};

handover.tags = [Tags.Handover];
handover.dependencies = [Tags.Governor, Tags.Marketplace, Tags.LaunchListings, Tags.LocalCommittee];
handover.runAtTheEnd = true;
export default handover;
