import type { DeployFunction } from "hardhat-deploy/types";
import { ethers } from "ethers";
import { Deployments, Tags } from "../config/deployments";
import { parametersFor } from "../config/parameters";
import { toBigInt } from "../helpers/values";
import { assertDayOneLive, assertRolesAsExpected, assertTimelockQueueEmpty, pendingTimelockOperations } from "../helpers/roles";

/**
 * The last step of every full deployment. While the deployer still holds its temporary timelock roles it
 *   1. sets the timelock's real delay if the deployment ran with none (live networks: deploy/01_timelock.ts), by a
 *      timelock operation of its own, executed at once;
 *   2. cancels every timelock operation still pending: nothing the deployer scheduled can run after it leaves;
 * then gives up every temporary role, and proves the result: every role of every contract is held by exactly whom
 * it should be (helpers/roles.ts), the timelock's queue is empty, and day one works (someone can propose, the
 * participants can reach the quorum, the committee can attest, the listings can be rented).
 */
const handover: DeployFunction = async (hre) => {
  const { deployer } = await hre.getNamedAccounts();
  const { execute, read, log } = hre.deployments;
  const opts = { from: deployer, log: true, waitConfirmations: hre.network.live ? 2 : 1 };
  const timelock = await hre.deployments.get(Deployments.Timelock);
  const isProposer = (await read(Deployments.Timelock, "hasRole", ethers.id("PROPOSER_ROLE"), deployer)) as boolean;

  const target = BigInt(parametersFor(hre.network.name).timelock.minDelay);
  const delay = toBigInt(await read(Deployments.Timelock, "getMinDelay"));
  if (delay !== target) {
    if (!isProposer || delay !== 0n) throw new Error(`the timelock's delay is ${delay}, expected ${target}, and the deployer cannot set it`);
    const data = new ethers.Interface(timelock.abi).encodeFunctionData("updateDelay", [target]);
    const salt = ethers.id("prsm.handover.delay");
    await execute(Deployments.Timelock, opts, "schedule", timelock.address, 0, data, ethers.ZeroHash, salt, 0);
    await execute(Deployments.Timelock, opts, "execute", timelock.address, 0, data, ethers.ZeroHash, salt);
    log(`handover: timelock delay set to ${target} s`);
  }

  const canCancel = (await read(Deployments.Timelock, "hasRole", ethers.id("CANCELLER_ROLE"), deployer)) as boolean;
  for (const op of await pendingTimelockOperations(hre)) {
    if (!canCancel) break; // nothing to cancel with: the queue audit below names it
    await execute(Deployments.Timelock, opts, "cancel", op.id);
    log(`handover: cancelled pending timelock operation ${op.id} (${op.target} ${op.data.slice(0, 10)})`);
  }

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

  await assertRolesAsExpected(hre);
  await assertTimelockQueueEmpty(hre);
  const live = await assertDayOneLive(hre);
  log(
    `handover: roles as required, timelock queue empty; day one: ${live.proposer} can propose, ${live.participants} participants ` +
      `(weight ${live.weight} of quorum ${live.quorum}), committee of ${live.committee}, ${live.listings} listings rentable`,
  );
};

handover.tags = [Tags.Handover];
handover.dependencies = [Tags.Governor, Tags.Marketplace, Tags.LaunchListings, Tags.LocalCommittee, Tags.Genesis];
handover.runAtTheEnd = true;
export default handover;
