// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IModelMarketplace} from "../interfaces/IModelMarketplace.sol";
import {MarketplaceBase} from "./MarketplaceBase.sol";

/// @title MarketplaceDisputes
/// @notice What happens to an attested charge after the committee's word: release after the dispute window, or a
/// bonded dispute that the arbiter resolves before a deadline, after which the charge stands by default. The rules
/// (bond, deadline, slash) are the escrow's terms, fixed when it opened. See {IModelMarketplace}.
abstract contract MarketplaceDisputes is MarketplaceBase {
    using SafeERC20 for IERC20;

    /// @inheritdoc IModelMarketplace
    function releaseCharge(uint256 chargeId) external {
        Charge storage charge = _chargeAt(chargeId);
        if (charge.status != ChargeStatus.Pending) revert ChargeNotPending(chargeId, charge.status);
        if (block.timestamp <= charge.disputableUntil) revert DisputeWindowOpen(chargeId, charge.disputableUntil);

        charge.status = ChargeStatus.Released;
        uint256 escrowId = charge.escrowId;
        Escrow storage escrow = _getStorage().escrows[escrowId];
        _resolved(escrow);
        _settle(escrowId, chargeId, escrow, charge.amount);
    }

    /// @inheritdoc IModelMarketplace
    /// @dev The bond comes in with the only external call, after the state change; FTNS has no transfer hooks.
    function disputeCharge(uint256 chargeId) external nonReentrant {
        MarketplaceStorage storage $ = _getStorage();
        Charge storage charge = _chargeAt(chargeId);
        uint256 escrowId = charge.escrowId;
        Escrow storage escrow = $.escrows[escrowId];
        if (escrow.renter != msg.sender) revert NotEscrowRenter(escrowId, msg.sender);
        if (charge.status != ChargeStatus.Pending) revert ChargeNotPending(chargeId, charge.status);
        if (block.timestamp > charge.disputableUntil) revert DisputeWindowClosed(chargeId, charge.disputableUntil);

        Terms storage terms = $.terms[escrow.termsId];
        uint256 bond = terms.disputeBond;
        // Cannot overflow uint40 in practice: the period is bounded by the setters (<= 365 days).
        uint40 resolveBy = uint40(block.timestamp + terms.disputeResolutionPeriod);
        charge.status = ChargeStatus.Disputed;
        charge.resolveBy = resolveBy;
        emit ChargeDisputed(chargeId, escrowId, msg.sender, bond, resolveBy);

        if (bond != 0) TOKEN.safeTransferFrom(msg.sender, address(this), bond);
    }

    /// @inheritdoc IModelMarketplace
    function resolveDispute(uint256 chargeId, bool payProvider) external onlyRole(ARBITER_ROLE) {
        Charge storage charge = _chargeAt(chargeId);
        if (charge.status != ChargeStatus.Disputed) revert ChargeNotDisputed(chargeId, charge.status);
        if (block.timestamp > charge.resolveBy) revert DisputeDeadlinePassed(chargeId, charge.resolveBy);
        _resolve(chargeId, charge, payProvider, false);
    }

    /// @inheritdoc IModelMarketplace
    function resolveExpiredDispute(uint256 chargeId) external {
        Charge storage charge = _chargeAt(chargeId);
        if (charge.status != ChargeStatus.Disputed) revert ChargeNotDisputed(chargeId, charge.status);
        if (block.timestamp <= charge.resolveBy) revert DisputeDeadlineNotReached(chargeId, charge.resolveBy);
        _resolve(chargeId, charge, true, true);
    }

    function _resolve(uint256 chargeId, Charge storage charge, bool payProvider, bool byDefault) private {
        MarketplaceStorage storage $ = _getStorage();
        uint256 escrowId = charge.escrowId;
        uint256 amount = charge.amount;
        Escrow storage escrow = $.escrows[escrowId];
        Listing storage listing = $.listings[escrow.listingId];
        Terms storage terms = $.terms[escrow.termsId];
        uint256 bond = terms.disputeBond;
        _resolved(escrow);
        emit DisputeResolved(chargeId, escrowId, payProvider, amount, msg.sender, byDefault);
        if (payProvider) {
            charge.status = ChargeStatus.Released;
            _settle(escrowId, chargeId, escrow, amount);
            _payBond(chargeId, listing.provider, bond);
            return;
        }

        charge.status = ChargeStatus.Refunded;
        // The amount goes back under the escrow's cap (its units stay accounted, so they are not billed again);
        // once the escrow has closed and refunded its deposit, it is the renter's payout instead.
        if (escrow.status == EscrowStatus.Open) {
            escrow.charged -= uint96(amount); // cannot underflow: the amount was added to `charged` when attested
        } else {
            $.payouts[escrow.renter] += amount;
        }
        _payBond(chargeId, escrow.renter, bond);

        uint256 slash = uint256(listing.bond) * terms.disputeSlashBps / BPS;
        if (slash != 0) {
            uint96 remaining = listing.bond - uint96(slash); // slash <= bond (slashBps <= BPS)
            listing.bond = remaining;
            $.payouts[$.treasury] += slash;
            emit ProviderSlashed(escrow.listingId, chargeId, slash, remaining);
        }
    }

    /// @dev One attested charge of the escrow's listing is final now: the listing's bond no longer waits for it.
    function _resolved(Escrow storage escrow) private {
        // Cannot underflow: incremented when the charge was attested.
        unchecked {
            --_getStorage().listings[escrow.listingId].unresolvedCharges;
        }
    }

    function _payBond(uint256 chargeId, address recipient, uint256 bond) private {
        if (bond == 0) return;
        _getStorage().payouts[recipient] += bond;
        emit DisputeBondPaid(chargeId, recipient, bond);
    }
}
