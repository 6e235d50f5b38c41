/**
 * Session keys end to end, with real processes: a Hardhat node, four consensus nodes, the demo provider's gateway
 * and the orchestrator. The renter signs once with its wallet (the permit of openEscrowWithSessionKey, which also
 * authorizes a fresh key); from then on the renter client holds only the session key, which signs every query's
 * authorization and every acknowledgement. Checked: answers served, the committee attests the key's reports and
 * the chain charges them; the gateway refuses keys that were never authorized (401 naming the signer), session-key
 * authorizations running longer than 300 s, and, once the renter revoked the key, authorizations past
 * revokedAt + 600 s; a node refuses a report whose authorization a stranger signed; what was served right after the
 * revocation (inside the grace) is still attested and charged.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { parseSignature, type Address, type Hex, type TypedDataDomain } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import {
  AUTHORIZATION_HEADER,
  formatAuthorizationHeader,
  requestDigest,
  responseDigest,
  signAuthorization,
  usageResultDigest,
} from "../../workers/shared/authorization";
import { reportToJson, signProviderReport } from "../../workers/shared/usage-report";
import { RenterClient, type QueryResult } from "../../workers/renter/client";
import { account, deployment, domainOf, privateKeyOf, Processes, readContract, ROOT, send, startChain, startConsensusNode, waitFor, walletFor, type Chain, type ConsensusNodeProcess } from "./harness";
import { committeeDomain, escrowState, postJson, PROVIDER, RENTER } from "./usage";

const CHAIN_PORT = 8645;
const NODE_PORTS = [8781, 8782, 8783, 8784];
const GATEWAY_PORT = 8785;
const ORCHESTRATOR_PORT = 8786;
const GATEWAY = `http://127.0.0.1:${GATEWAY_PORT}`;
const ORCHESTRATOR = `http://127.0.0.1:${ORCHESTRATOR_PORT}`;
const LISTING = 9n; // the demo provider's demo model
const E18 = 10n ** 18n;

const processes = new Processes();
const market = () => deployment("ModelMarketplace");
const token = () => deployment("FTNSToken");
let chain: Chain;
let domain: TypedDataDomain;
let nodes: ConsensusNodeProcess[] = [];
let client: RenterClient;
let escrowId = 0n;
const sessionKey = privateKeyToAccount(generatePrivateKey());

const chainNow = async () => (await chain.publicClient.getBlock({ blockTag: "latest" })).timestamp;
const rpc = (method: string, params: unknown[] = []) => chain.publicClient.request({ method: method as never, params: params as never });

async function call(from: number, c: ReturnType<typeof market>, functionName: string, args: unknown[]) {
  await send(chain, await walletFor(chain, from).writeContract({ ...c, abi: c.abi as never, functionName, args } as never));
}

/** The renter's one wallet signature: a permit for the deposit, sent with openEscrowWithSessionKey. */
async function openWithSessionKey(key: Address): Promise<bigint> {
  const renter = account(RENTER);
  const deposit = 10n * E18;
  const now = await chainNow();
  const permitDeadline = now + 3_600n;
  const [, name, version, chainId, verifyingContract] = await readContract<[Hex, string, string, bigint, Address]>(chain, token(), "eip712Domain");
  const nonce = await readContract<bigint>(chain, token(), "nonces", [renter.address]);
  const signature = await renter.signTypedData({
    domain: { name, version, chainId: Number(chainId), verifyingContract },
    types: { Permit: [{ name: "owner", type: "address" }, { name: "spender", type: "address" }, { name: "value", type: "uint256" }, { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" }] },
    primaryType: "Permit",
    message: { owner: renter.address, spender: market().address, value: deposit, nonce, deadline: permitDeadline },
  });
  const { v, r, s } = parseSignature(signature);
  const { pricePerUnit } = await readContract<{ pricePerUnit: bigint }>(chain, market(), "getListing", [LISTING]);
  await call(RENTER, market(), "openEscrowWithSessionKey", [LISTING, deposit, deposit, now + 7_200n, pricePerUnit, key, permitDeadline, Number(v), r, s]);
  return readContract<bigint>(chain, market(), "escrowCount");
}

function startGateway(): Promise<void> {
  const child = processes.spawn(
    "gateway",
    process.execPath,
    ["--import", "tsx", path.join(ROOT, "workers", "provider-gateway", "main.ts")],
    {
      PROVIDER_KEY: privateKeyOf(PROVIDER),
      RPC_URL: chain.rpcUrl,
      NETWORK: "e2e",
      GATEWAY_LISTINGS: LISTING.toString(),
      GATEWAY_PORT: String(GATEWAY_PORT),
      GATEWAY_STATE_FILE: path.join(chain.logDir, "gateway", "usage.json"),
      CONSENSUS_NODES: NODE_PORTS.map((p) => `http://127.0.0.1:${p}`).join(","),
      SETTLE_INTERVAL_MS: "500",
      REPORT_RESEND_MS: "2000",
    },
    path.join(chain.logDir, "gateway.log"),
  );
  return waitFor("the gateway", async () => {
    if (child.exitCode !== null) throw new Error(`gateway exited; see ${chain.logDir}`);
    return (await fetch(`${GATEWAY}/health`)).ok ? true : undefined;
  }, 60_000, 100).then(() => undefined);
}

const TEXT = "Acme Corp reported record revenue on Monday. Investors were delighted and the stock rose 12%.";
const chat = (): Promise<QueryResult> => client.query("/v1/chat/completions", { messages: [{ role: "user", content: TEXT }] }, { escrowIds: [escrowId], budgetUnits: 400n });

/** A request straight to the gateway with an authorization `signer` signed (deadline `seconds` away). */
async function direct(signer: ReturnType<typeof privateKeyToAccount>, seconds: bigint) {
  const body = JSON.stringify({ messages: [{ role: "user", content: "hello" }] });
  const auth = await signAuthorization(signer, domain, {
    escrowId,
    maxCumulativeUnits: 1_000_000n,
    requestDigest: requestDigest("/v1/chat/completions", body),
    deadline: (await chainNow()) + seconds,
  });
  const res = await fetch(`${GATEWAY}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", [AUTHORIZATION_HEADER]: formatAuthorizationHeader([auth]) }, body });
  return { status: res.status, json: (await res.json()) as { error?: { code: string; message: string } } };
}

describe("session keys end to end", { timeout: 300_000 }, () => {
  before(async () => {
    chain = await startChain(processes, CHAIN_PORT);
    domain = await committeeDomain(chain);
    const urls = NODE_PORTS.map((p) => `http://127.0.0.1:${p}`);
    nodes = await Promise.all(
      [14, 15, 16, 17].map((index, i) =>
        startConsensusNode(processes, chain, { index, port: NODE_PORTS[i]!, peers: urls.filter((_, j) => j !== i), stateDir: path.join(chain.logDir, `node-${index}`) }),
      ),
    );
    await startGateway();
    const orchestrator = processes.spawn(
      "orchestrator",
      process.execPath,
      ["--import", "tsx", path.join(ROOT, "workers", "orchestrator", "main.ts")],
      { RPC_URL: chain.rpcUrl, NETWORK: "e2e", PROVIDER_GATEWAYS: GATEWAY, CONSENSUS_NODES: urls.join(","), ORCHESTRATOR_PORT: String(ORCHESTRATOR_PORT), ORCHESTRATOR_PROVIDER_TIMEOUT_MS: "5000" },
      path.join(chain.logDir, "orchestrator.log"),
    );
    await waitFor("the orchestrator", async () => {
      if (orchestrator.exitCode !== null) throw new Error(`orchestrator exited; see ${chain.logDir}`);
      const res = await fetch(`${ORCHESTRATOR}/health`);
      return res.ok && ((await res.json()) as { listings: number }).listings >= 1 ? true : undefined;
    }, 60_000, 100);
    escrowId = await openWithSessionKey(sessionKey.address);
    // From here on the client holds only the session key.
    client = new RenterClient(sessionKey, domain, ORCHESTRATOR, {
      budgetUnits: 400n,
      sessionKey: true,
      chainNow,
      marketplaceDomain: await domainOf(chain, "ModelMarketplace"),
      unitOf: async () => 0,
    });
  });

  after(async () => {
    await processes.stopAll();
  });

  test("the escrow opened with one wallet signature has the key authorized", async () => {
    const [authorized, revokedAt] = await readContract<[boolean, number]>(chain, market(), "sessionKey", [escrowId, sessionKey.address]);
    assert.equal(authorized, true);
    assert.equal(revokedAt, 0);
    const escrow = await readContract<{ renter: Address }>(chain, market(), "getEscrow", [escrowId]);
    assert.equal(escrow.renter, account(RENTER).address);
  });

  test("queries signed by the session key are answered, acknowledged by it, attested by the nodes and charged", async () => {
    const first = await chat();
    assert.equal(first.status, 200, first.body);
    assert.match(first.json.choices[0].message.content, /Sentiment: positive/);
    // The second request carries the key's acknowledgement of the first: the gateway takes it.
    const second = await chat();
    assert.equal(second.status, 200, second.body);
    const total = second.report!.cumulativeUnits;
    const e = await waitFor("the committee's charge", async () => {
      const s = await escrowState(chain, escrowId);
      return s.units >= total ? s : undefined;
    }, 30_000, 200);
    assert.equal(e.units, total);
    assert.equal(e.charged, total * e.pricePerUnit);
  });

  test("the gateway refuses a key never authorized, and a session-key authorization longer than 300 s", async () => {
    const stranger = privateKeyToAccount(generatePrivateKey());
    const refused = await direct(stranger, 120n);
    assert.equal(refused.status, 401);
    assert.match(refused.json.error!.message, new RegExp(`signed by ${stranger.address}.*not a session key`, "i"));
    const tooLong = await direct(sessionKey, 900n);
    assert.equal(tooLong.status, 401);
    assert.match(tooLong.json.error!.message, /at most 300 s/);
  });

  test("a node refuses a report whose authorization a stranger signed", async () => {
    const stranger = privateKeyToAccount(generatePrivateKey());
    const before = await escrowState(chain, escrowId);
    const authorization = await signAuthorization(stranger, domain, {
      escrowId,
      maxCumulativeUnits: before.units + 10n,
      requestDigest: requestDigest("/v1/chat/completions", "forged"),
      deadline: (await chainNow()) + 120n,
    });
    const response = responseDigest("forged answer");
    const base = { escrowId, cumulativeUnits: before.units + 10n, sequence: 1_000n, resultDigest: usageResultDigest(domain, authorization, response) };
    const providerSignature = await signProviderReport(account(PROVIDER), domain, base);
    const reply = await postJson(nodes[0]!.url, "/reports", { report: reportToJson({ ...base, providerSignature, authorization, responseDigest: response }) });
    assert.equal(reply.status, 422);
    assert.equal(reply.json.error.code, "bad-authorization");
    assert.match(reply.json.error.message, /neither the escrow's renter nor one of its session keys/);
  });

  test("after the renter revokes the key: served within the grace and charged, refused once past revokedAt + 600 s", async () => {
    await call(RENTER, market(), "revokeSessionKey", [escrowId, sessionKey.address]);
    const [, revokedAt] = await readContract<[boolean, number]>(chain, market(), "sessionKey", [escrowId, sessionKey.address]);
    assert.ok(revokedAt > 0);
    // Deadline now + 240 <= revokedAt + 600: still served, and the nodes still attest it.
    const within = await chat();
    assert.equal(within.status, 200, within.body);
    const total = within.report!.cumulativeUnits;
    await waitFor("the charge of what was served after the revocation", async () => ((await escrowState(chain, escrowId)).units >= total ? true : undefined), 30_000, 200);
    // Past the grace: the client's deadline (chain time + 240) is beyond revokedAt + 600.
    await rpc("evm_increaseTime", [601]);
    await rpc("evm_mine");
    await new Promise((r) => setTimeout(r, 5_500)); // the gateway's chain clock re-reads every 5 s
    const late = await direct(sessionKey, 240n);
    assert.equal(late.status, 401);
    assert.match(late.json.error!.message, new RegExp(`revoked at ${revokedAt}`));
    const viaClient = await chat();
    assert.notEqual(viaClient.status, 200);
  });
});
