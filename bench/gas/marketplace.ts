import type { HardhatRuntimeEnvironment } from "hardhat/types";
import type { ContractTransactionResponse } from "ethers";
import type { GasSection } from "./types";

async function gasOf(tx: Promise<ContractTransactionResponse>): Promise<bigint> {
  const receipt = await (await tx).wait();
  if (!receipt) throw new Error("transaction was not mined");
  return receipt.gasUsed;
}

/**
 * The marketplace's main operations as a renter and a provider meet them, on the deployed (proxied) contracts.
 * "Steady state" rows are the second and later occurrences: storage the first one created is already non-zero.
 */
export async function marketplaceGas(hre: HardhatRuntimeEnvironment): Promise<GasSection> {
  const { ethers, deployments } = hre;
  await deployments.fixture();
  const signers = await ethers.getSigners();
  const [, renter, provider, delegatedRenter] = signers;
  const token = await ethers.getContractAt("FTNSToken", (await deployments.get("FTNSToken")).address);
  const marketplace = await ethers.getContractAt("ModelMarketplace", (await deployments.get("ModelMarketplace")).address);
  const market = await marketplace.getAddress();
  const timelockAddress = (await deployments.get("ProtocolTimelock")).address;
  await hre.network.provider.request({ method: "hardhat_impersonateAccount", params: [timelockAddress] });
  await hre.network.provider.request({ method: "hardhat_setBalance", params: [timelockAddress, "0x56BC75E2D63100000"] });
  const treasury = await ethers.getSigner(timelockAddress);
  for (const s of [renter, provider, delegatedRenter]) await token.connect(treasury).transfer(s.address, ethers.parseEther("10000"));
  await token.connect(delegatedRenter).delegate(delegatedRenter.address);
  await token.connect(provider).approve(market, ethers.MaxUint256);

  const rows: Record<string, bigint> = {};
  rows["list (with bond, 15-byte URI)"] = await gasOf(
    marketplace.connect(provider).list(ethers.id("m"), "ipfs://bafy-abc", 0, 0, ethers.parseEther("0.001"), ethers.ZeroAddress, 0, ethers.parseEther("100")),
  );
  const listingId = await marketplace.listingCount();
  const { pricePerUnit } = await marketplace.getListing(listingId);

  const { chainId } = await ethers.provider.getNetwork();
  const tokenDomain = { name: "PRSM FTNS", version: "1", chainId, verifyingContract: await token.getAddress() };
  const permitTypes = {
    Permit: [
      { name: "owner", type: "address" }, { name: "spender", type: "address" }, { name: "value", type: "uint256" },
      { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" },
    ],
  };
  const openWithPermit = async (who: typeof renter) => {
    const deposit = ethers.parseEther("50");
    const now = (await ethers.provider.getBlock("latest"))!.timestamp;
    const deadline = BigInt(now + 3600);
    const sig = ethers.Signature.from(
      await who.signTypedData(tokenDomain, permitTypes, { owner: who.address, spender: market, value: deposit, nonce: await token.nonces(who.address), deadline }),
    );
    return gasOf(marketplace.connect(who).openEscrowWithPermit(listingId, deposit, deposit, now + 3600, pricePerUnit, deadline, sig.v, sig.r, sig.s));
  };
  await openWithPermit(renter); // the first escrow ever also creates the escrow counter's slot
  rows["open escrow with permit (renter not delegating)"] = await openWithPermit(renter);
  rows["open escrow with permit (renter delegating its votes)"] = await openWithPermit(delegatedRenter);
  const escrowId = await marketplace.escrowCount() - 1n; // the renter's second escrow

  const marketDomain = { name: "PRSM Marketplace", version: "1", chainId, verifyingContract: market };
  const receiptTypes = {
    UsageReceipt: [
      { name: "escrowId", type: "uint256" }, { name: "cumulativeUnits", type: "uint256" }, { name: "deadline", type: "uint256" },
    ],
  };
  const charge = async (cumulativeUnits: bigint) => {
    const deadline = BigInt((await ethers.provider.getBlock("latest"))!.timestamp + 600);
    const sig = await renter.signTypedData(marketDomain, receiptTypes, { escrowId, cumulativeUnits, deadline });
    return gasOf(marketplace.connect(provider).chargeWithReceipt(escrowId, cumulativeUnits, deadline, sig));
  };
  rows["charge by receipt (first payout to provider and treasury)"] = await charge(1000n);
  rows["charge by receipt (steady state)"] = await charge(2000n);
  await hre.network.provider.send("evm_increaseTime", [3600 + 61]);
  await hre.network.provider.send("evm_mine", []);
  rows["close escrow after expiry (refund)"] = await gasOf(marketplace.connect(renter).closeEscrow(escrowId));
  rows["withdraw payouts"] = await gasOf(marketplace.connect(provider).withdraw());

  const targets: Record<string, bigint> = {
    "open escrow with permit (renter not delegating)": 160_000n,
    "charge by receipt (steady state)": 90_000n,
  };
  return {
    title: "Model marketplace",
    description:
      "ModelMarketplace behind its ERC-1967 proxy (compiled with 200 optimizer runs and the IR pipeline to fit the " +
      "code-size limit), " +
      "FTNS behind its own proxy; every call as a user sends it, permit and receipt signatures included.",
    notes: [
      "A renter that delegates its FTNS votes pays for a new vote checkpoint inside FTNS.transferFrom (about 50k): " +
        "that cost belongs to the token's ERC-5805 bookkeeping, not to the marketplace, and is the same for any " +
        "ERC20Votes token. Renters who want their escrowed FTNS to keep voting weight pay it; others do not.",
      "The first charge ever credited to an account creates its payout slot (about 17k each for the provider and the " +
        "treasury); every later charge updates it. The 90k target is met from the second charge on.",
      "The FTNS address is an immutable of the marketplace implementation, and parameters are packed by use, so a " +
        "receipt charge reads two configuration slots: the treasury's and its escrow's terms version (one slot).",
      "Batched settlement (issue 16) added a fallback that delegates to the batch module and a batchModule() view; " +
        "the longer selector dispatch costs some functions about 22 gas (opening an escrow, closing one).",
    ],
    rows: Object.entries(rows).map(([operation, gas]) => ({
      operation,
      gas,
      target: targets[operation] ? { maxGas: targets[operation] } : undefined,
    })),
  };
}
