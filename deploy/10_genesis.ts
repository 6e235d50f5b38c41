import type { DeployFunction } from "hardhat-deploy/types";
import { ethers } from "ethers";
import { isLiveNetwork } from "../config/networks";
import { genesisDeploymentName, loadGenesis } from "../config/genesis";
import { Deployments, Tags } from "../config/deployments";
import { LAUNCH_MODELS } from "../config/launch-models";
import { toBigInt } from "../helpers/values";

/**
 * Live networks only: applies the reviewed genesis plan (config/genesis/<network>.json, see config/genesis.ts).
 *   1. deploys a vesting wallet per vesting allocation and a Merkle claim contract per early-user allocation;
 *   2. moves every allocation out of the treasury in ONE timelock batch, scheduled by the deployer while it is still
 *      a temporary proposer and executed at once (the timelock's delay is 0 until the handover sets the real one):
 *      transfers, vesting wallets, claim contracts, each committee member's bond, the launch listings' bonds;
 *   3. admits the bootstrap committee members that have bonded (the deployer is the bootstrap admitter until the
 *      handover). Members bond themselves with their own keys (`npx hardhat committee:bond`), so a first run stops
 *      here, naming who still has to; run the deploy again once they have.
 * Every step is idempotent: a second run finds the batch done and the contracts deployed.
 */
const applyGenesis: DeployFunction = async (hre) => {
  const genesis = loadGenesis(hre.network.name);
  const { deployer } = await hre.getNamedAccounts();
  const { deploy, execute, read, get, log } = hre.deployments;
  const opts = { from: deployer, log: true, waitConfirmations: hre.network.live ? 2 : 1 };
  const token = await get(Deployments.Token);
  const timelock = await get(Deployments.Timelock);
  const committee = await get(Deployments.Committee);

  const treasuryBalance = toBigInt(await read(Deployments.Token, "balanceOf", timelock.address));
  const batchTargets: string[] = [];
  const batchPayloads: string[] = [];
  const tokenInterface = new ethers.Interface(token.abi);
  const pay = (to: string, amount: bigint) => {
    batchTargets.push(token.address);
    batchPayloads.push(tokenInterface.encodeFunctionData("transfer", [to, amount]));
  };

  for (const t of genesis.transfers) pay(t.to, t.amount);
  for (const v of genesis.vesting) {
    const wallet = await deploy(genesisDeploymentName("Vesting", v.label), {
      ...opts,
      contract: "GenesisVestingWallet",
      args: [v.beneficiary, v.start, v.duration, v.cliff],
    });
    pay(wallet.address, v.amount);
  }
  const deployedAt = BigInt((await hre.ethers.provider.getBlock("latest"))!.timestamp);
  for (const m of genesis.merkle) {
    const name = genesisDeploymentName("Claim", m.label);
    const existing = await hre.deployments.getOrNull(name);
    const claim = existing ?? (await deploy(name, { ...opts, contract: "MerkleClaim", args: [token.address, m.root, deployedAt + m.claimSeconds, timelock.address] }));
    pay(claim.address, m.amount);
  }
  for (const member of genesis.members) pay(member.address, member.bond);
  if (genesis.launchListingBond) pay(deployer, genesis.launchListingBond * BigInt(LAUNCH_MODELS.length));

  const salt = ethers.id(`prsm.genesis.${hre.network.name}`);
  const values = batchTargets.map(() => 0n);
  const id = (await read(Deployments.Timelock, "hashOperationBatch", batchTargets, values, batchPayloads, ethers.ZeroHash, salt)) as string;
  if (!(await read(Deployments.Timelock, "isOperationDone", id))) {
    if (genesis.total > treasuryBalance) {
      throw new Error(`genesis moves ${ethers.formatEther(genesis.total)} FTNS; the treasury holds ${ethers.formatEther(treasuryBalance)}`);
    }
    if (!(await read(Deployments.Timelock, "isOperation", id))) {
      const delay = (await read(Deployments.Timelock, "getMinDelay")) as bigint;
      await execute(Deployments.Timelock, opts, "scheduleBatch", batchTargets, values, batchPayloads, ethers.ZeroHash, salt, delay);
    }
    if (!(await read(Deployments.Timelock, "isOperationReady", id))) {
      throw new Error(`genesis batch ${id} is scheduled but not ready: the timelock's delay must be 0 during deployment (deploy/01_timelock.ts)`);
    }
    await execute(Deployments.Timelock, opts, "executeBatch", batchTargets, values, batchPayloads, ethers.ZeroHash, salt);
    log(`genesis: ${ethers.formatEther(genesis.total)} FTNS moved from the treasury in one timelock batch (${batchTargets.length} transfers)`);
  }

  const waiting: string[] = [];
  for (const member of genesis.members) {
    const state = (await read(Deployments.Committee, "getMember", member.address)) as { active: boolean; bond: unknown };
    if (state.active) continue;
    const bonded = toBigInt(state.bond);
    if (bonded < member.bond) {
      waiting.push(`${member.address} (bonded ${ethers.formatEther(bonded)} of ${ethers.formatEther(member.bond)} FTNS)`);
      continue;
    }
    await execute(Deployments.Committee, opts, "admit", member.address);
  }
  if (waiting.length > 0) {
    throw new Error(
      `genesis: the bootstrap committee is not bonded yet. Each of these members runs\n` +
        `  npx hardhat committee:bond --amount <FTNS> --network ${hre.network.name}\n` +
        `with its own key (it received its bond from the treasury), then run the deploy again:\n  ${waiting.join("\n  ")}\n` +
        `(committee ${committee.address})`,
    );
  }
  log(`genesis: committee of ${genesis.members.length} admitted`);
};

applyGenesis.id = "10_genesis";
applyGenesis.tags = [Tags.Genesis];
applyGenesis.dependencies = [Tags.Governor, Tags.Marketplace, Tags.Committee];
applyGenesis.skip = async (hre) => !isLiveNetwork(hre.network.name);
export default applyGenesis;
