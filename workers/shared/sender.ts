/**
 * Sends a worker's contract transactions one at a time with the fewest RPC round trips: the nonce is tracked
 * locally (read once, re-read after any failure), fees are cached for a short while, and only the gas estimate
 * (which is also the revert check) and the send itself go to the node for each transaction. Serial sending means a
 * transaction that fails never leaves a nonce gap behind it.
 */
import { encodeFunctionData, type Abi, type Address, type Hex, type TransactionReceipt } from "viem";
import { receiptOf, type ChainContext } from "./chain";

export interface ContractCall {
  address: Address;
  abi: Abi;
  functionName: string;
  args: readonly unknown[];
}

export class TransactionSender {
  private queue: Promise<unknown> = Promise.resolve();
  private nonce?: number;
  private fees?: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint; at: number };

  constructor(
    private readonly ctx: ChainContext,
    private readonly feeTtlMs = 2_000,
  ) {}

  /** Queues `call`; resolves with its mined receipt, or rejects (estimate revert, RPC error) without sending. */
  send(call: ContractCall, beforeSend?: () => Promise<boolean>): Promise<{ hash: Hex; receipt: TransactionReceipt } | undefined> {
    const run = async () => {
      // A last check in turn: whatever was queued ahead may have made this call pointless (another node settled).
      if (beforeSend && !(await beforeSend())) return undefined;
      return this.sendNow(call);
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async sendNow(call: ContractCall): Promise<{ hash: Hex; receipt: TransactionReceipt }> {
    const { publicClient, account, chain } = this.ctx;
    const data = encodeFunctionData({ abi: call.abi, functionName: call.functionName, args: call.args });
    const [gas, nonce, fees] = await Promise.all([
      publicClient.estimateGas({ account, to: call.address, data }),
      this.nextNonce(),
      this.currentFees(),
    ]);
    try {
      const serializedTransaction = await account.signTransaction!({
        chainId: chain.id,
        type: "eip1559",
        to: call.address,
        data,
        gas: (gas * 12n) / 10n, // headroom: state may change between estimate and inclusion
        nonce,
        maxFeePerGas: fees.maxFeePerGas,
        maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
      });
      const hash = await publicClient.sendRawTransaction({ serializedTransaction });
      this.nonce = nonce + 1;
      return { hash, receipt: await receiptOf(this.ctx, hash) };
    } catch (error) {
      this.nonce = undefined; // unknown whether it went out: ask the chain next time
      throw error;
    }
  }

  private async nextNonce(): Promise<number> {
    this.nonce ??= await this.ctx.publicClient.getTransactionCount({ address: this.ctx.account.address, blockTag: "pending" });
    return this.nonce;
  }

  private async currentFees() {
    if (!this.fees || Date.now() - this.fees.at > this.feeTtlMs) {
      const { maxFeePerGas, maxPriorityFeePerGas } = await this.ctx.publicClient.estimateFeesPerGas();
      this.fees = { maxFeePerGas, maxPriorityFeePerGas, at: Date.now() };
    }
    return this.fees;
  }
}
