/**
 * hardhat-deploy's `read` returns struct fields as ethers v5 BigNumber objects ({ type: "BigNumber", hex }) over
 * an HTTP provider and as bigints in-process; this takes either (or a number or decimal string).
 */
export function toBigInt(value: unknown): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value === "object" && value !== null && "hex" in value) return BigInt(String((value as { hex: string }).hex));
  if (typeof value === "object" && value !== null && "_hex" in value) return BigInt(String((value as { _hex: string })._hex));
  return BigInt(value as string | number);
}
