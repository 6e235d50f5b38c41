/**
 * The marketplace from the command line (amounts in FTNS, e.g. 12.5):
 *   npx hardhat market:list --metadata ipfs://… --category language --unit token --price 0.0003 --bond 100
 *   npx hardhat market:open --listing 3 --deposit 50 [--cap 40] [--duration 86400] [--max-price 0.0003]   (uses a permit)
 *   npx hardhat market:sign-receipt --escrow 7 --units 1200 --out receipt.json             (the renter)
 *   npx hardhat market:charge --receipt receipt.json                                        (anyone, usually the provider)
 *   npx hardhat market:dispute --charge 4 (approves the dispute bond) / market:resolve-expired --charge 4
 *   npx hardhat market:close --escrow 7 / market:close-by-provider --escrow 7 / market:withdraw / market:show --escrow 7
 * `--from` picks the local account (index or address), as in the governance tasks.
 */
import fs from "node:fs";
import { task } from "hardhat/config";
import type { HardhatRuntimeEnvironment } from "hardhat/types";
import type { FTNSToken, ModelMarketplace } from "../typechain-types";
import { CATEGORIES } from "../config/parameters";
import { Deployments } from "../config/deployments";
import { contractAt, parseAddress, parseAmount, signerFor, taskError } from "./support";

const UNITS = ["token", "request", "second"];

function parseId(value: string, what: string): bigint {
  if (!/^\d+$/.test(String(value))) throw taskError(`${what}: "${value}" is not a whole number`);
  return BigInt(value);
}

async function lastEvent(hre: HardhatRuntimeEnvironment, market: ModelMarketplace, txHash: string, name: string) {
  const receipt = await hre.ethers.provider.getTransactionReceipt(txHash);
  for (const log of receipt!.logs) {
    const parsed = market.interface.parseLog(log);
    if (parsed?.name === name) return parsed;
  }
  throw taskError(`transaction ${txHash} emitted no ${name}`);
}

task("market:list", "List a model: content hash, metadata URI, category, unit, price and bond")
  .addParam("metadata", "metadata URI (e.g. ipfs://CID)")
  .addOptionalParam("contentHash", "bytes32 content hash (default: keccak256 of the metadata URI)", "")
  .addParam("category", `one of: ${CATEGORIES.join(", ")}`)
  .addParam("unit", `billing unit: ${UNITS.join(", ")}`)
  .addParam("price", "FTNS per unit")
  .addParam("bond", "FTNS bonded with the listing")
  .addOptionalParam("royaltyRecipient", "creator royalty recipient", "")
  .addOptionalParam("royaltyBps", "creator royalty in basis points", "0")
  .addOptionalParam("from", "account index or address", "")
  .setAction(async (args, hre) => {
    const signer = await signerFor(hre, args.from);
    const market = await contractAt<ModelMarketplace>(hre, Deployments.Marketplace);
    const token = await contractAt<FTNSToken>(hre, Deployments.Token);
    const category = CATEGORIES.indexOf(String(args.category));
    if (category < 0) throw taskError(`--category must be one of ${CATEGORIES.join(", ")}`);
    const unit = UNITS.indexOf(String(args.unit).toLowerCase());
    if (unit < 0) throw taskError(`--unit must be one of ${UNITS.join(", ")}`);
    const contentHash = args.contentHash || hre.ethers.id(args.metadata);
    const royaltyRecipient = args.royaltyRecipient ? parseAddress(hre, args.royaltyRecipient, "--royalty-recipient") : hre.ethers.ZeroAddress;
    const bond = parseAmount(hre, args.bond, "--bond");
    await (await token.connect(signer).approve(await market.getAddress(), bond)).wait();
    const tx = await market
      .connect(signer)
      .list(contentHash, args.metadata, category, unit, parseAmount(hre, args.price, "--price"), royaltyRecipient, Number(args.royaltyBps), bond);
    const event = await lastEvent(hre, market, tx.hash, "Listed");
    console.log(`listing ${event.args.listingId} by ${signer.address}`);
    return event.args.listingId as bigint;
  });

