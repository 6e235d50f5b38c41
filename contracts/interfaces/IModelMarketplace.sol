// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title PRSM model marketplace
/// @notice Providers list AI models with a bond; renters lock FTNS in per-listing escrows; usage is paid out of an
/// escrow only against proof: a receipt signed by the renter (final at once) or an attestation by a quorum of the
/// federation committee (payable after a dispute window, during which the renter may dispute it). Every charge is
/// split into the provider's payout, the protocol fee (to the treasury) and an optional creator royalty, all credited
/// as pull payments. Invariant: the contract's FTNS balance equals open escrows' unspent deposits + pending and
/// disputed attested charges + unclaimed payouts + listing bonds.
/// @dev Amounts are raw FTNS units (18 decimals). Timestamps are seconds. Ids start at 1; 0 means "none".
interface IModelMarketplace {
    enum BillingUnit {
        Token,
        Request,
        Second
    }

    enum ListingStatus {
        None,
        Active,
        Paused,
        Delisted
    }

    enum EscrowStatus {
        None,
        Open,
        Closed
    }

    enum ChargeStatus {
        None,
        Pending,
        Disputed,
        Released,
        Refunded
    }

    /// @dev Field order is storage layout: slot 1 (provider, price) and slot 2 (status, bond, counters) are what
    /// opening an escrow reads; slot 3 (royalty recipient, ratings) is read only when a royalty is due.
    struct Listing {
        address provider;
        uint96 pricePerUnit;
        ListingStatus status;
        uint8 category;
        BillingUnit unit;
        uint16 royaltyBps;
        uint32 openEscrows;
        uint96 bond;
        uint48 unbondingAt;
        address royaltyRecipient;
        uint32 ratingCount;
        uint32 ratingSum;
        bytes32 contentHash;
        string metadataURI;
    }

    struct Escrow {
        address renter;
        uint32 listingId;
        uint48 expiresAt;
        EscrowStatus status;
        bool rated;
        uint96 deposit;
        uint96 charged;
        uint64 sequence;
        uint96 pricePerUnit;
        uint96 spendCap;
    }

    /// @notice An attested charge, payable once its dispute window has passed.
    struct Charge {
        uint64 escrowId;
        uint96 amount;
        uint48 disputableUntil;
        ChargeStatus status;
    }

    // ---------------------------------------------------------------- events

    event CategoryAdded(uint8 indexed category, bytes32 name);
    event Listed(
        uint256 indexed listingId,
        address indexed provider,
        uint8 indexed category,
        bytes32 contentHash,
        string metadataURI,
        BillingUnit unit,
        uint256 pricePerUnit,
        address royaltyRecipient,
        uint16 royaltyBps,
        uint256 bond
    );
    event PriceUpdated(uint256 indexed listingId, uint256 oldPrice, uint256 newPrice);
    event ListingStatusChanged(uint256 indexed listingId, ListingStatus status, uint48 unbondingAt);
    event BondAdded(uint256 indexed listingId, uint256 amount, uint256 totalBond);
    event BondWithdrawn(uint256 indexed listingId, address indexed provider, uint256 amount);
    event EscrowOpened(
        uint256 indexed escrowId,
        uint256 indexed listingId,
        address indexed renter,
        address provider,
        uint256 deposit,
        uint256 spendCap,
        uint256 pricePerUnit,
        uint48 expiresAt
    );
    /// @notice `amount` was charged to `escrowId`. `chargeId` is 0 for receipt charges (final, settled in the same
    /// transaction) and the id of a pending charge for attested ones (`disputableUntil` then says until when).
    event UsageCharged(
        uint256 indexed escrowId,
        uint256 indexed chargeId,
        uint64 sequence,
        uint256 cumulativeUnits,
        uint256 units,
        uint256 amount,
        bool attested,
        bytes32 resultDigest,
        uint48 disputableUntil
    );
    /// @notice A charge was paid out: credited to the provider, the treasury (fee) and the royalty recipient.
    event ChargeSettled(
        uint256 indexed escrowId,
        uint256 indexed chargeId,
        address indexed provider,
        uint256 providerAmount,
        address treasury,
        uint256 fee,
        address royaltyRecipient,
        uint256 royalty
    );
    event ChargeDisputed(uint256 indexed chargeId, uint256 indexed escrowId, address indexed renter);
    event DisputeResolved(
        uint256 indexed chargeId, uint256 indexed escrowId, bool paidToProvider, uint256 amount, address resolver
    );
    event EscrowClosed(uint256 indexed escrowId, address indexed closedBy, uint256 refund, bool byAgreement);
    event Rated(uint256 indexed escrowId, uint256 indexed listingId, address indexed renter, uint8 score);
    event Withdrawn(address indexed account, uint256 amount);

