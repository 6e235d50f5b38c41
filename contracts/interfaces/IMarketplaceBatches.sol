// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IModelMarketplace} from "./IModelMarketplace.sol";

/// @title PRSM marketplace: batched settlement
/// @notice One committee attestation settles the cumulative usage of many escrows. Served by the marketplace proxy
/// (its implementation forwards these functions to the batch module), in the marketplace's storage and token.
///
/// Entries (what members sign, `UsageBatch(marketplace, entriesHash, epoch)` in the committee's domain): two words
/// per entry, `escrowId (uint64) | sequence (uint64) | cumulativeUnits (uint128)` and the report's `resultDigest`;
/// `entriesHash = keccak256(abi.encodePacked(entries))`.
///
/// Each entry is applied like {IModelMarketplace-chargeWithAttestation} or skipped (never reverting the batch).
/// Applied amounts are held per (batch, listing) in a `BatchShare` until the batch's dispute window has passed; the
/// renter of an applied entry may dispute it before then, which turns it into an ordinary disputed `Charge`. A batch
/// answers with one word per applied entry, `escrowId (uint64) | cumulativeUnits (uint64) | amount (uint128)`,
/// published in `UsageBatchCharged` and committed to in the batch record; a dispute quotes those words.
interface IMarketplaceBatches {
    enum SkipReason {
        NotOpen,
        SettlementPeriodOver,
        NoNewUsage,
        SpendCapExceeded,
        UnitsOutOfRange
    }

    /// @param appliedHash The top 208 bits of keccak256 of the packed applied words.
    struct BatchRecord {
        uint48 disputableUntil;
        bytes26 appliedHash;
    }

    /// @notice What a batch charged on one listing's escrows, and the protocol fee in it (rounded up per entry at
    /// each escrow's terms), payable after the batch's dispute window.
    struct BatchShare {
        uint96 amount;
        uint96 fee;
    }

    /// @notice `disputableUntil` is 0 and `applied` empty when every entry was skipped (no record is kept then).
    event UsageBatchCharged(uint256 indexed batchId, uint256 disputableUntil, bytes32[] applied);
    event BatchEntrySkipped(uint256 indexed batchId, uint256 index, uint256 indexed escrowId, SkipReason reason);
    event BatchShareReleased(
        uint256 indexed batchId,
        uint256 indexed listingId,
        address indexed provider,
        uint256 providerAmount,
        uint256 fee,
        address royaltyRecipient,
        uint256 royalty
    );
    event BatchEntryDisputed(uint256 indexed batchId, uint256 index, uint256 indexed chargeId);

    /// @notice A batch must hold 1 to `MAX_BATCH_ENTRIES` entries of two words each.
    error InvalidBatch(uint256 words);
    error BatchNotFound(uint256 batchId);
    error AppliedMismatch(uint256 batchId);
    error BatchIndexOutOfRange(uint256 index, uint256 entries);
    error BatchEntryAlreadyDisputed(uint256 batchId, uint256 index);
    error BatchDisputeWindowOpen(uint256 batchId, uint256 until);
    error BatchDisputeWindowClosed(uint256 batchId, uint256 until);
    error BatchShareNotFound(uint256 batchId, uint256 listingId);

    /// @notice Settles the entries attested together by a committee quorum. Anyone may submit. Entries that cannot
    /// be charged (escrow not open, past its settlement period, no new units, over the spend cap, units beyond
    /// uint64) are skipped with `BatchEntrySkipped`; the rest are charged and held until `disputableUntil`: now plus
    /// the longest dispute window among the applied entries' terms.
    function chargeBatchWithAttestation(bytes32[] calldata entries, bytes calldata attestation)
        external
        returns (uint256 batchId);

    /// @notice Pays out the given listings' shares of a batch whose dispute window has passed, each split as a
    /// charge is: the fee to the treasury, `min(amount * royaltyBps / BPS, amount - fee)` to the royalty recipient,
    /// the rest to the provider. Anyone may call.
    function releaseBatchShares(uint256 batchId, uint256[] calldata listingIds) external;

    /// @notice The renter of entry `index` of `applied` (the batch's applied words, as in `UsageBatchCharged`)
    /// disputes it before the batch's window closes, bonding its escrow's `disputeBond` (pulled from the renter).
    /// The amount leaves the listing's share and becomes a disputed `Charge`, resolved by
    /// {IModelMarketplace-resolveDispute} or {IModelMarketplace-resolveExpiredDispute}.
    function disputeBatchEntry(uint256 batchId, bytes32[] calldata applied, uint256 index)
        external
        returns (uint256 chargeId);

    function MAX_BATCH_ENTRIES() external view returns (uint256);
    function batchCount() external view returns (uint256);
    function getBatch(uint256 batchId) external view returns (BatchRecord memory);
    function getBatchShare(uint256 batchId, uint256 listingId) external view returns (BatchShare memory);
    /// @notice The charge a disputed entry became (0 if not disputed).
    function batchEntryCharge(uint256 batchId, uint256 index) external view returns (uint256 chargeId);
    /// @notice Several escrows in one call (a node reads a batch's escrows before building it).
    function getEscrows(uint256[] calldata escrowIds) external view returns (IModelMarketplace.Escrow[] memory);
}
