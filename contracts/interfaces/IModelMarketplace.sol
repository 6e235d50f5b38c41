// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title PRSM model marketplace
/// @notice Providers list AI models with a bond; renters lock FTNS in per-listing escrows; usage is paid out of an
/// escrow only against proof: a receipt signed by the renter (final at once) or an attestation by a quorum of the
/// federation committee (payable after a dispute window, during which the renter may dispute it with a bond). Every
/// charge is split into the provider's payout, the protocol fee (to the treasury) and an optional creator royalty,
/// all credited as pull payments.
///
/// Fair metering (see docs/ARCHITECTURE.md for each side's loss bound):
/// - usage is ordered only by cumulative units: a report or receipt charges the units beyond those already counted,
///   and one for no new units is refused, so no party's receipt can invalidate another's higher one;
/// - an escrow keeps the price (bounded by the renter's `maxPricePerUnit`) and the rules (fee, settlement grace,
///   dispute window and dispute terms: a `Terms` version) in force when it opened;
/// - deposits have a governance-set minimum and escrows a maximum duration; the listing's provider may close an
///   escrow at any time (the renter gets the unspent deposit back), so no escrow can lock a provider's bond;
/// - a dispute costs the renter a bond, ends by the terms' resolution deadline (after which the charge stands and the
///   bond goes to the provider), and a refund returns the amount to the escrow and slashes the provider's bond.
///
/// Invariant: the contract's FTNS balance equals open escrows' unspent deposits + pending and disputed attested
/// charges + attested batches' unreleased per-listing shares (see IMarketplaceBatches) + dispute bonds held +
/// unclaimed payouts + listing bonds.
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
    /// opening an escrow reads (an attested charge and its release or resolution update slot 2's counter); slot 3 (royalty recipient, ratings) is read only when a royalty is due.
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
        /// @dev Attested charges on this listing still pending or disputed: the bond stays while any could be slashed.
        uint32 unresolvedCharges;
        address royaltyRecipient;
        uint32 ratingCount;
        uint32 ratingSum;
        bytes32 contentHash;
        string metadataURI;
    }

    /// @notice `charged` is what counts against the spend cap now (settled, pending and disputed charges; a refunded
    /// dispute gives its amount back); `units` is the cumulative usage accounted for, which only grows (refunded
    /// units stay accounted, so the same usage is never billed twice).
    struct Escrow {
        address renter;
        uint32 listingId;
        uint48 expiresAt;
        EscrowStatus status;
        bool rated;
        uint96 deposit;
        uint96 charged;
        uint64 units;
        uint96 pricePerUnit;
        uint96 spendCap;
        uint16 termsId;
    }

    /// @notice The rules an escrow is charged under, fixed when it opens. Governance changes create a new version.
    struct Terms {
        uint16 protocolFeeBps;
        uint48 settlementGrace;
        uint48 disputeWindow;
        uint48 disputeResolutionPeriod;
        uint16 disputeSlashBps;
        uint80 disputeBond;
    }

    /// @notice An attested charge, payable once its dispute window has passed (or its dispute resolved).
    struct Charge {
        uint64 escrowId;
        uint96 amount;
        uint48 disputableUntil;
        ChargeStatus status;
        /// @dev Set when disputed: the arbiter must resolve it before this time, after which the charge stands.
        uint40 resolveBy;
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
    /// transaction; `sequence` is then 0) and the id of a pending charge for attested ones (`disputableUntil` then
    /// says until when; `sequence` is the provider's report number).
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
    event ChargeDisputed(
        uint256 indexed chargeId, uint256 indexed escrowId, address indexed renter, uint256 bond, uint40 resolveBy
    );
    /// @notice `paidToProvider` false: the amount went back to the escrow (or to the renter's payouts once closed).
    /// `byDefault`: nobody resolved it before its deadline, so the charge stood.
    event DisputeResolved(
        uint256 indexed chargeId,
        uint256 indexed escrowId,
        bool paidToProvider,
        uint256 amount,
        address resolver,
        bool byDefault
    );
    /// @notice A dispute bond was credited to `recipient` (the provider when the charge stood, the renter otherwise).
    event DisputeBondPaid(uint256 indexed chargeId, address indexed recipient, uint256 bond);
    /// @notice A lost dispute slashed the listing's bond; the slashed amount goes to the treasury.
    event ProviderSlashed(uint256 indexed listingId, uint256 indexed chargeId, uint256 amount, uint256 remainingBond);
    event EscrowClosed(uint256 indexed escrowId, address indexed closedBy, uint256 refund, bool byAgreement);
    event Rated(uint256 indexed escrowId, uint256 indexed listingId, address indexed renter, uint8 score);
    event Withdrawn(address indexed account, uint256 amount);

    event TermsUpdated(
        uint16 indexed termsId,
        uint16 protocolFeeBps,
        uint48 settlementGrace,
        uint48 disputeWindow,
        uint48 disputeResolutionPeriod,
        uint16 disputeSlashBps,
        uint256 disputeBond
    );
    event ProtocolFeeUpdated(uint16 oldBps, uint16 newBps);
    event TreasuryUpdated(address oldTreasury, address newTreasury);
    event MinProviderBondUpdated(uint256 oldBond, uint256 newBond);
    event MinEscrowDepositUpdated(uint256 oldDeposit, uint256 newDeposit);
    event MaxEscrowDurationUpdated(uint32 oldDuration, uint32 newDuration);
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
    error PriceAboveMaximum(uint256 listingId, uint256 price, uint256 maxPricePerUnit);
    error InvalidRoyalty(address recipient, uint16 bps, uint16 maxBps);
    error BondTooLow(uint256 bond, uint256 minimumBond);
    error BondLocked(uint256 listingId, uint48 unbondingAt, uint32 openEscrows, uint32 unresolvedCharges);
    error EscrowNotFound(uint256 escrowId);
    error EscrowNotOpen(uint256 escrowId);
    error InvalidDeposit(uint256 deposit, uint256 spendCap);
    error DepositTooLow(uint256 deposit, uint256 minimumDeposit);
    error InvalidExpiry(uint256 expiresAt, uint256 latestExpiry);
    error EscrowNotClosable(uint256 escrowId, uint256 closableAt);
    error SettlementPeriodOver(uint256 escrowId, uint256 lastChargeAt);
    error SignatureExpired(uint256 deadline);
    error InvalidSignature(uint256 escrowId, address expectedSigner);
    error NoNewUsage(uint256 escrowId, uint256 cumulativeUnits, uint256 unitsAccounted);
    error SpendCapExceeded(uint256 escrowId, uint256 requested, uint256 available);
    error AttestationVerifierNotSet();
    error ChargeNotFound(uint256 chargeId);
    error ChargeNotPending(uint256 chargeId, ChargeStatus status);
    error ChargeNotDisputed(uint256 chargeId, ChargeStatus status);
    error DisputeWindowOpen(uint256 chargeId, uint48 disputableUntil);
    error DisputeWindowClosed(uint256 chargeId, uint48 disputableUntil);
    error DisputeDeadlinePassed(uint256 chargeId, uint40 resolveBy);
    error DisputeDeadlineNotReached(uint256 chargeId, uint40 resolveBy);
    error NotEscrowRenter(uint256 escrowId, address caller);
    error NotEscrowParty(uint256 escrowId, address caller);
    error EscrowNotClosed(uint256 escrowId);
    error AlreadyRated(uint256 escrowId);
    error InvalidScore(uint8 score);
    error FeeTooHigh(uint16 bps, uint16 maxBps);
    error InvalidSlash(uint16 bps, uint16 maxBps);
    error InvalidPeriod(string parameter, uint256 value, uint256 maximum);
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

    /// @notice Returns the bond to the provider once delisted, unbonded, with no open escrow (the provider can
    /// always end its open escrows with {closeEscrowByProvider}) and no attested charge still pending or disputed
    /// (a dispute it loses slashes the bond; the wait is at most the dispute window plus the resolution period).
    function withdrawBond(uint256 listingId) external;

    // ---------------------------------------------------------------- renters

    /// @notice Opens an escrow with `deposit` FTNS (approved beforehand; at least `minEscrowDeposit()`), of which at
    /// most `spendCap` can ever be charged, at the listing's current price (reverts if above `maxPricePerUnit`, so a
    /// price change sent just before cannot surprise the renter), until `expiresAt` (at most `maxEscrowDuration()`
    /// from now). The escrow keeps the current `Terms`.
    function openEscrow(uint256 listingId, uint96 deposit, uint96 spendCap, uint48 expiresAt, uint96 maxPricePerUnit)
        external
        returns (uint256 escrowId);

    /// @notice {openEscrow} with an EIP-2612 permit for `deposit` in the same transaction. A permit that was already
    /// used (e.g. front-run) is ignored as long as the allowance suffices.
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
    ) external returns (uint256 escrowId);

    /// @notice Charges usage the renter signed for: an EIP-712 `UsageReceipt(escrowId, cumulativeUnits, deadline)`,
    /// the renter's acknowledgement that it received `cumulativeUnits` in total. The charge is for the units beyond
    /// those already accounted (none new: `NoNewUsage`). Anyone may submit; the payout is final. The signer may also
    /// be any session key ever authorized for the escrow, revoked or not (see IMarketplaceSessionKeys): a leaked key
    /// can charge at most the escrow's remaining spend cap.
    function chargeWithReceipt(uint256 escrowId, uint256 cumulativeUnits, uint256 deadline, bytes calldata signature)
        external
        returns (uint256 amount);

    /// @notice Charges usage attested by a committee quorum (units beyond those already accounted); the charge is
    /// held for the escrow's dispute window. `sequence` identifies the provider's report the committee attested.
    function chargeWithAttestation(
        uint256 escrowId,
        uint256 cumulativeUnits,
        uint64 sequence,
        bytes32 resultDigest,
        bytes calldata attestation
    ) external returns (uint256 chargeId);

    /// @notice Pays out an attested charge whose dispute window has passed. Anyone may call.
    function releaseCharge(uint256 chargeId) external;

    /// @notice The renter holds an attested charge for arbitration, within its dispute window, bonding the escrow's
    /// `disputeBond` (pulled from the renter; approve it first). The arbiter must resolve it within the escrow's
    /// `disputeResolutionPeriod`.
    function disputeCharge(uint256 chargeId) external;

    /// @notice Settles a disputed charge before its deadline. To the provider: paid as a normal charge, the dispute
    /// bond to the provider. To the renter: the amount returns to the escrow (to the renter's payouts if it closed),
    /// the bond returns to the renter, and `disputeSlashBps` of the listing's bond is slashed to the treasury.
    /// @dev Only ARBITER_ROLE (the timelock, or an arbitration council it appoints).
    function resolveDispute(uint256 chargeId, bool payProvider) external;

    /// @notice After a dispute's deadline without a resolution, anyone may apply the default: the attested charge
    /// stands (paid to the provider) and the renter's dispute bond goes to the provider.
    function resolveExpiredDispute(uint256 chargeId) external;

    /// @notice Closes an escrow after its expiry plus the escrow's settlement grace and refunds the unspent deposit
    /// to the renter. Anyone may call.
    function closeEscrow(uint256 escrowId) external;

    /// @notice Closes an escrow early by agreement: the caller is the renter or the provider and `signature` is the
    /// other party's EIP-712 `CloseEscrow(escrowId, deadline)`.
    function closeEscrowByAgreement(uint256 escrowId, uint256 deadline, bytes calldata signature) external;

    /// @notice The listing's provider ends an escrow at once: the renter gets the unspent deposit back; charges
    /// already made (pending ones included) stand; usage not charged yet is forgone by the provider.
    function closeEscrowByProvider(uint256 escrowId) external;

    /// @notice One rating (1 to 5) per closed escrow, by its renter.
    function rate(uint256 escrowId, uint8 score) external;

    /// @notice Sends the caller's unclaimed payouts to it.
    function withdraw() external returns (uint256 amount);

    /// @notice Sends `account`'s unclaimed payouts to `account` (anyone may trigger it; useful for contracts such as
    /// the treasury).
    function withdrawFor(address account) external returns (uint256 amount);

    // ---------------------------------------------------------------- governance (timelock)

    /// @notice The fee, settlement grace, dispute window and dispute terms apply to escrows opened afterwards.
    function setProtocolFee(uint16 bps) external;
    function setSettlementGrace(uint48 grace) external;
    function setDisputeWindow(uint48 window) external;
    function setDisputeTerms(uint80 bond, uint48 resolutionPeriod, uint16 slashBps) external;
    function setTreasury(address treasury) external;
    function setMinProviderBond(uint96 bond) external;
    function setMinEscrowDeposit(uint72 deposit) external;
    function setMaxEscrowDuration(uint32 duration) external;
    function setUnbondingDelay(uint48 delay) external;
    function setAttestationVerifier(address verifier) external;
    function addCategory(bytes32 name) external returns (uint8 category);

    // ---------------------------------------------------------------- views

    function MAX_PROTOCOL_FEE_BPS() external view returns (uint16);
    function MAX_ROYALTY_BPS() external view returns (uint16);
    function token() external view returns (address);
    function treasury() external view returns (address);
    /// @notice The current terms' values (what a new escrow gets).
    function protocolFeeBps() external view returns (uint16);
    function settlementGrace() external view returns (uint48);
    function disputeWindow() external view returns (uint48);
    function currentTermsId() external view returns (uint16);
    function getTerms(uint16 termsId) external view returns (Terms memory);
    function minProviderBond() external view returns (uint256);
    function minEscrowDeposit() external view returns (uint256);
    function maxEscrowDuration() external view returns (uint32);
    function unbondingDelay() external view returns (uint48);
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
