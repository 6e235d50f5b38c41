// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IMarketplaceBatches} from "../interfaces/IMarketplaceBatches.sol";
import {IMarketplaceSessionKeys} from "../interfaces/IMarketplaceSessionKeys.sol";
import {IModelMarketplace} from "../interfaces/IModelMarketplace.sol";
import {IUsageAttestationVerifier} from "../interfaces/IUsageAttestationVerifier.sol";

/// @title MarketplaceState
/// @notice The marketplace's one storage namespace, shared by the contracts joined behind its proxy and by the batch
/// module the implementation delegates to, so both read and write the same escrows, listings and payouts.
/// @dev Holds no state variable of its own: everything lives in the namespaced struct.
abstract contract MarketplaceState {
    /// @dev Packed by use: the charge path reads the treasury slot and the escrow's terms, the attested path the
    /// verifier slot, opening an escrow the limits-and-counters slot. Fields are only ever appended.
    /// @custom:storage-location erc7201:prsm.storage.ModelMarketplace
    struct MarketplaceStorage {
        address treasury;
        uint8 categoryCount;
        IUsageAttestationVerifier verifier;
        uint32 listingCount;
        uint64 chargeCount;
        uint96 minProviderBond;
        uint72 minEscrowDeposit;
        uint40 escrowCount;
        uint16 currentTerms;
        uint32 maxEscrowDuration;
        uint48 unbondingDelay;
        mapping(uint256 listingId => IModelMarketplace.Listing) listings;
        mapping(uint256 escrowId => IModelMarketplace.Escrow) escrows;
        mapping(uint256 chargeId => IModelMarketplace.Charge) charges;
        mapping(address account => uint256) payouts;
        mapping(uint8 category => bytes32) categoryNames;
        mapping(uint16 termsId => IModelMarketplace.Terms) terms;
        uint64 batchCount;
        mapping(uint256 batchId => IMarketplaceBatches.BatchRecord) batches;
        mapping(uint256 batchId => mapping(uint256 listingId => IMarketplaceBatches.BatchShare)) batchShares;
        mapping(uint256 batchId => mapping(uint256 index => uint256 chargeId)) batchDisputes;
        mapping(uint256 escrowId => mapping(address key => IMarketplaceSessionKeys.SessionKeyState)) sessionKeys;
    }

    // keccak256(abi.encode(uint256(keccak256("prsm.storage.ModelMarketplace")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STORAGE_LOCATION = 0x59cc3643a2224799e59cdb6297ffb4bebe1e70aaf4f928458e3947f56f11db00;

    function _getStorage() internal pure returns (MarketplaceStorage storage $) {
        assembly {
            $.slot := STORAGE_LOCATION
        }
    }
}
