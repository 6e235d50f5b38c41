// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IModelMarketplace} from "../interfaces/IModelMarketplace.sol";
import {MarketplaceBase} from "./MarketplaceBase.sol";
import {MarketplaceState} from "./MarketplaceStorage.sol";

/// @title EscrowOpening
/// @notice How an escrow opens (its checks, its record, its event, then the deposit's transfer), shared by the escrows
/// module and the session-key module ({MarketplaceSessionKeyModule}), which both run in the marketplace's storage.
library EscrowOpening {
    using SafeERC20 for IERC20;

    /// @dev Opens an escrow for msg.sender on `listingId` (see IModelMarketplace.openEscrow); `token` is the FTNS.
    function open(
        MarketplaceState.MarketplaceStorage storage $,
        IERC20 token,
        uint256 listingId,
        uint96 deposit,
        uint96 spendCap,
        uint48 expiresAt,
        uint96 maxPrice
    ) internal returns (uint256 escrowId) {
        IModelMarketplace.Listing storage listing = $.listings[listingId];
        if (listing.status != IModelMarketplace.ListingStatus.Active || listing.bond < $.minProviderBond) {
            revert IModelMarketplace.ListingNotRentable(listingId, listing.status, listing.bond, $.minProviderBond);
        }
        uint96 price = listing.pricePerUnit;
        if (price > maxPrice) revert IModelMarketplace.PriceAboveMaximum(listingId, price, maxPrice);
        if (spendCap == 0 || spendCap > deposit) revert IModelMarketplace.InvalidDeposit(deposit, spendCap);
        if (deposit < $.minEscrowDeposit) revert IModelMarketplace.DepositTooLow(deposit, $.minEscrowDeposit);
        uint256 latestExpiry = block.timestamp + $.maxEscrowDuration;
        if (expiresAt <= block.timestamp || expiresAt > latestExpiry) {
            revert IModelMarketplace.InvalidExpiry(expiresAt, latestExpiry);
        }

        escrowId = ++$.escrowCount;
        $.escrows[escrowId] = IModelMarketplace.Escrow({
            renter: msg.sender,
            listingId: uint32(listingId),
            expiresAt: expiresAt,
            status: IModelMarketplace.EscrowStatus.Open,
            rated: false,
            deposit: deposit,
            charged: 0,
            units: 0,
            pricePerUnit: price,
            spendCap: spendCap,
            termsId: $.currentTerms
        });
        // Cannot overflow in practice: one open escrow per 4e9 would need more gas than exists.
        unchecked {
            ++listing.openEscrows;
        }
        emit IModelMarketplace.EscrowOpened(
            escrowId, listingId, msg.sender, listing.provider, deposit, spendCap, price, expiresAt
        );

        token.safeTransferFrom(msg.sender, address(this), deposit);
    }
}

