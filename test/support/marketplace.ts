import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { ModelMarketplace } from "../../typechain-types";

export interface Domain {
  name: string;
  version: string;
  chainId: bigint;
  verifyingContract: string;
}

export async function marketplaceDomain(marketplace: ModelMarketplace): Promise<Domain> {
  const { name, version, chainId, verifyingContract } = await marketplace.eip712Domain();
  return { name, version, chainId, verifyingContract };
}

export const RECEIPT_TYPES = {
  UsageReceipt: [
    { name: "escrowId", type: "uint256" },
    { name: "cumulativeUnits", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
};

export const CLOSE_TYPES = {
  CloseEscrow: [
    { name: "escrowId", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
};

/**
 * A renter's EIP-712 usage receipt: its acknowledgement of `cumulativeUnits` received in total on `escrowId` (usage is
 * ordered by cumulative units alone; there is no sequence number). `domain` may be overridden to forge one for another
 * chain or contract.
 */
export async function signReceipt(
  marketplace: ModelMarketplace,
  signer: HardhatEthersSigner,
  receipt: { escrowId: bigint; cumulativeUnits: bigint; deadline: bigint },
  domain?: Partial<Domain>,
): Promise<string> {
  return signer.signTypedData({ ...(await marketplaceDomain(marketplace)), ...domain }, RECEIPT_TYPES, receipt);
}

export async function signClose(
  marketplace: ModelMarketplace,
  signer: HardhatEthersSigner,
  escrowId: bigint,
  deadline: bigint,
): Promise<string> {
  return signer.signTypedData(await marketplaceDomain(marketplace), CLOSE_TYPES, { escrowId, deadline });
}
