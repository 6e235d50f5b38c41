// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IMarketplaceBatches} from "../interfaces/IMarketplaceBatches.sol";
import {IModelMarketplace} from "../interfaces/IModelMarketplace.sol";
import {IUsageAttestationVerifier} from "../interfaces/IUsageAttestationVerifier.sol";
import {MarketplaceState} from "./MarketplaceStorage.sol";

/// @title MarketplaceBatchModule
/// @notice Batched settlement, see {IMarketplaceBatches}. Runs only as the marketplace implementation's delegate, in
/// the marketplace proxy's storage (called directly it sees its own empty storage and no verifier, so it settles
/// nothing). Holds no state, no role and no token address: the dispute bond is pulled in the marketplace's token.
/// @dev Shares the marketplace's transient reentrancy slot (OpenZeppelin's guards use the same one), so a dispute
/// here and any guarded marketplace function exclude each other.
/// @custom:security-contact security@prsm.example
contract MarketplaceBatchModule is IMarketplaceBatches, MarketplaceState, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @inheritdoc IMarketplaceBatches
    uint256 public constant MAX_BATCH_ENTRIES = 256;

    uint256 private constant BPS = 10_000;
    uint256 private constant UINT48 = 0xffffffffffff;
    uint256 private constant UINT96 = 0xffffffffffffffffffffffff;

    // Bit offsets of the fields the batch reads, in their structs' declared (storage) order.
    // IModelMarketplace.Escrow: slot 0 renter | listingId | expiresAt | status | rated; slot 1 deposit | charged |
    // units; slot 2 pricePerUnit | spendCap | termsId. Terms (one slot): protocolFeeBps | settlementGrace |
    // disputeWindow | ...
    uint256 private constant LISTING_SHIFT = 160;
    uint256 private constant EXPIRES_SHIFT = 192;
    uint256 private constant STATUS_BYTE = 1; // bits 240-247, the second byte from the top
    uint256 private constant CHARGED_SHIFT = 96;
    uint256 private constant UNITS_SHIFT = 192;
    uint256 private constant CAP_SHIFT = 96;
    uint256 private constant TERMS_SHIFT = 192;
    uint256 private constant GRACE_SHIFT = 16;
    uint256 private constant WINDOW_SHIFT = 64;
    uint256 private constant OPEN = 1; // EscrowStatus.Open
    uint256 private constant UINT32 = 0xffffffff;
    uint256 private constant UINT64 = 0xffffffffffffffff;
    uint256 private constant UINT128 = 0xffffffffffffffffffffffffffffffff;

    // SkipReason values (Yul takes only literals, so the enum's values are spelled out; the tests check them
    // against the events).
    uint256 private constant SKIP_NOT_OPEN = 0;
    uint256 private constant SKIP_SETTLEMENT_OVER = 1;
    uint256 private constant SKIP_NO_NEW_USAGE = 2;
    uint256 private constant SKIP_OVER_CAP = 3;
    uint256 private constant SKIP_UNITS_OUT_OF_RANGE = 4;
    uint256 private constant BPS_MINUS_ONE = 9_999;

    // The entry loop's memory frame (byte offsets): where the loop starts and ends, the mapping slots, what a skip
    // logs, and what changes rarely per entry (the terms version last read and what the loop uses of it, the longest
    // window counted so far and the one still to count, both plus one so that a window of 0 counts).
    uint256 private constant F_ESCROWS = 0x00;
    uint256 private constant F_TERMS = 0x20;
    uint256 private constant F_BATCH = 0x40;
    uint256 private constant F_SKIP_TOPIC = 0x60;
    uint256 private constant F_ENTRIES = 0x80;
    uint256 private constant F_ENTRIES_END = 0xa0;
    uint256 private constant F_TERMS_ID = 0xc0;
    uint256 private constant F_GRACE = 0xe0;
    uint256 private constant F_MAX_WINDOW = 0x100;
    uint256 private constant F_WINDOW_PENDING = 0x120;
    uint256 private constant F_FEE_BPS = 0x140;
    uint256 private constant F_APPLIED = 0x160;
    uint256 private constant F_RUNS = 0x180;
    uint256 private constant FRAME_SIZE = 0x1a0;
    uint256 private constant LOW_192 = 0xffffffffffffffffffffffffffffffffffffffffffffffff;
    uint256 private constant ESCROW_ID_MASK = 0xffffffffffffffff000000000000000000000000000000000000000000000000;

    // ================================================================ settlement

    /// @inheritdoc IMarketplaceBatches
    function chargeBatchWithAttestation(bytes32[] calldata entries, bytes calldata attestation)
        external
        returns (uint256 batchId)
    {
        uint256 words = entries.length;
        if (words == 0 || words % 2 != 0 || words > 2 * MAX_BATCH_ENTRIES) revert InvalidBatch(words);
        MarketplaceStorage storage $ = _getStorage();
        IUsageAttestationVerifier verifier = $.verifier;
        if (address(verifier) == address(0)) revert IModelMarketplace.AttestationVerifierNotSet();
        verifier.verifyBatchAttestation(_hashWords(entries), attestation);

        batchId = ++$.batchCount;
        (uint256 applied, uint256[] memory runs, uint256 maxWindow) = _applyEntries($, batchId, entries);
        for (uint256 r = 0; r < runs.length; r += 3) {
            _flush($, batchId, runs[r], runs[r + 1], runs[r + 2]);
        }
        uint256 disputableUntil;
        uint256 appliedCount;
        bytes32 appliedHash;
        assembly ("memory-safe") {
            appliedCount := mload(applied)
            appliedHash := keccak256(add(applied, 0x20), shl(5, appliedCount))
        }
        if (appliedCount != 0) {
            // Cannot overflow uint48 in practice: windows are bounded by the setters (<= 365 days).
            disputableUntil = block.timestamp + maxWindow;
            $.batches[batchId] =
                BatchRecord({disputableUntil: uint48(disputableUntil), appliedHash: bytes26(appliedHash)});
        }
        _emitCharged(batchId, disputableUntil, applied);
    }

    /// @dev `UsageBatchCharged(batchId, disputableUntil, applied)` logged straight from the applied array's memory,
    /// whose two words in front hold the rest of the event's data: no copy of the words for the ABI encoder.
    function _emitCharged(uint256 batchId, uint256 disputableUntil, uint256 applied) private {
        bytes32 topic = UsageBatchCharged.selector;
        assembly ("memory-safe") {
            let data := sub(applied, 0x40)
            mstore(data, disputableUntil)
            mstore(add(data, 0x20), 0x40)
            log2(data, add(0x60, shl(5, mload(applied))), topic, batchId)
        }
    }

    /// @dev Charges each entry that `chargeWithAttestation` would charge, in its order of checks (open, within the
    /// settlement period, new units, within the cap, units fit uint64), and skips the others (logging
    /// `BatchEntrySkipped`). Returns a pointer to the applied words (a length-prefixed array with two free words in
    /// front for the event), the runs of consecutive entries on one listing as (listingId, amount, fee) triples,
    /// and the longest dispute window among the applied entries' terms.
    function _applyEntries(MarketplaceStorage storage $, uint256 batchId, bytes32[] calldata entries)
        private
        returns (uint256 applied, uint256[] memory runs, uint256 maxWindow)
    {
        uint256 count = entries.length / 2;
        mapping(uint256 => IModelMarketplace.Escrow) storage escrows = $.escrows;
        mapping(uint16 => IModelMarketplace.Terms) storage terms = $.terms;
        bytes32 skipTopic = BatchEntrySkipped.selector;
        uint256 frame;
        assembly ("memory-safe") {
            frame := mload(0x40)
            // Memory past the free pointer may hold anything (the entries were hashed there): clear the frame.
            calldatacopy(frame, calldatasize(), FRAME_SIZE)
            mstore(add(frame, F_ESCROWS), escrows.slot)
            mstore(add(frame, F_TERMS), terms.slot)
            mstore(add(frame, F_BATCH), batchId)
            mstore(add(frame, F_SKIP_TOPIC), skipTopic)
            mstore(add(frame, F_ENTRIES), entries.offset)
            mstore(add(frame, F_ENTRIES_END), add(entries.offset, shl(6, count)))
            // The applied array: two words for the event's head, the length, one word per entry at most.
            applied := add(frame, add(FRAME_SIZE, 0x40))
            mstore(applied, 0)
            mstore(add(frame, F_APPLIED), applied)
            // The runs array comes last: the loop appends to it and then moves the free pointer past its end.
            runs := add(add(applied, 0x20), shl(5, count))
            mstore(runs, 0)
            mstore(add(frame, F_RUNS), runs)
            mstore(0x40, add(runs, 0x20))
        }
        _entryLoop(frame);
        assembly ("memory-safe") {
            // Stored plus one, so that a window of 0 still counts as seen.
            let window := mload(add(frame, F_MAX_WINDOW))
            if window { maxWindow := sub(window, 1) }
        }
    }

    /// @dev The entry loop, in Yul because it is nearly all of a batch's cost beyond the storage it must touch: in
    /// Solidity (either pipeline) the compiler spills the loop's state to memory and spends 1,100 to 1,400 gas per
    /// entry beyond storage, calldata and the log, against ~700 here, where the budget leaves ~550. Each escrow is
    /// read as whole slots and written once (its charged amount and units share slot 1). The current run of
    /// consecutive entries on one listing stays on the stack; what changes rarely (the last terms version seen, the
    /// windows) and what the loop only needs to start or to skip sits in the memory frame, so that the legacy
    /// pipeline fits the loop on the stack: the only parameter is the frame. Field offsets are
    /// IModelMarketplace.Escrow's and Terms' declared (storage) order, as spelled out in the constants above.
    function _entryLoop(uint256 frame) private {
        assembly ("memory-safe") {
            function appendRun(f, listing, amount, fee) {
                let list := mload(add(f, F_RUNS))
                let length := mload(list)
                let at := add(add(list, 0x20), shl(5, length))
                mstore(at, listing)
                mstore(add(at, 0x20), amount)
                mstore(add(at, 0x40), fee)
                mstore(list, add(length, 3))
            }

            // Checks and charges one entry. Applied: the amount (at least 1: units > 0 and the price > 0) and the
            // escrow's listing (its terms are then the frame's). Skipped: amount 0 and the SkipReason.
            function entry(f, word) -> amount, listingOrReason {
                // Scratch word 0x20 holds the escrows mapping's slot throughout the loop (see below).
                mstore(0, shr(192, word))
                let slot := keccak256(0, 0x40)
                let head := sload(slot)
                if iszero(eq(byte(STATUS_BYTE, head), OPEN)) {
                    listingOrReason := SKIP_NOT_OPEN
                    leave
                }
                let limits := sload(add(slot, 2))
                // termsId is the top field of slot 2: nothing above it to mask.
                if iszero(eq(shr(TERMS_SHIFT, limits), mload(add(f, F_TERMS_ID)))) {
                    let termsId := shr(TERMS_SHIFT, limits)
                    mstore(add(f, F_TERMS_ID), termsId)
                    mstore(0, termsId)
                    mstore(0x20, mload(add(f, F_TERMS)))
                    let packed := sload(keccak256(0, 0x40))
                    mstore(0x20, mload(add(f, F_ESCROWS)))
                    mstore(add(f, F_GRACE), and(shr(GRACE_SHIFT, packed), UINT48))
                    mstore(add(f, F_FEE_BPS), and(packed, 0xffff))
                    // Counted into the batch's window by the first entry of these terms that applies.
                    mstore(add(f, F_WINDOW_PENDING), add(and(shr(WINDOW_SHIFT, packed), UINT48), 1))
                }
                if gt(timestamp(), add(and(shr(EXPIRES_SHIFT, head), UINT48), mload(add(f, F_GRACE)))) {
                    listingOrReason := SKIP_SETTLEMENT_OVER
                    leave
                }
                let usage := sload(add(slot, 1))
                let cumulative := and(word, UINT128)
                if iszero(gt(cumulative, shr(UNITS_SHIFT, usage))) {
                    listingOrReason := SKIP_NO_NEW_USAGE
                    leave
                }
                // No overflow: units < 2^128 and the price < 2^96. The price is at least 1, so amount >= units and
                // this one comparison also refuses more units than the cap has room for. charged <= spendCap
                // always, so the room does not underflow.
                amount := mul(sub(cumulative, shr(UNITS_SHIFT, usage)), and(limits, UINT96))
                if gt(amount, sub(and(shr(CAP_SHIFT, limits), UINT96), and(shr(CHARGED_SHIFT, usage), UINT96))) {
                    amount := 0
                    listingOrReason := SKIP_OVER_CAP
                    leave
                }
                if gt(cumulative, UINT64) {
                    amount := 0
                    listingOrReason := SKIP_UNITS_OUT_OF_RANGE
                    leave
                }
                // charged + amount <= spendCap < 2^96, so adding at the charged field's offset cannot carry into the
                // units above it; the deposit below is kept, the units replaced (cumulative < 2^64).
                sstore(
                    add(slot, 1),
                    or(and(add(usage, shl(CHARGED_SHIFT, amount)), LOW_192), shl(UNITS_SHIFT, cumulative))
                )
                {
                    let pending := mload(add(f, F_WINDOW_PENDING))
                    if pending {
                        if gt(pending, mload(add(f, F_MAX_WINDOW))) { mstore(add(f, F_MAX_WINDOW), pending) }
                        mstore(add(f, F_WINDOW_PENDING), 0)
                    }
                }
                listingOrReason := and(shr(LISTING_SHIFT, head), UINT32)
            }

            // The escrows mapping's slot stays in scratch word 0x20, the second half of every escrow's key: each
            // path that uses the scratch space for something else puts it back.
            mstore(0x20, mload(add(frame, F_ESCROWS)))
            let written := mload(add(frame, F_APPLIED))
            let listing := 0
            let runAmount := 0
            let runFee := 0
            let end := mload(add(frame, F_ENTRIES_END))
            for { let at := mload(add(frame, F_ENTRIES)) } lt(at, end) { at := add(at, 0x40) } {
                let word := calldataload(at)
                let amount, entryListing := entry(frame, word)
                switch amount
                case 0 {
                    mstore(0, shr(6, sub(at, mload(add(frame, F_ENTRIES)))))
                    mstore(0x20, entryListing)
                    log3(0, 0x40, mload(add(frame, F_SKIP_TOPIC)), mload(add(frame, F_BATCH)), shr(192, word))
                    mstore(0x20, mload(add(frame, F_ESCROWS)))
                }
                default {
                    if iszero(eq(entryListing, listing)) {
                        if runAmount { appendRun(frame, listing, runAmount, runFee) }
                        listing := entryListing
                        runAmount := 0
                        runFee := 0
                    }
                    // A run adds at most 256 amounts below 2^96: no overflow. The fee is rounded up per entry.
                    runAmount := add(runAmount, amount)
                    runFee := add(runFee, div(add(mul(amount, mload(add(frame, F_FEE_BPS))), BPS_MINUS_ONE), BPS))
                    written := add(written, 0x20)
                    // escrowId << 192 | cumulativeUnits << 128 | amount, from the entry word (units < 2^64 here)
                    mstore(written, or(or(and(word, ESCROW_ID_MASK), shl(128, and(word, UINT128))), amount))
                }
            }
            if runAmount { appendRun(frame, listing, runAmount, runFee) }
            let applied := mload(add(frame, F_APPLIED))
            mstore(applied, shr(5, sub(written, applied)))
            let runs := mload(add(frame, F_RUNS))
            mstore(0x40, add(add(runs, 0x20), shl(5, mload(runs))))
        }
    }

    /// @dev Adds a run of entries to its listing's share. A share's first write counts once among the listing's
    /// unresolved charges, so the bond stays while the share could still be disputed.
    function _flush(MarketplaceStorage storage $, uint256 batchId, uint256 listingId, uint256 amount, uint256 fee)
        private
    {
        BatchShare memory before = $.batchShares[batchId][listingId];
        if (before.amount == 0) {
            // Cannot overflow in practice: one per pending charge or share, far below 2^32.
            unchecked {
                ++$.listings[listingId].unresolvedCharges;
            }
        }
        // Checked: what one batch charges a listing is bounded by the FTNS supply (< 2^90), so this never reverts.
        $.batchShares[batchId][listingId] =
            BatchShare({amount: (before.amount + amount).toUint96(), fee: (before.fee + fee).toUint96()});
    }

    // ================================================================ release and disputes

    /// @inheritdoc IMarketplaceBatches
    function releaseBatchShares(uint256 batchId, uint256[] calldata listingIds) external {
        MarketplaceStorage storage $ = _getStorage();
        uint256 until = $.batches[batchId].disputableUntil;
        if (until == 0) revert BatchNotFound(batchId);
        if (block.timestamp <= until) revert BatchDisputeWindowOpen(batchId, until);

        uint256 fees;
        for (uint256 i = 0; i < listingIds.length; ++i) {
            fees += _releaseShare($, batchId, listingIds[i]);
        }
        if (fees != 0) $.payouts[$.treasury] += fees;
    }

    /// @dev Credits one share's provider and royalty recipient and returns its fee (the caller credits the treasury
    /// once for all of them).
    function _releaseShare(MarketplaceStorage storage $, uint256 batchId, uint256 listingId)
        private
        returns (uint256 fee)
    {
        BatchShare memory share = $.batchShares[batchId][listingId];
        if (share.amount == 0) revert BatchShareNotFound(batchId, listingId);
        delete $.batchShares[batchId][listingId];
        IModelMarketplace.Listing storage listing = $.listings[listingId];
        // Cannot underflow: incremented when the share was first written.
        unchecked {
            --listing.unresolvedCharges;
        }
        uint256 amount = share.amount;
        fee = share.fee; // <= amount: each entry's fee is at most its amount (fee <= 1,000 bps)
        uint256 royalty = amount * listing.royaltyBps / BPS;
        // Fees rounded up per entry can leave less than the royalty for many tiny entries: the royalty yields.
        if (royalty > amount - fee) royalty = amount - fee;
        address royaltyRecipient = royalty != 0 ? listing.royaltyRecipient : address(0);
        address provider = listing.provider;
        uint256 providerAmount = amount - fee - royalty;
        $.payouts[provider] += providerAmount;
        if (royalty != 0) $.payouts[royaltyRecipient] += royalty;
        emit BatchShareReleased(batchId, listingId, provider, providerAmount, fee, royaltyRecipient, royalty);
    }

    /// @inheritdoc IMarketplaceBatches
    /// @dev The bond comes in with the only external calls, after the state change; FTNS has no transfer hooks.
    function disputeBatchEntry(uint256 batchId, bytes32[] calldata applied, uint256 index)
        external
        nonReentrant
        returns (uint256 chargeId)
    {
        MarketplaceStorage storage $ = _getStorage();
        BatchRecord memory record = $.batches[batchId];
        if (record.disputableUntil == 0) revert BatchNotFound(batchId);
        if (bytes26(_hashWords(applied)) != record.appliedHash) revert AppliedMismatch(batchId);
        if (index >= applied.length) revert BatchIndexOutOfRange(index, applied.length);
        if ($.batchDisputes[batchId][index] != 0) revert BatchEntryAlreadyDisputed(batchId, index);
        uint256 word = uint256(applied[index]);
        uint256 escrowId = word >> 192;
        uint256 amount = uint128(word);
        IModelMarketplace.Escrow storage escrow = $.escrows[escrowId];
        if (escrow.renter != msg.sender) revert IModelMarketplace.NotEscrowRenter(escrowId, msg.sender);
        if (block.timestamp > record.disputableUntil) {
            revert BatchDisputeWindowClosed(batchId, record.disputableUntil);
        }

        IModelMarketplace.Terms storage terms = $.terms[escrow.termsId];
        _takeFromShare($, batchId, escrow.listingId, amount, (amount * terms.protocolFeeBps + (BPS - 1)) / BPS);
        chargeId = ++$.chargeCount;
        // Cannot overflow uint40 in practice: the period is bounded by the setters (<= 365 days).
        uint40 resolveBy = uint40(block.timestamp + terms.disputeResolutionPeriod);
        $.charges[chargeId] = IModelMarketplace.Charge({
            escrowId: uint64(escrowId),
            amount: uint96(amount),
            disputableUntil: record.disputableUntil,
            status: IModelMarketplace.ChargeStatus.Disputed,
            resolveBy: resolveBy
        });
        $.batchDisputes[batchId][index] = chargeId;
        uint256 bond = terms.disputeBond;
        emit IModelMarketplace.ChargeDisputed(chargeId, escrowId, msg.sender, bond, resolveBy);
        emit BatchEntryDisputed(batchId, index, chargeId);

        if (bond != 0) {
            IERC20(IModelMarketplace(address(this)).token()).safeTransferFrom(msg.sender, address(this), bond);
        }
    }

    /// @dev Moves one applied entry (its amount and the fee it added) out of its listing's share into its own
    /// charge, which counts as an unresolved charge of the listing like any disputed one. The entry that empties the
    /// share takes over the share's count instead.
    function _takeFromShare(
        MarketplaceStorage storage $,
        uint256 batchId,
        uint256 listingId,
        uint256 amount,
        uint256 fee
    ) private {
        BatchShare memory share = $.batchShares[batchId][listingId];
        // Every applied entry's amount is at least 1 (units > 0, price > 0), so a share equal to this entry's amount
        // holds no other entry; otherwise it holds this one's amount and fee (added when the batch applied it).
        if (share.amount == amount) {
            delete $.batchShares[batchId][listingId];
            return;
        }
        $.batchShares[batchId][listingId] =
            BatchShare({amount: share.amount - uint96(amount), fee: share.fee - uint96(fee)});
        // Cannot overflow in practice: one per pending charge or share, far below 2^32.
        unchecked {
            ++$.listings[listingId].unresolvedCharges;
        }
    }

    // ================================================================ views

    /// @inheritdoc IMarketplaceBatches
    function batchCount() external view returns (uint256) {
        return _getStorage().batchCount;
    }

    /// @inheritdoc IMarketplaceBatches
    function getBatch(uint256 batchId) external view returns (BatchRecord memory) {
        return _getStorage().batches[batchId];
    }

    /// @inheritdoc IMarketplaceBatches
    function getBatchShare(uint256 batchId, uint256 listingId) external view returns (BatchShare memory) {
        return _getStorage().batchShares[batchId][listingId];
    }

    /// @inheritdoc IMarketplaceBatches
    function batchEntryCharge(uint256 batchId, uint256 index) external view returns (uint256) {
        return _getStorage().batchDisputes[batchId][index];
    }

    /// @inheritdoc IMarketplaceBatches
    function getEscrows(uint256[] calldata escrowIds)
        external
        view
        returns (IModelMarketplace.Escrow[] memory escrows)
    {
        MarketplaceStorage storage $ = _getStorage();
        escrows = new IModelMarketplace.Escrow[](escrowIds.length);
        for (uint256 i = 0; i < escrowIds.length; ++i) {
            escrows[i] = $.escrows[escrowIds[i]];
        }
    }

    /// @dev keccak256(abi.encodePacked(words)) without keeping the copy: the memory past the free pointer is
    /// scratch, reused by whatever is allocated next.
    function _hashWords(bytes32[] calldata words) private pure returns (bytes32 hash) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            let size := shl(5, words.length)
            calldatacopy(ptr, words.offset, size)
            hash := keccak256(ptr, size)
        }
    }
}