/// @title MarketplaceEscrows
/// @notice Escrows and their charges: open (with permit), charge by receipt or attestation, close (after expiry, by
/// agreement, or by the provider), rate, and pull payouts. See {IModelMarketplace}. Receipts may also be signed by a
/// session key the renter authorized for the escrow (IMarketplaceSessionKeys, served by {MarketplaceSessionKeys}).
abstract contract MarketplaceEscrows is MarketplaceBase {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    bytes32 private constant RECEIPT_TYPEHASH =
        keccak256("UsageReceipt(uint256 escrowId,uint256 cumulativeUnits,uint256 deadline)");
    bytes32 private constant CLOSE_TYPEHASH = keccak256("CloseEscrow(uint256 escrowId,uint256 deadline)");

    /// @inheritdoc IModelMarketplace
    /// @dev No reentrancy guard on the two open paths (it costs ~400 gas of a 160k budget): they record the escrow
    /// completely before their only outgoing call, FTNS.transferFrom, and FTNS has no transfer hooks. Paths that send
    /// tokens out (close, withdraw, withdrawBond) keep the guard.
    function openEscrow(uint256 listingId, uint96 deposit, uint96 spendCap, uint48 expiresAt, uint96 maxPricePerUnit)
        external
        returns (uint256)
    {
        return _openEscrow(listingId, deposit, spendCap, expiresAt, maxPricePerUnit);
    }

    /// @inheritdoc IModelMarketplace
    function openEscrowWithPermit(
        uint256 listingId,
        uint96 deposit,
        uint96 spendCap,
        uint48 expiresAt,
        uint96 maxPricePerUnit,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256) {
        // A failed permit (already used, e.g. front-run from the mempool) is fine if the allowance is there;
        // otherwise the transfer in _openEscrow reverts with the token's allowance error.
        try IERC20Permit(address(TOKEN)).permit(msg.sender, address(this), deposit, permitDeadline, v, r, s) {}
            catch {}
        return _openEscrow(listingId, deposit, spendCap, expiresAt, maxPricePerUnit);
    }

    function _openEscrow(uint256 listingId, uint96 deposit, uint96 spendCap, uint48 expiresAt, uint96 maxPrice)
        private
        returns (uint256)
    {
        return EscrowOpening.open(_getStorage(), TOKEN, listingId, deposit, spendCap, expiresAt, maxPrice);
    }

    /// @inheritdoc IModelMarketplace
    /// @dev The signer may be the renter (an EOA or an ERC-1271 contract) or any session key ever authorized for the
    /// escrow, revoked or not (a receipt signed before a revocation must stay chargeable, or the renter could take
    /// service and then revoke to cancel payment): a leaked session key can charge at most the escrow's remaining
    /// spend cap (spendCap - charged), to the escrow's listing's provider.
    function chargeWithReceipt(uint256 escrowId, uint256 cumulativeUnits, uint256 deadline, bytes calldata signature)
        external
        returns (uint256 amount)
    {
        Escrow storage escrow = _openEscrowAt(escrowId);
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(RECEIPT_TYPEHASH, escrowId, cumulativeUnits, deadline)));
        address renter = escrow.renter;
        // The renter's key, or a session key ever authorized for the escrow (IMarketplaceSessionKeys), revoked or
        // not; a signature that does not parse recovers to address(0), which is neither. Only then the renter's
        // ERC-1271 code: a renter with code (a smart wallet, an EIP-7702 delegation) must not be able to make its
        // session keys' receipts unchargeable (e.g. by answering with a return-data bomb).
        (address signer,,) = ECDSA.tryRecover(digest, signature);
        if (
            signer != renter && !_getStorage().sessionKeys[escrowId][signer].authorized
                && !SignatureChecker.isValidERC1271SignatureNow(renter, digest, signature)
        ) revert InvalidSignature(escrowId, renter);

        uint256 units;
        (amount, units) = _recordUsage(escrowId, escrow, cumulativeUnits);
        emit UsageCharged(escrowId, 0, 0, cumulativeUnits, units, amount, false, bytes32(0), 0);
        _settle(escrowId, 0, escrow, amount);
    }

    /// @inheritdoc IModelMarketplace
    function chargeWithAttestation(
        uint256 escrowId,
        uint256 cumulativeUnits,
        uint64 sequence,
        bytes32 resultDigest,
        bytes calldata attestation
    ) external returns (uint256 chargeId) {
        MarketplaceStorage storage $ = _getStorage();
        Escrow storage escrow = _openEscrowAt(escrowId);
        if (address($.verifier) == address(0)) revert AttestationVerifierNotSet();
        $.verifier.verifyUsageAttestation(escrowId, cumulativeUnits, sequence, resultDigest, attestation);

        (uint256 amount, uint256 units) = _recordUsage(escrowId, escrow, cumulativeUnits);
        chargeId = _holdCharge(escrowId, escrow, amount);
        emit UsageCharged(
            escrowId, chargeId, sequence, cumulativeUnits, units, amount, true, resultDigest,
            $.charges[chargeId].disputableUntil
        );
    }

    /// @dev Records an attested charge as pending for the escrow's dispute window (split out of
    /// chargeWithAttestation to keep the stack shallow).
    function _holdCharge(uint256 escrowId, Escrow storage escrow, uint256 amount) private returns (uint256 chargeId) {
        MarketplaceStorage storage $ = _getStorage();
        chargeId = ++$.chargeCount;
        // Cannot overflow: one per pending charge, and charges are counted in uint64 ids far below 2^32 in practice.
        unchecked {
            ++$.listings[escrow.listingId].unresolvedCharges;
        }
        // Cannot overflow uint48 in practice: the window is bounded by the setters (<= 365 days).
        $.charges[chargeId] = Charge({
            escrowId: uint64(escrowId),
            amount: uint96(amount),
            disputableUntil: uint48(block.timestamp + $.terms[escrow.termsId].disputeWindow),
            status: ChargeStatus.Pending,
            resolveBy: 0
        });
    }

    /// @inheritdoc IModelMarketplace
    function closeEscrow(uint256 escrowId) external nonReentrant {
        Escrow storage escrow = _openEscrowAt(escrowId);
        uint256 closableAt = _lastChargeAt(escrow, _getStorage().terms[escrow.termsId]);
        if (block.timestamp <= closableAt) revert EscrowNotClosable(escrowId, closableAt);
        _close(escrowId, escrow, false);
    }

    /// @inheritdoc IModelMarketplace
    function closeEscrowByAgreement(uint256 escrowId, uint256 deadline, bytes calldata signature)
        external
        nonReentrant
    {
        Escrow storage escrow = _openEscrowAt(escrowId);
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        address renter = escrow.renter;
        address provider = _getStorage().listings[escrow.listingId].provider;
        address counterparty;
        if (msg.sender == renter) counterparty = provider;
        else if (msg.sender == provider) counterparty = renter;
        else revert NotEscrowParty(escrowId, msg.sender);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(CLOSE_TYPEHASH, escrowId, deadline)));
        if (!SignatureChecker.isValidSignatureNow(counterparty, digest, signature)) {
            revert InvalidSignature(escrowId, counterparty);
        }
        _close(escrowId, escrow, true);
    }

    /// @inheritdoc IModelMarketplace
    function closeEscrowByProvider(uint256 escrowId) external nonReentrant {
        Escrow storage escrow = _openEscrowAt(escrowId);
        if (_getStorage().listings[escrow.listingId].provider != msg.sender) {
            revert NotListingProvider(escrow.listingId, msg.sender);
        }
        _close(escrowId, escrow, false);
    }

    /// @inheritdoc IModelMarketplace
    function rate(uint256 escrowId, uint8 score) external {
        MarketplaceStorage storage $ = _getStorage();
        Escrow storage escrow = $.escrows[escrowId];
        if (escrow.renter != msg.sender) revert NotEscrowRenter(escrowId, msg.sender);
        if (escrow.status != EscrowStatus.Closed) revert EscrowNotClosed(escrowId);
        if (escrow.rated) revert AlreadyRated(escrowId);
        if (score < 1 || score > 5) revert InvalidScore(score);

        escrow.rated = true;
        Listing storage listing = $.listings[escrow.listingId];
        // Cannot overflow: at most one rating (<= 5) per escrow, and escrows per listing fit in uint32 counts.
        unchecked {
            listing.ratingCount += 1;
            listing.ratingSum += score;
        }
        emit Rated(escrowId, escrow.listingId, msg.sender, score);
    }

    /// @inheritdoc IModelMarketplace
    function withdraw() external nonReentrant returns (uint256) {
        return _withdraw(msg.sender);
    }

    /// @inheritdoc IModelMarketplace
    function withdrawFor(address account) external nonReentrant returns (uint256) {
        return _withdraw(account);
    }

    /// @dev Validates cumulative usage against the escrow and accounts its new units: only usage beyond what is
    /// already accounted is charged, so reports are ordered by their units alone and a replayed or lower one is
    /// refused. The unit count is checked against the cap before it is multiplied by the price (no overflow).
    function _recordUsage(uint256 escrowId, Escrow storage escrow, uint256 cumulativeUnits)
        private
        returns (uint256 amount, uint256 units)
    {
        uint256 lastChargeAt = _lastChargeAt(escrow, _getStorage().terms[escrow.termsId]);
        if (block.timestamp > lastChargeAt) revert SettlementPeriodOver(escrowId, lastChargeAt);
        uint256 accounted = escrow.units;
        if (cumulativeUnits <= accounted) revert NoNewUsage(escrowId, cumulativeUnits, accounted);

        // Cannot underflow: checked just above.
        unchecked {
            units = cumulativeUnits - accounted;
        }
        uint256 charged = escrow.charged;
        uint256 available = escrow.spendCap - charged;
        // units <= available < 2^96 before the product, so the product fits (price < 2^96).
        if (units > available || (amount = units * escrow.pricePerUnit) > available) {
            revert SpendCapExceeded(escrowId, units > available ? type(uint256).max : amount, available);
        }

        escrow.charged = uint96(charged + amount); // <= spendCap, a uint96
        escrow.units = cumulativeUnits.toUint64();
    }

    function _close(uint256 escrowId, Escrow storage escrow, bool byAgreement) private {
        MarketplaceStorage storage $ = _getStorage();
        uint256 refund = escrow.deposit - escrow.charged;
        address renter = escrow.renter;
        escrow.status = EscrowStatus.Closed;
        // Cannot underflow: incremented when this escrow opened.
        unchecked {
            --$.listings[escrow.listingId].openEscrows;
        }
        emit EscrowClosed(escrowId, msg.sender, refund, byAgreement);

        if (refund != 0) TOKEN.safeTransfer(renter, refund);
    }

    function _withdraw(address account) private returns (uint256 amount) {
        MarketplaceStorage storage $ = _getStorage();
        amount = $.payouts[account];
        if (amount == 0) revert NothingToWithdraw(account);

        $.payouts[account] = 0;
        emit Withdrawn(account, amount);

        TOKEN.safeTransfer(account, amount);
    }
}
