// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Quadratic vote counting
/// @notice A registered voter's weight is the integer square root of its delegated FTNS at the proposal snapshot,
/// counted in raw token units: `weight = sqrt(votes)`. FTNS has 18 decimals, so weights carry 9 decimals:
/// 100 FTNS (1e20) counts 1e10, i.e. 10.000000000 quadratic units; 10,000 FTNS counts 100 units. The quorum is
/// expressed in the same 9-decimal quadratic units. Support follows Governor Bravo (0 Against, 1 For, 2 Abstain);
/// For and Abstain count toward the quorum; a proposal succeeds when For > Against.
interface IGovernorCountingQuadratic {
    /// @notice Governance changed the quorum (quadratic units, 9 decimals) for proposals from now on.
    event QuorumUpdated(uint256 oldQuorum, uint256 newQuorum);

    /// @notice Quadratic weight of `votes` (raw FTNS units): floor(sqrt(votes)).
    function quadraticWeight(uint256 votes) external pure returns (uint256);

    /// @notice Quadratic weight `account` would cast at `timepoint`: zero unless it is a registered participant.
    function getQuadraticVotes(address account, uint256 timepoint) external view returns (uint256);

    /// @notice Tallies in quadratic units.
    function proposalVotes(uint256 proposalId)
        external
        view
        returns (uint256 againstVotes, uint256 forVotes, uint256 abstainVotes);

    /// @notice Sets the quorum in quadratic units for proposals whose snapshot is from now on. Only governance.
    function setQuorum(uint256 newQuorum) external;
}
