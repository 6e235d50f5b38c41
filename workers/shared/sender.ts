/**
 * Sends a worker's contract transactions from one key, several at a time, and sees each one mined.
 *
 * - Overlap: the gas estimates (which are also the revert check) and the waits for receipts run concurrently, up to
 *   `maxInFlight` transactions. Only signing and the `eth_sendRawTransaction` call are serialized, in nonce order:
 *   each is one short round trip, and a transaction that fails to go out then never has a later nonce already in
 *   the pool behind it (no gap for a node to hold the later ones on).
 * - Nonces are tracked here rather than by viem's nonceManager: a nonce is taken only once the estimate passed (a
 *   reverting call consumes none), and after any failure the next send re-reads the pending nonce from the chain,
 *   skipping the nonces of this sender's transactions still being watched; viem's manager only counts up and
 *   cannot be told a nonce was not used, nor hand one back.
 * - Stuck transactions: one not mined within `replaceAfterMs` is sent again at the same nonce with fees raised by at
 *   least 12.5% (and to the current estimate if that is higher), at most `maxReplacements` times and never above
 *   `maxFeePerGasCap`; the caller gets the receipt of whichever version was mined. One still unmined a further
 *   `replaceAfterMs` after its last version is given up (the send rejects) and its nonce is the next send's, with
 *   higher fees, so an unminable transaction cannot hold up every later one. Should the given-up version be mined
 *   after all, that next send fails ("nonce too low") and its caller retries as after any failure.
 * - Counters for metrics: `stats`.
 */
import { encodeFunctionData, type Abi, type AccessList, type Address, type Hex, type TransactionReceipt } from "viem";
import type { ChainContext } from "./chain";

export interface ContractCall {
  address: Address;
  abi: Abi;
  functionName: string;
  args: readonly unknown[];
  /** EIP-2930 storage slots the call will touch (each saves the cold-access surcharge; batch settlement uses it). */
  accessList?: AccessList;
}

export interface SenderOptions {
  /** How long fee estimates are reused. Default 2,000 ms. */
  feeTtlMs?: number;
  /** How long a version may stay unmined before it is replaced (about 3 block times). Default 30,000 ms. */
  replaceAfterMs?: number;
  /** Replacements of one transaction before it is given up. Default 4. */
  maxReplacements?: number;
  /** Ceiling for maxFeePerGas of any version. Default 3x the first version's maxFeePerGas. */
  maxFeePerGasCap?: bigint;
  /** How often mined nonces are polled while transactions are pending. Default 500 ms. */
  pollMs?: number;
  /** Transactions estimated or pending at once; more sends wait their turn. Default 16. */
  maxInFlight?: number;
}

export interface SenderStats {
  /** Transactions sent (first versions). */
  sent: number;
  /** Replacement versions the node accepted. */
  replaced: number;
  /** Sends that failed after their estimate passed: RPC errors, given up as unminable, nonce taken elsewhere. */
  failed: number;
  /** Calls refused by their estimate (would revert): never sent, no nonce used. */
  rejected: number;
  /** Transactions mined (whatever their status). */
  mined: number;
  /** Gas used by mined transactions, in total. */
  gasUsed: bigint;
  /** Transactions currently between estimate and receipt. */
  inFlight: number;
}

interface Fees {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

interface Pending {
  nonce: number;
  data: Hex;
  to: Address;
  gas: bigint;
  accessList?: AccessList;
  fees: Fees;
  cap: bigint;
  hashes: Hex[];
  lastSentAt: number;
  replacements: number;
}

const BUMP_NUM = 1125n; // +12.5%, rounded up
const BUMP_DEN = 1000n;
const bump = (x: bigint) => (x * BUMP_NUM + BUMP_DEN - 1n) / BUMP_DEN;
const max = (a: bigint, b: bigint) => (a > b ? a : b);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class TransactionSender {
  private readonly options: Required<Omit<SenderOptions, "maxFeePerGasCap">> & { maxFeePerGasCap?: bigint };
  private readonly counters: SenderStats = { sent: 0, replaced: 0, failed: 0, rejected: 0, mined: 0, gasUsed: 0n, inFlight: 0 };
  /** Serializes nonce choice, signing and submission. */
  private submitting: Promise<unknown> = Promise.resolve();
  /** The next nonce to use; undefined = ask the chain (at start and after any failure). */
  private nextNonce?: number;
  /** Nonces of transactions sent and still watched. */
  private readonly watched = new Set<number>();
  /** Nonces whose transactions were given up, with their last fees: the next sends take them over. */
  private readonly abandoned = new Map<number, Fees>();
  private fees?: Fees & { at: number };
  private minedCount?: { at: number; value: Promise<number> };
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly ctx: ChainContext,
    options: SenderOptions = {},
  ) {
    this.options = {
      feeTtlMs: options.feeTtlMs ?? 2_000,
      replaceAfterMs: options.replaceAfterMs ?? 30_000,
      maxReplacements: options.maxReplacements ?? 4,
      maxFeePerGasCap: options.maxFeePerGasCap,
      pollMs: options.pollMs ?? 500,
      maxInFlight: options.maxInFlight ?? 16,
    };
  }

