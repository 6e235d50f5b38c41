// Local demo state that `npm start` adds after the deploy scripts (never on a live network): the renter (account 1)
// and the voter (account 2) delegate to themselves, the renter proposes a sample change (protocol fee 2.5% -> 2.0%)
// so there is a live proposal to vote on, and the renter opens an escrow on the demo model's listing so a query can
// be sent at once. Plain contract calls with viem; addresses and ABIs come from deployments/<network>/.
import fs from "node:fs";
import path from "node:path";
import { createPublicClient, createWalletClient, encodeFunctionData, http, keccak256, toBytes } from "viem";
import { hardhat } from "viem/chains";
import { mnemonicToAccount } from "viem/accounts";

const MNEMONIC = "test test test test test test test test test test test junk";
const E18 = 10n ** 18n;
export const SAMPLE_PROPOSAL_DESCRIPTION = "Lower the protocol fee from 2.5% to 2.0% (sample proposal created by npm start)";

export async function seedDemo({ root, network, rpcUrl, renter = 1, voter = 2 }) {
  const dir = path.resolve(root, process.env.PRSM_DEPLOYMENTS_DIR || "deployments");
  const contract = (name) => JSON.parse(fs.readFileSync(path.join(dir, network, `${name}.json`), "utf8"));
  const [token, market, governor] = ["FTNSToken", "ModelMarketplace", "FTNSGovernor"].map(contract);
  const transport = http(rpcUrl);
  const publicClient = createPublicClient({ chain: hardhat, transport, pollingInterval: 50 });
  const wallet = (index) => createWalletClient({ chain: hardhat, transport, account: mnemonicToAccount(MNEMONIC, { addressIndex: index }) });
  const read = (c, functionName, args = []) => publicClient.readContract({ address: c.address, abi: c.abi, functionName, args });
  const write = async (index, c, functionName, args) => {
    const hash = await wallet(index).writeContract({ address: c.address, abi: c.abi, functionName, args });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error(`${functionName} reverted`);
  };

  for (const index of [renter, voter]) await write(index, token, "delegate", [wallet(index).account.address]);

  const targets = [market.address];
  const values = [0n];
  const calldatas = [encodeFunctionData({ abi: market.abi, functionName: "setProtocolFee", args: [200] })];
  await write(renter, governor, "propose", [targets, values, calldatas, SAMPLE_PROPOSAL_DESCRIPTION]);
  const proposalId = await read(governor, "getProposalId", [targets, values, calldatas, keccak256(toBytes(SAMPLE_PROPOSAL_DESCRIPTION))]);

  // The demo model's listing is the last one the deploy scripts list (deploy/09_demo_listing.ts).
  const demoListing = await read(market, "listingCount");
  const deposit = 100n * E18;
  const now = (await publicClient.getBlock()).timestamp;
  // At the listing's current price (the renter's maximum), for 30 days (within the local 90-day maximum duration).
  const { pricePerUnit } = await read(market, "getListing", [demoListing]);
  await write(renter, token, "approve", [market.address, deposit]);
  await write(renter, market, "openEscrow", [demoListing, deposit, deposit, now + 30n * 24n * 3600n, pricePerUnit]);
  const escrowId = await read(market, "escrowCount");
  return { proposalId, demoListing, escrowId };
}