    event ProtocolFeeUpdated(uint16 oldBps, uint16 newBps);
    event TreasuryUpdated(address oldTreasury, address newTreasury);
    event MinProviderBondUpdated(uint256 oldBond, uint256 newBond);
    event DisputeWindowUpdated(uint48 oldWindow, uint48 newWindow);
    event UnbondingDelayUpdated(uint48 oldDelay, uint48 newDelay);
    event SettlementGraceUpdated(uint48 oldGrace, uint48 newGrace);
    event AttestationVerifierUpdated(address oldVerifier, address newVerifier);

    // ---------------------------------------------------------------- errors

    error MarketplaceZeroAddress(string parameter);
    error ListingNotFound(uint256 listingId);
    error NotListingProvider(uint256 listingId, address caller);
    error ListingNotRentable(uint256 listingId, ListingStatus status, uint256 bond, uint256 minimumBond);
    error ListingIsDelisted(uint256 listingId);
    error InvalidCategory(uint8 category, uint8 categoryCount);
    error InvalidPrice(uint256 price);
    error InvalidRoyalty(address recipient, uint16 bps, uint16 maxBps);
    error BondTooLow(uint256 bond, uint256 minimumBond);
    error BondLocked(uint256 listingId, uint48 unbondingAt, uint32 openEscrows);
    error EscrowNotFound(uint256 escrowId);
    error EscrowNotOpen(uint256 escrowId);
    error InvalidDeposit(uint256 deposit, uint256 spendCap);
    error InvalidExpiry(uint48 expiresAt);
    error EscrowNotClosable(uint256 escrowId, uint48 closableAt);
    error SettlementPeriodOver(uint256 escrowId, uint48 lastChargeAt);
    error SignatureExpired(uint256 deadline);
    error InvalidSignature(uint256 escrowId, address expectedSigner);
    error StaleReceipt(uint256 escrowId, uint64 sequence, uint64 lastSequence);
    error UnitsDecreased(uint256 escrowId, uint256 cumulativeUnits, uint256 unitsCharged);
    error SpendCapExceeded(uint256 escrowId, uint256 requested, uint256 available);
    error AttestationVerifierNotSet();
    error ChargeNotFound(uint256 chargeId);
    error ChargeNotPending(uint256 chargeId, ChargeStatus status);
    error ChargeNotDisputed(uint256 chargeId, ChargeStatus status);
    error DisputeWindowOpen(uint256 chargeId, uint48 disputableUntil);
    error DisputeWindowClosed(uint256 chargeId, uint48 disputableUntil);
    error NotEscrowRenter(uint256 escrowId, address caller);
    error NotEscrowParty(uint256 escrowId, address caller);
    error EscrowNotClosed(uint256 escrowId);
    error AlreadyRated(uint256 escrowId);
    error InvalidScore(uint8 score);
    error FeeTooHigh(uint16 bps, uint16 maxBps);
    error NothingToWithdraw(address account);

    // ---------------------------------------------------------------- providers

    /// @notice Lists a model and bonds `bond` FTNS (pulled from the caller; at least `minProviderBond()`).
    /// @param contentHash Hash of the model's content or manifest; `metadataURI` (e.g. an IPFS CID) describes it.
    /// @param royaltyBps Creator royalty per charge, at most `MAX_ROYALTY_BPS`, paid to `royaltyRecipient`.
    function list(
        bytes32 contentHash,
        string calldata metadataURI,
        uint8 category,
        BillingUnit unit,
        uint96 pricePerUnit,
        address royaltyRecipient,
        uint16 royaltyBps,
        uint96 bond
    ) external returns (uint256 listingId);

    /// @notice Changes the price for escrows opened from now on; open escrows keep the price they opened with.
    function setPrice(uint256 listingId, uint96 newPrice) external;

    /// @notice Pauses (`active` false) or resumes renting; open escrows are not affected.
    function setListingActive(uint256 listingId, bool active) external;

    /// @notice Adds to a listing's bond (pulled from the caller).
    function addBond(uint256 listingId, uint96 amount) external;

    /// @notice Delists for good and starts the unbonding delay.
    function delist(uint256 listingId) external;

    /// @notice Returns the bond to the provider once delisted, unbonded and with no open escrow.
    function withdrawBond(uint256 listingId) external;

