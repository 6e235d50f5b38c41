import { PERMIT_TYPES } from "../../workers/shared/permit";
import type { HardhatRuntimeEnvironment } from "hardhat/types";
import type { ContractTransactionResponse } from "ethers";
import type { GasSection } from "./types";

type Tx = Promise<ContractTransactionResponse>;
async function gasOf(tx: Tx): Promise<bigint> {
  const receipt = await (await tx).wait();
  if (!receipt) throw new Error("transaction was not mined");
  return receipt.gasUsed;
}

/**
 * The same sequence of operations on FTNS (behind its UUPS proxy, as deployed) and on a plain OpenZeppelin
 * ERC20Votes + Permit token. Every measured call runs in its own block against warm balances, the way a holder's
 * second and later transactions do.
 */
export async function tokenGas(hre: HardhatRuntimeEnvironment): Promise<GasSection> {
  const { ethers, deployments } = hre;
  await deployments.fixture();
  const [, alice, bob, carol, dave, erin, minter] = await ethers.getSigners();
  const ftns = await ethers.getContractAt("FTNSToken", (await deployments.get("FTNSToken")).address);
  const timelock = (await deployments.get("ProtocolTimelock")).address;
  await hre.network.provider.request({ method: "hardhat_impersonateAccount", params: [timelock] });
  await hre.network.provider.request({ method: "hardhat_setBalance", params: [timelock, "0x56BC75E2D63100000"] });
  const treasury = await ethers.getSigner(timelock);
  await ftns.connect(treasury).grantRole(ethers.id("MINTER_ROLE"), minter.address);

  const reference = await (await ethers.getContractFactory("ReferenceVotesToken")).deploy(
    treasury.address,
    ethers.parseEther("100000000"),
  );

  const measure = async (token: typeof ftns | typeof reference) => {
    const unit = ethers.parseEther("1000");
    for (const holder of [alice, bob, carol, dave, erin]) await token.connect(treasury).transfer(holder.address, unit);
    await token.connect(alice).delegate(alice.address);
    await token.connect(bob).delegate(bob.address);
    await token.connect(alice).transfer(bob.address, 1n); // warm-up: the first transfer creates the checkpoints

    const results: Record<string, bigint> = {};
    results["transfer, both holders delegated"] = await gasOf(token.connect(alice).transfer(bob.address, 10n));
    results["transfer, no delegation"] = await gasOf(token.connect(carol).transfer(dave.address, 10n));

    const { chainId } = await ethers.provider.getNetwork();
    const [name] = [await token.name()];
    const deadline = BigInt((await ethers.provider.getBlock("latest"))!.timestamp) + 3600n;
    const domain = { name, version: "1", chainId, verifyingContract: await token.getAddress() };
    const types = { Permit: [...PERMIT_TYPES.Permit] };
    const value = ethers.parseEther("5");
    const sig = ethers.Signature.from(
      await carol.signTypedData(domain, types, { owner: carol.address, spender: dave.address, value, nonce: 0n, deadline }),
    );
    results["permit"] = await gasOf(token.connect(dave).permit(carol.address, dave.address, value, deadline, sig.v, sig.r, sig.s));
    results["delegate (first time, to self)"] = await gasOf(token.connect(erin).delegate(erin.address));
    const mintFn = "mint" in token ? token.connect(minter) : token;
    results["mint to a delegated holder"] = await gasOf(mintFn.mint(alice.address, 10n));
    results["burn by a delegated holder"] = await gasOf(token.connect(alice).burn(10n));
    return results;
  };

  const ours = await measure(ftns);
  const theirs = await measure(reference);
  return {
    title: "FTNS token",
    referenceName: "OZ ERC20Votes+Permit",
    description:
      "FTNS behind its ERC-1967 proxy (UUPS) with pause, cap and access control, next to a plain non-upgradeable " +
      "OpenZeppelin 5.4 ERC20 + ERC20Permit + ERC20Votes token with the same timestamp clock, same run, same calls.",
    notes: [
      "Where the transfer overhead comes from (measured by disabling each part in a scratch build): the ERC-1967 " +
        "proxy costs about 5,000 gas per call (cold access to the implementation account, 2,600; the implementation " +
        "slot read, 2,100; delegatecall plumbing) and OpenZeppelin's pause flag one cold storage read, 2,150. " +
        "Without the pause check the delegated transfer measured +4.8%.",
      "The 5% target for a delegated transfer is therefore not reachable with an upgradeable proxy plus a " +
        "storage-based pause; meeting it needs either no per-transfer pause or a pause encoded in which " +
        "implementation is active. Both trade audited library code for gas, so the token keeps OpenZeppelin's design.",
      "An upgradeable EIP-712 domain cannot be cached in immutables; FTNS returns its name and version as " +
        "constants instead of reading them from storage, so permit and delegateBySig pay only the proxy hop.",
    ],
    rows: Object.keys(ours).map((operation) => ({
      operation,
      gas: ours[operation],
      reference: theirs[operation],
      target: operation === "transfer, both holders delegated" ? { maxRatio: 1.05 } : undefined,
    })),
  };
}