task("market:open", "Open an escrow for a listing (EIP-2612 permit in the same transaction)")
  .addParam("listing", "listing id")
  .addParam("deposit", "FTNS to lock")
  .addOptionalParam("cap", "most that can ever be charged (default: the deposit)", "")
  .addOptionalParam("duration", "seconds until expiry (at most the marketplace's maximum escrow duration)", "86400")
  .addOptionalParam("maxPrice", "most FTNS per unit you accept (default: the listing's current price)", "")
  .addOptionalParam("from", "renter account index or address", "")
  .setAction(async (args, hre) => {
    const renter = await signerFor(hre, args.from);
    const market = await contractAt<ModelMarketplace>(hre, Deployments.Marketplace);
    const token = await contractAt<FTNSToken>(hre, Deployments.Token);
    const listingId = parseId(args.listing, "--listing");
    const deposit = parseAmount(hre, args.deposit, "--deposit");
    const cap = args.cap ? parseAmount(hre, args.cap, "--cap") : deposit;
    const duration = Number(parseId(args.duration, "--duration"));
    const givenMaxPrice = args.maxPrice ? parseAmount(hre, args.maxPrice, "--max-price") : undefined;
    const [listing, minDeposit, maxDuration] = await Promise.all([market.getListing(listingId), market.minEscrowDeposit(), market.maxEscrowDuration()]);
    if (listing.status === 0n) throw taskError(`No listing ${args.listing}`);
    if (deposit < minDeposit) throw taskError(`--deposit: at least ${hre.ethers.formatEther(minDeposit)} FTNS`);
    if (duration > Number(maxDuration)) throw taskError(`--duration: at most ${maxDuration} seconds`);
    // The escrow keeps the price it opens at; the contract refuses one above the maximum (a price change sent just
    // before cannot surprise the renter). Default: the price read now.
    const maxPrice = givenMaxPrice ?? listing.pricePerUnit;
    const now = (await hre.ethers.provider.getBlock("latest"))!.timestamp;
    const expiresAt = now + duration;
    const deadline = BigInt(now + 3600);
    const { name, version, chainId, verifyingContract } = await token.eip712Domain();
    const sig = hre.ethers.Signature.from(
      await renter.signTypedData(
        { name, version, chainId, verifyingContract },
        { Permit: [
          { name: "owner", type: "address" }, { name: "spender", type: "address" }, { name: "value", type: "uint256" },
          { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" },
        ] },
        { owner: renter.address, spender: await market.getAddress(), value: deposit, nonce: await token.nonces(renter.address), deadline },
      ),
    );
    const tx = await market
      .connect(renter)
      .openEscrowWithPermit(listingId, deposit, cap, expiresAt, maxPrice, deadline, sig.v, sig.r, sig.s);
    const event = await lastEvent(hre, market, tx.hash, "EscrowOpened");
    console.log(`escrow ${event.args.escrowId}: ${args.deposit} FTNS until ${new Date(expiresAt * 1000).toISOString()}`);
    return event.args.escrowId as bigint;
  });

task("market:sign-receipt", "Sign a cumulative usage receipt as the renter (prints or writes JSON)")
  .addParam("escrow", "escrow id")
  .addParam("units", "cumulative units received so far (more than the escrow has accounted)")
  .addOptionalParam("validFor", "seconds the receipt may be submitted for", "3600")
  .addOptionalParam("out", "write the receipt to this file", "")
  .addOptionalParam("from", "renter account index or address", "")
  .setAction(async (args, hre) => {
    const renter = await signerFor(hre, args.from);
    const market = await contractAt<ModelMarketplace>(hre, Deployments.Marketplace);
    const { name, version, chainId, verifyingContract } = await market.eip712Domain();
    const now = (await hre.ethers.provider.getBlock("latest"))!.timestamp;
    const receipt = {
      escrowId: parseId(args.escrow, "--escrow"),
      cumulativeUnits: parseId(args.units, "--units"),
      deadline: BigInt(now + Number(parseId(args.validFor, "--valid-for"))),
    };
    const signature = await renter.signTypedData(
      { name, version, chainId, verifyingContract },
      { UsageReceipt: [
        { name: "escrowId", type: "uint256" }, { name: "cumulativeUnits", type: "uint256" }, { name: "deadline", type: "uint256" },
      ] },
      receipt,
    );
    const json = JSON.stringify({ ...Object.fromEntries(Object.entries(receipt).map(([k, v]) => [k, v.toString()])), signature }, null, 2);
    if (args.out) fs.writeFileSync(args.out, json + "\n");
    else console.log(json);
    return json;
  });

task("market:charge", "Charge an escrow with a renter-signed receipt (JSON from market:sign-receipt)")
  .addParam("receipt", "path to the receipt JSON")
  .addOptionalParam("from", "account index or address", "")
  .setAction(async (args, hre) => {
    let r: { escrowId: string; cumulativeUnits: string; deadline: string; signature: string };
    try {
      r = JSON.parse(fs.readFileSync(args.receipt, "utf8"));
    } catch (error) {
      throw taskError(`--receipt ${args.receipt}: ${(error as Error).message}`);
    }
    const market = await contractAt<ModelMarketplace>(hre, Deployments.Marketplace);
    const tx = await market
      .connect(await signerFor(hre, args.from))
      .chargeWithReceipt(BigInt(r.escrowId), BigInt(r.cumulativeUnits), BigInt(r.deadline), r.signature);
    const event = await lastEvent(hre, market, tx.hash, "UsageCharged");
    console.log(`charged ${hre.ethers.formatEther(event.args.amount)} FTNS for ${event.args.units} units`);
    return event.args.amount as bigint;
  });

task("market:dispute", "Dispute an attested charge (renter, within the dispute window; approves and bonds the dispute bond)")
  .addParam("charge", "charge id")
  .addOptionalParam("from", "renter account index or address", "")
  .setAction(async (args, hre) => {
    const renter = await signerFor(hre, args.from);
    const market = await contractAt<ModelMarketplace>(hre, Deployments.Marketplace);
    const token = await contractAt<FTNSToken>(hre, Deployments.Token);
    const chargeId = parseId(args.charge, "--charge");
    const charge = await market.getCharge(chargeId);
    if (charge.status === 0n) throw taskError(`No charge ${args.charge}`);
    // The bond is the escrow's terms' (fixed when it opened); the marketplace pulls it with transferFrom.
    const { disputeBond } = await market.getTerms((await market.getEscrow(charge.escrowId)).termsId);
    const marketAddress = await market.getAddress();
    if (disputeBond > 0n && (await token.allowance(renter.address, marketAddress)) < disputeBond) {
      await (await token.connect(renter).approve(marketAddress, disputeBond)).wait();
    }
    const tx = await market.connect(renter).disputeCharge(chargeId);
    const event = await lastEvent(hre, market, tx.hash, "ChargeDisputed");
    const resolveBy = new Date(Number(event.args.resolveBy) * 1000).toISOString();
    console.log(`charge ${args.charge} is disputed (bond ${hre.ethers.formatEther(event.args.bond)} FTNS) and held until governance resolves it, at the latest by ${resolveBy} (then market:resolve-expired pays it to the provider)`);
    return event.args.resolveBy as bigint;
  });

task("market:resolve-expired", "Apply the default to a dispute past its deadline: the charge stands, the bond goes to the provider")
  .addParam("charge", "charge id")
  .addOptionalParam("from", "account index or address", "")
  .setAction(async (args, hre) => {
    const market = await contractAt<ModelMarketplace>(hre, Deployments.Marketplace);
    const tx = await market.connect(await signerFor(hre, args.from)).resolveExpiredDispute(parseId(args.charge, "--charge"));
    const event = await lastEvent(hre, market, tx.hash, "DisputeResolved");
    console.log(`dispute on charge ${args.charge} expired: ${hre.ethers.formatEther(event.args.amount)} FTNS paid to the provider`);
    return event.args.amount as bigint;
  });

task("market:close", "Close an escrow (after expiry and grace) and refund the unspent deposit")
  .addParam("escrow", "escrow id")
  .addOptionalParam("from", "account index or address", "")
  .setAction(async (args, hre) => {
    const market = await contractAt<ModelMarketplace>(hre, Deployments.Marketplace);
    const tx = await market.connect(await signerFor(hre, args.from)).closeEscrow(parseId(args.escrow, "--escrow"));
    const event = await lastEvent(hre, market, tx.hash, "EscrowClosed");
    console.log(`closed; refunded ${hre.ethers.formatEther(event.args.refund)} FTNS`);
  });

task("market:close-by-provider", "Close an escrow at once as the listing's provider and refund the renter's unspent deposit")
  .addParam("escrow", "escrow id")
  .addOptionalParam("from", "provider account index or address", "")
  .setAction(async (args, hre) => {
    const market = await contractAt<ModelMarketplace>(hre, Deployments.Marketplace);
    const tx = await market.connect(await signerFor(hre, args.from)).closeEscrowByProvider(parseId(args.escrow, "--escrow"));
    const event = await lastEvent(hre, market, tx.hash, "EscrowClosed");
    console.log(`closed by the provider; refunded ${hre.ethers.formatEther(event.args.refund)} FTNS to the renter`);
    return event.args.refund as bigint;
  });

task("market:withdraw", "Withdraw unclaimed payouts")
  .addOptionalParam("for", "send another account's payouts to it (e.g. the treasury)", "")
  .addOptionalParam("from", "account index or address", "")
  .setAction(async (args, hre) => {
    const signer = await signerFor(hre, args.from);
    const market = await contractAt<ModelMarketplace>(hre, Deployments.Marketplace);
    const account = args.for ? parseAddress(hre, args.for, "--for") : signer.address;
    const owed = await market.payoutOf(account);
    if (owed === 0n) throw taskError(`${account} has no unclaimed payouts`);
    await (await (args.for ? market.connect(signer).withdrawFor(account) : market.connect(signer).withdraw())).wait();
    console.log(`withdrew ${hre.ethers.formatEther(owed)} FTNS to ${account}`);
    return owed;
  });

task("market:show", "Show a listing or an escrow")
  .addOptionalParam("listing", "listing id", "")
  .addOptionalParam("escrow", "escrow id", "")
  .setAction(async (args, hre) => {
    const market = await contractAt<ModelMarketplace>(hre, Deployments.Marketplace);
    const fmt = (o: object) =>
      JSON.stringify(o, (_, v) => (typeof v === "bigint" ? v.toString() : v), 2);
    if (args.listing) {
      const l = await market.getListing(parseId(args.listing, "--listing"));
      if (l.status === 0n) throw taskError(`No listing ${args.listing}`);
      console.log(fmt({ provider: l.provider, price: hre.ethers.formatEther(l.pricePerUnit), category: CATEGORIES[Number(l.category)], unit: UNITS[Number(l.unit)], status: ["none", "active", "paused", "delisted"][Number(l.status)], bond: hre.ethers.formatEther(l.bond), openEscrows: l.openEscrows, metadataURI: l.metadataURI }));
    } else if (args.escrow) {
      const e = await market.getEscrow(parseId(args.escrow, "--escrow"));
      if (e.status === 0n) throw taskError(`No escrow ${args.escrow}`);
      console.log(fmt({ renter: e.renter, listingId: e.listingId, status: ["none", "open", "closed"][Number(e.status)], deposit: hre.ethers.formatEther(e.deposit), charged: hre.ethers.formatEther(e.charged), spendCap: hre.ethers.formatEther(e.spendCap), price: hre.ethers.formatEther(e.pricePerUnit), units: e.units, termsId: e.termsId, expiresAt: new Date(Number(e.expiresAt) * 1000).toISOString() }));
    } else {
      throw taskError("give --listing or --escrow");
    }
  });
