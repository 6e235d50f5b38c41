import type { DeployFunction } from "hardhat-deploy/types";
import { ethers } from "ethers";
import { parametersFor } from "../config/parameters";
import { Deployments, Tags } from "../config/deployments";

/**
 * Local networks only: the treasury pays demo accounts through a real timelock operation, scheduled by the deployer
 * while it is still a temporary proposer, executed after fast-forwarding the local clock past the delay.
 * On the in-process `hardhat` network (unit tests) only the demo provider and the committee nodes are paid, so tests
 * start from a treasury that holds everything else; on `localhost` (`npm start`) and `e2e` the first accounts get demo
 * funds.
 */
const fundLocalAccounts: DeployFunction = async (hre) => {
  const { localFunding, localCommittee, timelock: timelockParams } = parametersFor(hre.network.name);
  if (!localFunding) return;
  const { deployer, demoProvider } = await hre.getNamedAccounts();
  const signers = await hre.ethers.getSigners();
  const nodes = localCommittee
    ? signers.slice(localCommittee.firstAccount, localCommittee.firstAccount + localCommittee.count).map((s) => s.address)
    : [];
  const recipients =
    hre.network.name !== "hardhat"
      ? signers.slice(1, 1 + localFunding.accounts).map((s) => s.address)
      : [demoProvider, ...nodes];

  const token = await hre.deployments.get(Deployments.Token);
  const timelock = await hre.ethers.getContractAt(
    "ProtocolTimelock",
    (await hre.deployments.get(Deployments.Timelock)).address,
    await hre.ethers.getSigner(deployer),
  );
  const tokenInterface = new ethers.Interface(token.abi);
  const targets = recipients.map(() => token.address);
  const values = recipients.map(() => 0n);
  const payloads = recipients.map((r) => tokenInterface.encodeFunctionData("transfer", [r, localFunding.amount]));
  const salt = ethers.id("prsm.local-funding");
  // Idempotent: a re-run of the deploy (or of a script depending on this one) finds the batch done.
  if (await timelock.isOperationDone(await timelock.hashOperationBatch(targets, values, payloads, ethers.ZeroHash, salt))) return;

  await (await timelock.scheduleBatch(targets, values, payloads, ethers.ZeroHash, salt, timelockParams.minDelay)).wait();
  await hre.network.provider.send("evm_increaseTime", [timelockParams.minDelay + 1]);
  await hre.network.provider.send("evm_mine", []);
  await (await timelock.executeBatch(targets, values, payloads, ethers.ZeroHash, salt)).wait();
  hre.deployments.log(
    `local funding: ${ethers.formatEther(localFunding.amount)} FTNS to ${recipients.length} account(s) via the timelock`,
  );
};

fundLocalAccounts.id = "06_local_funding";
fundLocalAccounts.tags = [Tags.LocalFunding];
fundLocalAccounts.dependencies = [Tags.Token];
fundLocalAccounts.skip = async (hre) => !parametersFor(hre.network.name).localFunding;
export default fundLocalAccounts;
