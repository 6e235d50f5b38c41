/**
 * EIP-2612 `Permit` typed-data types (the FTNS token is OpenZeppelin's ERC20Permit), one copy for every signer: the
 * renter proxy's escrow pool, the web app, the tests and the gas benchmark. ethers wants mutable arrays: pass
 * `{ Permit: [...PERMIT_TYPES.Permit] }` there.
 */
export const PERMIT_TYPES = {
  Permit: [
    { name: "owner", type: "address" },
    { name: "spender", type: "address" },
    { name: "value", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
} as const;
