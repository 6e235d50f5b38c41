// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IModelMarketplace} from "../interfaces/IModelMarketplace.sol";
import {MarketplaceBase} from "./MarketplaceBase.sol";

/// @title MarketplaceListings
/// @notice Listings and provider bonds: list, reprice, pause, top up, delist, unbond. See {IModelMarketplace}.
abstract contract MarketplaceListings is MarketplaceBase {
    using SafeERC20 for IERC20;

    /// @inheritdoc IModelMarketplace
    uint16 public constant MAX_ROYALTY_BPS = 1_000;

    /// @inheritdoc IModelMarketplace
    function list(
        bytes32 contentHash,
        string calldata metadataURI,
        uint8 category,
        BillingUnit unit,
        uint96 pricePerUnit,
        address royaltyRecipient,
        uint16 royaltyBps,
        uint96 bond
    ) external nonReentrant returns (uint256 listingId) {
        MarketplaceStorage storage $ = _getStorage();
        if (category >= $.categoryCount) revert InvalidCategory(category, $.categoryCount);
        if (pricePerUnit == 0) revert InvalidPrice(pricePerUnit);
        if (royaltyBps > MAX_ROYALTY_BPS || (royaltyBps > 0 && royaltyRecipient == address(0))) {
            revert InvalidRoyalty(royaltyRecipient, royaltyBps, MAX_ROYALTY_BPS);
        }
        if (bond < $.minProviderBond) revert BondTooLow(bond, $.minProviderBond);

        listingId = ++$.listingCount;
        Listing storage listing = $.listings[listingId];
        listing.provider = msg.sender;
        listing.pricePerUnit = pricePerUnit;
        listing.royaltyRecipient = royaltyRecipient;
        listing.royaltyBps = royaltyBps;
        listing.category = category;
        listing.unit = unit;
        listing.status = ListingStatus.Active;
        listing.bond = bond;
        listing.contentHash = contentHash;
        listing.metadataURI = metadataURI;
        emit Listed(
            listingId,
            msg.sender,
            category,
            contentHash,
            metadataURI,
            unit,
            pricePerUnit,
            royaltyRecipient,
            royaltyBps,
            bond
        );

        TOKEN.safeTransferFrom(msg.sender, address(this), bond);
    }

    /// @inheritdoc IModelMarketplace
    function setPrice(uint256 listingId, uint96 newPrice) external {
        Listing storage listing = _providerListing(listingId);
        if (listing.status == ListingStatus.Delisted) revert ListingIsDelisted(listingId);
        if (newPrice == 0) revert InvalidPrice(newPrice);

        uint256 oldPrice = listing.pricePerUnit;
        listing.pricePerUnit = newPrice;
        emit PriceUpdated(listingId, oldPrice, newPrice);
    }

    /// @inheritdoc IModelMarketplace
    function setListingActive(uint256 listingId, bool active) external {
        Listing storage listing = _providerListing(listingId);
        if (listing.status == ListingStatus.Delisted) revert ListingIsDelisted(listingId);

        listing.status = active ? ListingStatus.Active : ListingStatus.Paused;
        emit ListingStatusChanged(listingId, listing.status, 0);
    }

    /// @inheritdoc IModelMarketplace
    function addBond(uint256 listingId, uint96 amount) external nonReentrant {
        Listing storage listing = _providerListing(listingId);
        if (listing.status == ListingStatus.Delisted) revert ListingIsDelisted(listingId);

        uint96 total = listing.bond + amount;
        listing.bond = total;
        emit BondAdded(listingId, amount, total);

        TOKEN.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IModelMarketplace
    function delist(uint256 listingId) external {
        Listing storage listing = _providerListing(listingId);
        if (listing.status == ListingStatus.Delisted) revert ListingIsDelisted(listingId);

        uint48 unbondingAt = uint48(block.timestamp) + _getStorage().unbondingDelay;
        listing.status = ListingStatus.Delisted;
        listing.unbondingAt = unbondingAt;
        emit ListingStatusChanged(listingId, ListingStatus.Delisted, unbondingAt);
    }

    /// @inheritdoc IModelMarketplace
    function withdrawBond(uint256 listingId) external nonReentrant {
        Listing storage listing = _providerListing(listingId);
        if (
            listing.status != ListingStatus.Delisted || block.timestamp < listing.unbondingAt
                || listing.openEscrows != 0 || listing.unresolvedCharges != 0
        ) revert BondLocked(listingId, listing.unbondingAt, listing.openEscrows, listing.unresolvedCharges);

        uint256 amount = listing.bond;
        listing.bond = 0;
        emit BondWithdrawn(listingId, msg.sender, amount);

        TOKEN.safeTransfer(msg.sender, amount);
    }
}
