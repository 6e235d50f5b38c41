/**
 * Attacks on session keys (IMarketplaceSessionKeys) that the contract should withstand.
 *
 * chargeWithReceipt checks the renter's signature first (SignatureChecker: for a renter with code, an ERC-1271
 * staticcall that copies all the return data) and only then a session key. A renter whose address has code (a smart
 * wallet, or an EOA that delegated with EIP-7702) can make that call return a memory bomb: the callee spends its
 * 63/64 of the gas growing memory and returns all of it, and the marketplace runs out of gas copying it whatever the
 * transaction's gas limit. Every receipt its session key signed (the gateway's acknowledgements, which it accepts as
 * chargeable credit, and the settler's receipt fallback) then becomes unchargeable.
 */
import { PERMIT_TYPES as PERMIT_TYPES_CONST } from "../../workers/shared/permit";
import { expect } from "chai";
import { deployments, ethers, network } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { deployProtocol, ftns, impersonate } from "../support/fixtures";
import { signReceipt } from "../support/marketplace";
import type { IMarketplaceSessionKeys } from "../../typechain-types";

const PERMIT_TYPES = { Permit: [...PERMIT_TYPES_CONST.Permit] };

const PRICE = ftns(2);


/**
 * Runtime code answering any call with a return-data bomb:
 *   loop: if (gas < 5000) goto end; mstore(msize, 1); goto loop;  end: return(0, msize)
 */
const RETURN_BOMB = "0x5b6113885a10601057600159526000565b596000f3";

const fixture = deployments.createFixture(async () => {
  const protocol = await deployProtocol();
  const { token, timelock, marketplace, users } = protocol;
  const [renter, provider, creator] = users;
  const treasury = await impersonate(await timelock.getAddress());
  for (const account of [renter, provider]) await token.connect(treasury).transfer(account.address, ftns(10_000));
  await token.connect(provider).approve(await marketplace.getAddress(), ethers.MaxUint256);
  await marketplace.connect(provider).list(ethers.id("model-weights"), "ipfs://bafy-model", 0, 0, PRICE, creator.address, 500, ftns(100));
  const listingId = await marketplace.listingCount();
  const keys = (await ethers.getContractAt("IMarketplaceSessionKeys", await marketplace.getAddress())) as unknown as IMarketplaceSessionKeys;
  return { ...protocol, renter, provider, listingId, keys };
});

type Fixture = Awaited<ReturnType<typeof fixture>>;

async function openWithKey(f: Fixture, key: string, deposit = ftns(100)) {
  const deadline = BigInt((await time.latest()) + 3600);
  const { name, version, chainId, verifyingContract } = await f.token.eip712Domain();
  const nonce = await f.token.nonces(f.renter.address);
  const sig = ethers.Signature.from(
    await f.renter.signTypedData({ name, version, chainId, verifyingContract }, PERMIT_TYPES, {
      owner: f.renter.address,
      spender: await f.marketplace.getAddress(),
      value: deposit,
      nonce,
      deadline,
    }),
  );
  const expiresAt = (await time.latest()) + 3600;
  await (await f.keys.connect(f.renter).openEscrowWithSessionKey(f.listingId, deposit, deposit, expiresAt, PRICE, key, deadline, sig.v, sig.r, sig.s)).wait();
  return await f.marketplace.escrowCount();
}

describe("Session keys: attacks", () => {
  it("a receipt signed by the session key stays chargeable when the renter's code answers ERC-1271 with a return-data bomb", async () => {
    const f = await fixture();
    const key = ethers.Wallet.createRandom();
    const escrowId = await openWithKey(f, key.address);

    // The session key acknowledges 10 units (what the gateway takes as chargeable credit).
    const deadline = BigInt((await time.latest()) + 7 * 24 * 3600);
    const signature = await signReceipt(f.marketplace, key as unknown as HardhatEthersSigner, { escrowId, cumulativeUnits: 10n, deadline });

    // The renter's address gets code (a smart wallet upgrade or an EIP-7702 delegation) that bombs isValidSignature.
    await network.provider.send("hardhat_setCode", [f.renter.address, RETURN_BOMB]);

    // The provider cannot charge it, whatever gas it offers (16M: about the EIP-7825 cap of one transaction).
    await f.marketplace.connect(f.provider).chargeWithReceipt(escrowId, 10n, deadline, signature, { gasLimit: 16_000_000n });
    expect((await f.marketplace.getEscrow(escrowId)).charged).to.equal(10n * PRICE);
  });
});
