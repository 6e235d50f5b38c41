/**
 * Many token events quickly, for the indexer's restart test and benchmark: accounts 1..10 (all delegating, so each
 * transfer also moves votes: Transfer + two DelegateVotesChanged) send each other small transfers, signed locally
 * with explicit nonces and mined `perBlock` at a time with automine off. About three events per transfer.
 */
import { encodeFunctionData, HttpRequestError, keccak256, type Address, type Hex } from "viem";
import { createPublicClient, createTestClient, http } from "viem";
import { hardhat } from "viem/chains";
import { account, deployment, send, walletFor, type Chain } from "./harness";

const SENDERS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

export async function mineTransfers(chain: Chain, count: number, opts: { perBlock?: number; amount?: bigint } = {}): Promise<void> {
  const perBlock = opts.perBlock ?? 200;
  const token = deployment("FTNSToken");
  const transport = http(chain.rpcUrl, { retryCount: 0 });
  const tester = createTestClient({ chain: hardhat, mode: "hardhat", transport });
  const rpc = createPublicClient({ chain: hardhat, transport });
  // Delegation makes every transfer write vote checkpoints too (the realistic, heavier case for the indexer).
  for (const i of SENDERS) {
    const current = (await chain.publicClient.readContract({ ...token, abi: token.abi as never, functionName: "delegates", args: [account(i).address] })) as Address;
    if (current.toLowerCase() !== account(i).address.toLowerCase()) {
      await send(chain, await walletFor(chain, i).writeContract({ ...token, abi: token.abi as never, functionName: "delegate", args: [account(i).address] }));
    }
  }
  /**
   * The Hardhat node now and then drops a connection mid-request ("other side closed"), and then whether it took the
   * transaction is unknown: ask for it by hash before sending it again.
   */
  const sendRaw = async (serializedTransaction: Hex) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await rpc.sendRawTransaction({ serializedTransaction });
      } catch (error) {
        if (!(error instanceof HttpRequestError) || attempt === 5) throw error;
        await new Promise((r) => setTimeout(r, 50 * attempt));
        const known = await rpc.getTransaction({ hash: keccak256(serializedTransaction) }).catch(() => undefined);
        if (known) return known.hash;
      }
    }
  };
  const nonces = new Map<number, number>();
  for (const i of SENDERS) nonces.set(i, await chain.publicClient.getTransactionCount({ address: account(i).address, blockTag: "pending" }));
  const fees = await chain.publicClient.estimateFeesPerGas();
  const gas = ((await chain.publicClient.estimateGas({
    account: account(1).address,
    to: token.address,
    data: encodeFunctionData({ abi: token.abi, functionName: "transfer", args: [account(2).address, 1_000n] } as never),
  })) * 13n) / 10n;
  await tester.setAutomine(false);
  try {
    for (let sent = 0; sent < count; ) {
      const batch = Math.min(perBlock, count - sent);
      const raw: Hex[] = [];
      for (let k = 0; k < batch; k++, sent++) {
        const from = SENDERS[sent % SENDERS.length];
        const to = SENDERS[(sent * 7 + 3) % SENDERS.length];
        const nonce = nonces.get(from)!;
        nonces.set(from, nonce + 1);
        raw.push(
          await account(from).signTransaction({
            chainId: hardhat.id,
            type: "eip1559",
            to: token.address,
            data: encodeFunctionData({ abi: token.abi, functionName: "transfer", args: [account(to === from ? 11 : to).address, opts.amount ?? 1_000n] } as never),
            gas,
            nonce,
            maxFeePerGas: fees.maxFeePerGas * 2n,
            maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
          }),
        );
      }
      // A few at a time: hundreds of concurrent requests make the Hardhat node drop connections.
      for (let k = 0; k < raw.length; k += 4) await Promise.all(raw.slice(k, k + 4).map(sendRaw));
      await tester.mine({ blocks: 1 });
    }
    // A block holds what its gas limit allows: mine until every sender's last transfer is in.
    for (let round = 0; round < 100; round++) {
      const behind = await Promise.all(
        SENDERS.map(async (i) => (await chain.publicClient.getTransactionCount({ address: account(i).address })) < nonces.get(i)!),
      );
      if (!behind.includes(true)) return;
      await tester.mine({ blocks: 1 });
    }
    throw new Error("transfers still pending after 100 extra blocks");
  } finally {
    await tester.setAutomine(true);
  }
}
