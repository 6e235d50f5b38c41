/**
 * Marketplace actions the end-to-end tests and the consensus benchmark share: open an escrow as a renter, read its
 * state, and write a usage report signed by the provider (the input a consensus node receives).
 */
import type { Address, Hex, TypedDataDomain } from "viem";
import { requestDigest, responseDigest, signAuthorization, usageResultDigest } from "../../workers/shared/authorization";
import { reportToJson, signProviderReport } from "../../workers/shared/usage-report";
import { account, deployment, send, walletFor, type Chain } from "./harness";

export const RENTER = 1;
export const PROVIDER = 18; // the demo provider: it listed the launch models

const market = () => deployment("ModelMarketplace");

export async function committeeDomain(chain: Chain): Promise<TypedDataDomain> {
  const committee = deployment("FederationCommittee");
  const [, name, version, chainId, verifyingContract] = (await chain.publicClient.readContract({
    ...committee,
    abi: committee.abi as never,
    functionName: "eip712Domain",
  })) as [Hex, string, string, bigint, Address];
  return { name, version, chainId: Number(chainId), verifyingContract };
}

/** The escrow's state on chain: `units` is the cumulative usage accounted (it only grows; usage has no sequence). */
export async function escrowState(chain: Chain, escrowId: bigint) {
  return (await chain.publicClient.readContract({ ...market(), abi: market().abi as never, functionName: "getEscrow", args: [escrowId] })) as {
    units: bigint;
    charged: bigint;
    pricePerUnit: bigint;
    status: number;
  };
}

/**
 * Approves the marketplace for `approve` (when given) and opens an escrow on listing 1 at its current price (the
 * renter's maximum price per unit); returns its id.
 */
export async function openEscrow(chain: Chain, deposit = 10n ** 20n, approve: bigint | undefined = deposit): Promise<bigint> {
  const renter = walletFor(chain, RENTER);
  if (approve !== undefined) {
    const token = deployment("FTNSToken");
    await send(chain, await renter.writeContract({ ...token, abi: token.abi as never, functionName: "approve", args: [market().address, approve] }));
  }
  const { pricePerUnit } = (await chain.publicClient.readContract({ ...market(), abi: market().abi as never, functionName: "getListing", args: [1n] })) as { pricePerUnit: bigint };
  const now = (await chain.publicClient.getBlock()).timestamp;
  await send(chain, await renter.writeContract({ ...market(), abi: market().abi as never, functionName: "openEscrow", args: [1n, deposit, deposit, now + 3_600n, pricePerUnit] }));
  return (await chain.publicClient.readContract({ ...market(), abi: market().abi as never, functionName: "escrowCount" })) as bigint;
}

/**
 * A usage report as JSON, as a provider gateway writes it: the renter's authorization of a request (up to
 * `authorizedUnits`, default exactly the reported units) and the provider's signature over units and digests.
 * `signer` is the listing's provider unless a test forges it.
 */
export async function providerReport(
  domain: TypedDataDomain,
  escrowId: bigint,
  cumulativeUnits: bigint,
  sequence: bigint,
  signer = PROVIDER,
  options: { authorizedUnits?: bigint; renter?: number } = {},
) {
  const authorization = await signAuthorization(account(options.renter ?? RENTER), domain, {
    escrowId,
    maxCumulativeUnits: options.authorizedUnits ?? cumulativeUnits,
    requestDigest: requestDigest("/v1/chat/completions", `question ${escrowId}/${sequence}`),
    deadline: BigInt(Math.floor(Date.now() / 1000) + 3_600),
  });
  const response = responseDigest(`answer ${escrowId}/${sequence}`);
  const resultDigest = usageResultDigest(domain, authorization, response);
  const base = { escrowId, cumulativeUnits, sequence, resultDigest };
  const providerSignature = await signProviderReport(account(signer), domain, base);
  return reportToJson({ ...base, providerSignature, authorization, responseDigest: response });
}

export async function postJson(url: string, pathname: string, body: string | object) {
  const res = await fetch(`${url}${pathname}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}
