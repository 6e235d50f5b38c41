/**
 * The chain's clock as seen from this machine: a local chain's block time may run ahead of the wall clock (tests
 * move it forward), and escrow expiry is judged by block time. The offset is re-read every `refreshMs` at most.
 */
import { latestTimestamp, type ChainReader } from "./chain";

export class ChainClock {
  private offset = 0n;
  private readAt = 0;

  constructor(
    private readonly ctx: ChainReader,
    private readonly refreshMs = 5_000,
  ) {}

  async now(): Promise<bigint> {
    if (Date.now() - this.readAt > this.refreshMs) {
      const chainNow = await latestTimestamp(this.ctx);
      this.offset = chainNow - BigInt(Math.floor(Date.now() / 1000));
      this.readAt = Date.now();
    }
    return BigInt(Math.floor(Date.now() / 1000)) + this.offset;
  }
}
