import { PERMIT_TYPES } from "../../workers/shared/permit";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { ethers } from "hardhat";
import type { FTNSToken } from "../../typechain-types";

export async function domainOf(token: FTNSToken) {
  const { name, version, chainId, verifyingContract } = await token.eip712Domain();
  return { name, version, chainId, verifyingContract };
}

/** An EIP-2612 permit signature by `owner`. */
export async function signPermit(
  token: FTNSToken,
  owner: HardhatEthersSigner,
  spender: string,
  value: bigint,
  deadline: bigint,
  nonce?: bigint,
) {
  const domain = await domainOf(token);
  const types = { Permit: [...PERMIT_TYPES.Permit] };
  const message = {
    owner: owner.address,
    spender,
    value,
    nonce: nonce ?? (await token.nonces(owner.address)),
    deadline,
  };
  return ethers.Signature.from(await owner.signTypedData(domain, types, message));
}

/** An ERC-5805 delegation signature by `signer`. */
export async function signDelegation(
  token: FTNSToken,
  signer: HardhatEthersSigner,
  delegatee: string,
  expiry: bigint,
  nonce?: bigint,
) {
  const domain = await domainOf(token);
  const types = {
    Delegation: [
      { name: "delegatee", type: "address" },
      { name: "nonce", type: "uint256" },
      { name: "expiry", type: "uint256" },
    ],
  };
  const message = { delegatee, nonce: nonce ?? (await token.nonces(signer.address)), expiry };
  return ethers.Signature.from(await signer.signTypedData(domain, types, message));
}
