// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlUpgradeable} from "@openzeppelin/contracts-upgradeable/access/AccessControlUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";
import {EIP712Upgradeable} from "@openzeppelin/contracts-upgradeable/utils/cryptography/EIP712Upgradeable.sol";
import {ReentrancyGuardTransientUpgradeable} from
    "@openzeppelin/contracts-upgradeable/utils/ReentrancyGuardTransientUpgradeable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IModelMarketplace} from "../interfaces/IModelMarketplace.sol";
import {MarketplaceState} from "./MarketplaceStorage.sol";

/// @title MarketplaceBase
/// @notice The marketplace's token and the bookkeeping every part shares (lookups, the charge split).
/// The concerns live in their own abstract contracts (listings, escrows, disputes) and `ModelMarketplace` joins them
/// behind one proxy, so they share one storage namespace and one token balance.
abstract contract MarketplaceBase is
    IModelMarketplace,
    MarketplaceState,
    Initializable,
    AccessControlUpgradeable,
    EIP712Upgradeable,
    ReentrancyGuardTransientUpgradeable,
    UUPSUpgradeable
{
    /// @notice May resolve disputed charges (the timelock, or an arbitration council it appoints).
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");

    uint16 internal constant BPS = 10_000;

    /// @notice The FTNS token. Immutable in the implementation (every proxy of it uses the same token), which
    /// saves a storage read on every deposit, refund and payout; an upgrade must be constructed with the same token.
    /// @custom:oz-upgrades-unsafe-allow state-variable-immutable
    IERC20 internal immutable TOKEN;

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor(address token_) {
        if (token_ == address(0)) revert MarketplaceZeroAddress("token");
        TOKEN = IERC20(token_);
    }

    function _providerListing(uint256 listingId) internal view returns (Listing storage listing) {
        listing = _getStorage().listings[listingId];
        if (listing.status == ListingStatus.None) revert ListingNotFound(listingId);
        if (listing.provider != msg.sender) revert NotListingProvider(listingId, msg.sender);
    }

    function _openEscrowAt(uint256 escrowId) internal view returns (Escrow storage escrow) {
        escrow = _getStorage().escrows[escrowId];
        if (escrow.status != EscrowStatus.Open) {
            if (escrow.status == EscrowStatus.None) revert EscrowNotFound(escrowId);
            revert EscrowNotOpen(escrowId);
        }
    }

    function _chargeAt(uint256 chargeId) internal view returns (Charge storage charge) {
        charge = _getStorage().charges[chargeId];
        if (charge.status == ChargeStatus.None) revert ChargeNotFound(chargeId);
    }

    /// @dev Credits a charge's split as pull payments. The fee is rounded up (so no charge escapes it, however
    /// small), the royalty down; the provider gets the rest, so the three always add up to `amount`.
    function _settle(uint256 escrowId, uint256 chargeId, Escrow storage escrow, uint256 amount) internal {
        MarketplaceStorage storage $ = _getStorage();
        Listing storage listing = $.listings[escrow.listingId];
        address provider = listing.provider;
        address feeRecipient = $.treasury;
        uint256 feeBps = $.terms[escrow.termsId].protocolFeeBps;
        uint256 fee = (amount * feeBps + (BPS - 1)) / BPS;
        uint256 royalty = amount * listing.royaltyBps / BPS;
        // The recipient's slot is only read when a royalty is due.
        address royaltyRecipient = royalty != 0 ? listing.royaltyRecipient : address(0);
        // Cannot underflow: fee <= ceil(amount / 10) and royalty <= floor(amount / 10) (both capped at 1,000 bps),
        // and ceil(a / 10) + floor(a / 10) <= a for every a >= 1 (for a = 0 both are 0).
        uint256 providerAmount;
        unchecked {
            providerAmount = amount - fee - royalty;
        }

        $.payouts[provider] += providerAmount;
        if (fee != 0) $.payouts[feeRecipient] += fee;
        if (royalty != 0) $.payouts[royaltyRecipient] += royalty;
        emit ChargeSettled(escrowId, chargeId, provider, providerAmount, feeRecipient, fee, royaltyRecipient, royalty);
    }

    /// @dev The last moment an escrow can still be charged: its expiry plus the grace of its terms. uint256
    /// arithmetic, so no expiry or grace can overflow it.
    function _lastChargeAt(Escrow storage escrow, Terms storage terms) internal view returns (uint256) {
        return uint256(escrow.expiresAt) + terms.settlementGrace;
    }
}