  /** A snapshot of the counters (for metrics). */
  get stats(): Readonly<SenderStats> {
    return { ...this.counters };
  }

  /**
   * Sends `call` once `beforeSend` (if given) still wants it, right before the estimate; resolves undefined when it
   * does not. Rejects without sending when the estimate fails (the call would revert); rejects after sending when
   * the transaction could not be submitted or was not mined in time. Otherwise resolves with the mined version's
   * hash and receipt, which may say `reverted` (state changed between estimate and inclusion).
   */
  async send(call: ContractCall, beforeSend?: () => Promise<boolean>): Promise<{ hash: Hex; receipt: TransactionReceipt } | undefined> {
    await this.acquire();
    try {
      if (beforeSend && !(await beforeSend())) return undefined;
      const data = encodeFunctionData({ abi: call.abi, functionName: call.functionName, args: call.args });
      let gas: bigint;
      try {
        gas = await this.ctx.publicClient.estimateGas({ account: this.ctx.account, to: call.address, data, accessList: call.accessList });
      } catch (error) {
        this.counters.rejected++;
        throw error;
      }
      const pending = await this.submitFirst(call.address, data, (gas * 12n) / 10n, call.accessList); // headroom: state may change before inclusion
      return await this.watch(pending);
    } finally {
      this.release();
    }
  }

  private async acquire(): Promise<void> {
    if (this.counters.inFlight >= this.options.maxInFlight) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.counters.inFlight++;
  }

  private release(): void {
    this.counters.inFlight--;
    this.waiting.shift()?.();
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const result = this.submitting.then(work, work);
    this.submitting = result.catch(() => undefined);
    return result;
  }

  /** Chooses the nonce, signs and submits the first version; one retry at a re-read nonce when the nonce was stale. */
  private submitFirst(to: Address, data: Hex, gas: bigint, accessList?: AccessList): Promise<Pending> {
    return this.serialized(async () => {
      const estimate = await this.currentFees();
      for (let attempt = 0; ; attempt++) {
        const { nonce, takeOver } = await this.chooseNonce();
        // Taking over a given-up nonce means replacing its transaction: the fees must beat its last ones.
        const fees = takeOver
          ? { maxFeePerGas: max(estimate.maxFeePerGas, bump(takeOver.maxFeePerGas)), maxPriorityFeePerGas: max(estimate.maxPriorityFeePerGas, bump(takeOver.maxPriorityFeePerGas)) }
          : { maxFeePerGas: estimate.maxFeePerGas, maxPriorityFeePerGas: estimate.maxPriorityFeePerGas };
        if (fees.maxPriorityFeePerGas > fees.maxFeePerGas) fees.maxFeePerGas = fees.maxPriorityFeePerGas;
        const pending: Pending = {
          nonce,
          data,
          to,
          gas,
          accessList,
          fees,
          cap: this.options.maxFeePerGasCap ?? fees.maxFeePerGas * 3n,
          hashes: [],
          lastSentAt: 0,
          replacements: 0,
        };
        try {
          pending.hashes.push(await this.submit(pending, fees));
        } catch (error) {
          this.nextNonce = undefined; // unknown whether it went out: ask the chain next time
          // Still the given-up version's as far as we know; the next try outbids this one (the node may want more).
          if (takeOver) this.abandoned.set(nonce, fees);
          if (attempt === 0 && isNonceError(error)) continue; // someone else used the key: once more, re-read
          this.counters.failed++;
          throw error;
        }
        pending.lastSentAt = Date.now();
        this.nextNonce = Math.max(this.nextNonce ?? 0, nonce + 1);
        this.watched.add(nonce);
        this.counters.sent++;
        return pending;
      }
    });
  }

  private async chooseNonce(): Promise<{ nonce: number; takeOver?: Fees }> {
    const { publicClient, account } = this.ctx;
    if (this.abandoned.size > 0) {
      const mined = await publicClient.getTransactionCount({ address: account.address, blockTag: "latest" });
      for (const nonce of [...this.abandoned.keys()].sort((a, b) => a - b)) {
        const fees = this.abandoned.get(nonce)!;
        this.abandoned.delete(nonce);
        if (nonce >= mined) return { nonce, takeOver: fees };
      }
    }
    let nonce = this.nextNonce ?? (await publicClient.getTransactionCount({ address: account.address, blockTag: "pending" }));
    while (this.watched.has(nonce)) nonce++;
    return { nonce };
  }

  private async submit(p: Pending, fees: Fees): Promise<Hex> {
    const serializedTransaction = await this.ctx.account.signTransaction!({
      chainId: this.ctx.chain.id,
      type: "eip1559",
      to: p.to,
      data: p.data,
      gas: p.gas,
      accessList: p.accessList,
      nonce: p.nonce,
      maxFeePerGas: fees.maxFeePerGas,
      maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
    });
    return this.ctx.publicClient.sendRawTransaction({ serializedTransaction });
  }