    // ---------------------------------------------------------------- renters

    /// @notice Opens an escrow with `deposit` FTNS (approved beforehand), of which at most `spendCap` can ever be
    /// charged, at the listing's current price, until `expiresAt`.
    function openEscrow(uint256 listingId, uint96 deposit, uint96 spendCap, uint48 expiresAt)
        external
        returns (uint256 escrowId);

    /// @notice {openEscrow} with an EIP-2612 permit for `deposit` in the same transaction. A permit that was already
    /// used (e.g. front-run) is ignored as long as the allowance suffices.
    function openEscrowWithPermit(
        uint256 listingId,
        uint96 deposit,
        uint96 spendCap,
        uint48 expiresAt,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 escrowId);

    /// @notice Charges usage the renter signed for: an EIP-712 `UsageReceipt(escrowId, cumulativeUnits, sequence,
    /// deadline)`. Receipts are cumulative: the charge is for the units beyond those already charged, and
    /// `sequence` must exceed the last one used. Anyone may submit; the payout is final.
    function chargeWithReceipt(
        uint256 escrowId,
        uint256 cumulativeUnits,
        uint64 sequence,
        uint256 deadline,
        bytes calldata signature
    ) external returns (uint256 amount);

    /// @notice Charges usage attested by a committee quorum; the charge is held for the dispute window.
    function chargeWithAttestation(
        uint256 escrowId,
        uint256 cumulativeUnits,
        uint64 sequence,
        bytes32 resultDigest,
        bytes calldata attestation
    ) external returns (uint256 chargeId);

    /// @notice Pays out an attested charge whose dispute window has passed. Anyone may call.
    function releaseCharge(uint256 chargeId) external;

    /// @notice The renter holds an attested charge for arbitration. Only within its dispute window.
    function disputeCharge(uint256 chargeId) external;

    /// @notice Settles a disputed charge: to the provider (split as a normal charge) or back to the renter.
    /// @dev Only ARBITER_ROLE (the timelock, or an arbitration council it appoints).
    function resolveDispute(uint256 chargeId, bool payProvider) external;

    /// @notice Closes an escrow after its expiry plus the settlement grace period and refunds the unspent deposit to
    /// the renter. Anyone may call.
    function closeEscrow(uint256 escrowId) external;

    /// @notice Closes an escrow early by agreement: the caller is the renter or the provider and `signature` is the
    /// other party's EIP-712 `CloseEscrow(escrowId, deadline)`.
    function closeEscrowByAgreement(uint256 escrowId, uint256 deadline, bytes calldata signature) external;

    /// @notice One rating (1 to 5) per closed escrow, by its renter.
    function rate(uint256 escrowId, uint8 score) external;

    /// @notice Sends the caller's unclaimed payouts to it.
    function withdraw() external returns (uint256 amount);

    /// @notice Sends `account`'s unclaimed payouts to `account` (anyone may trigger it; useful for contracts such as
    /// the treasury).
    function withdrawFor(address account) external returns (uint256 amount);

    // ---------------------------------------------------------------- governance (timelock)

    function setProtocolFee(uint16 bps) external;
    function setTreasury(address treasury) external;
    function setMinProviderBond(uint96 bond) external;
    function setDisputeWindow(uint48 window) external;
    function setUnbondingDelay(uint48 delay) external;
    function setSettlementGrace(uint48 grace) external;
    function setAttestationVerifier(address verifier) external;
    function addCategory(bytes32 name) external returns (uint8 category);

    // ---------------------------------------------------------------- views

    function MAX_PROTOCOL_FEE_BPS() external view returns (uint16);
    function MAX_ROYALTY_BPS() external view returns (uint16);
    function token() external view returns (address);
    function treasury() external view returns (address);
    function protocolFeeBps() external view returns (uint16);
    function minProviderBond() external view returns (uint256);
    function disputeWindow() external view returns (uint48);
    function unbondingDelay() external view returns (uint48);
    function settlementGrace() external view returns (uint48);
    function attestationVerifier() external view returns (address);
    function categoryCount() external view returns (uint8);
    function categoryName(uint8 category) external view returns (bytes32);
    function getListing(uint256 listingId) external view returns (Listing memory);
    function getEscrow(uint256 escrowId) external view returns (Escrow memory);
    function getCharge(uint256 chargeId) external view returns (Charge memory);
    function payoutOf(address account) external view returns (uint256);
    function listingCount() external view returns (uint256);
    function escrowCount() external view returns (uint256);
    function chargeCount() external view returns (uint256);
}
