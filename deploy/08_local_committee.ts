import type { DeployFunction } from "hardhat-deploy/types";
import { parametersFor } from "../config/parameters";
import { Deployments, Tags } from "../config/deployments";

/**
 * Local networks only: the consensus-node accounts bond the minimum and the deployer (bootstrap admitter, revoked
 * at handover) admits them, so `npm start` has a working committee of four. Live committees form through
 * governance (`admit`) or, if governance sets one, the auto-admission bond.
 */
const bootstrapLocalCommittee: DeployFunction = async (hre) => {
  const { localCommittee, committee: params } = parametersFor(hre.network.name);
  if (!localCommittee) return;
  const { deployer } = await hre.getNamedAccounts();
  const { execute, get, read, log } = hre.deployments;
  const committee = await get(Deployments.Committee);
  const signers = await hre.ethers.getSigners();
  const nodes = signers.slice(localCommittee.firstAccount, localCommittee.firstAccount + localCommittee.count);
  for (const node of nodes) {
    const member = (await read(Deployments.Committee, "getMember", node.address)) as { active: boolean };
    if (member.active) continue;
    await execute(Deployments.Token, { from: node.address }, "approve", committee.address, params.minBond);
    await execute(Deployments.Committee, { from: node.address }, "bond", params.minBond);
    await execute(Deployments.Committee, { from: deployer }, "admit", node.address);
  }
  log(`local committee: ${nodes.length} nodes admitted (accounts ${localCommittee.firstAccount}..${localCommittee.firstAccount + nodes.length - 1})`);
};

bootstrapLocalCommittee.id = "08_local_committee";
bootstrapLocalCommittee.tags = [Tags.LocalCommittee];
bootstrapLocalCommittee.dependencies = [Tags.Committee, Tags.LocalFunding];
bootstrapLocalCommittee.skip = async (hre) => !parametersFor(hre.network.name).localCommittee;
export default bootstrapLocalCommittee;