  /** Waits for one version of `p` to be mined, replacing it when it lingers. */
  private async watch(p: Pending): Promise<{ hash: Hex; receipt: TransactionReceipt }> {
    let unexplained = 0;
    try {
      // On an automining chain (local, tests) the receipt is there at once: no polling interval per settlement.
      const first = await this.receiptOf(p.hashes[0]!);
      if (first) return this.mined(first);
      for (;;) {
        await sleep(this.options.pollMs);
        if ((await this.minedNonces()) > p.nonce) {
          for (const hash of [...p.hashes].reverse()) {
            const receipt = await this.receiptOf(hash);
            if (receipt) return this.mined(receipt);
          }
          // The nonce is used but by none of our versions (as far as this RPC says yet): give it a few polls.
          if (++unexplained >= 3) throw new Error(`nonce ${p.nonce} was used by another transaction from ${this.ctx.account.address}`);
          continue;
        }
        if (Date.now() - p.lastSentAt < this.options.replaceAfterMs) continue;
        if (p.replacements >= this.options.maxReplacements) {
          this.abandoned.set(p.nonce, p.fees);
          throw new Error(
            `transaction at nonce ${p.nonce} not mined after ${p.replacements} replacements (maxFeePerGas ${p.fees.maxFeePerGas}); given up, its nonce goes to the next send`,
          );
        }
        await this.replace(p);
      }
    } catch (error) {
      this.counters.failed++;
      this.nextNonce = undefined;
      throw error;
    } finally {
      this.watched.delete(p.nonce);
    }
  }

  private async replace(p: Pending): Promise<void> {
    p.replacements++;
    p.lastSentAt = Date.now(); // also when nothing goes out: the attempt counts, the wait restarts
    const estimate = await this.currentFees(true).catch(() => p.fees); // fresh: fees are what moved
    const want: Fees = {
      maxFeePerGas: max(bump(p.fees.maxFeePerGas), estimate.maxFeePerGas),
      maxPriorityFeePerGas: max(bump(p.fees.maxPriorityFeePerGas), estimate.maxPriorityFeePerGas),
    };
    if (want.maxFeePerGas > p.cap) want.maxFeePerGas = p.cap;
    if (want.maxPriorityFeePerGas > want.maxFeePerGas) want.maxPriorityFeePerGas = want.maxFeePerGas;
    // Nodes refuse a replacement that does not raise both fees enough: at the cap, waiting is all that is left.
    if (want.maxFeePerGas < bump(p.fees.maxFeePerGas) || want.maxPriorityFeePerGas < bump(p.fees.maxPriorityFeePerGas)) return;
    try {
      const hash = await this.serialized(() => this.submit(p, want));
      p.hashes.push(hash);
      p.fees = want;
      this.counters.replaced++;
    } catch {
      // Most often the previous version was mined meanwhile ("nonce too low"); the next poll finds its receipt.
    }
  }

  private mined(receipt: TransactionReceipt): { hash: Hex; receipt: TransactionReceipt } {
    this.counters.mined++;
    this.counters.gasUsed += receipt.gasUsed;
    return { hash: receipt.transactionHash, receipt };
  }

  private async receiptOf(hash: Hex): Promise<TransactionReceipt | undefined> {
    try {
      return await this.ctx.publicClient.getTransactionReceipt({ hash });
    } catch {
      return undefined; // not mined (or the RPC hiccuped): the next poll asks again
    }
  }

  /** The account's mined transaction count, read at most once per half poll interval for all watchers. */
  private minedNonces(): Promise<number> {
    const now = Date.now();
    if (!this.minedCount || now - this.minedCount.at >= this.options.pollMs / 2) {
      const value = this.ctx.publicClient.getTransactionCount({ address: this.ctx.account.address, blockTag: "latest" });
      this.minedCount = { at: now, value };
      value.catch(() => (this.minedCount = undefined));
    }
    return this.minedCount.value.catch(() => -1); // unreachable RPC: nothing known mined, keep waiting
  }

  private async currentFees(fresh = false): Promise<Fees> {
    if (fresh || !this.fees || Date.now() - this.fees.at > this.options.feeTtlMs) {
      const { maxFeePerGas, maxPriorityFeePerGas } = await this.ctx.publicClient.estimateFeesPerGas();
      this.fees = { maxFeePerGas, maxPriorityFeePerGas, at: Date.now() };
    }
    return { maxFeePerGas: this.fees.maxFeePerGas, maxPriorityFeePerGas: this.fees.maxPriorityFeePerGas };
  }
}

function isNonceError(error: unknown): boolean {
  const text = `${(error as Error)?.message ?? ""} ${(error as { details?: string })?.details ?? ""}`.toLowerCase();
  return text.includes("nonce too low") || text.includes("nonce has already been used") || text.includes("nonce too high");
}
