// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice One input of a job: a dataset and, for each column the job touches, the constraint
///         level that the job's use of the column requires.
/// @dev `columns[i]` is used at level `levels[i]`; both arrays have the same length. A column may
///      be listed several times with different required levels (e.g. grouped by and aggregated).
///      An empty column list is valid (e.g. `COUNT(*)` touches no column).
struct JobInput {
    uint256 datasetId;
    uint16[] columns;
    uint8[] levels;
}

/// @title ConstraintLevels
/// @notice Column constraint levels with SecretFlow SCQL CCL semantics, as `uint8` codes.
/// @dev The ABI carries levels as `uint8` (not a Solidity enum) so that an out-of-range value is
///      refused with a named error instead of an empty ABI-decoder revert.
library ConstraintLevels {
    /// @notice The column may be revealed as is.
    uint8 internal constant PLAINTEXT = 0;
    /// @notice The column may be revealed only as the result of a join (e.g. the join key set).
    uint8 internal constant PLAINTEXT_AFTER_JOIN = 1;
    /// @notice The column may be revealed only as a group-by key.
    uint8 internal constant PLAINTEXT_AFTER_GROUP_BY = 2;
    /// @notice The column may be revealed only through an aggregate (sum, count, mean, ...).
    uint8 internal constant PLAINTEXT_AFTER_AGGREGATE = 3;
    /// @notice The column may be revealed only through the result of a comparison.
    uint8 internal constant PLAINTEXT_AFTER_COMPARE = 4;
    /// @notice The column takes part in the computation but is never revealed in any form.
    uint8 internal constant ENCRYPTED_ONLY = 5;
    /// @notice Number of levels; every valid level is below it.
    uint8 internal constant COUNT = 6;

    /// @notice Whether `level` is one of the six defined levels.
    function isValid(uint8 level) internal pure returns (bool) {
        return level < COUNT;
    }

    /// @notice Whether a column granted at `granted` may be used in a way that requires `required`.
    /// @dev G permits R iff G == PLAINTEXT or R == ENCRYPTED_ONLY or G == R. The levels between
    ///      the two ends are not ordered: a column granted for aggregation cannot be revealed by a
    ///      comparison, and vice versa.
    function permits(uint8 granted, uint8 required) internal pure returns (bool) {
        return granted == PLAINTEXT || required == ENCRYPTED_ONLY || granted == required;
    }
}

/// @title JobKinds
/// @notice The kinds of job the platform runs, as `uint8` codes, and the bitmask over them that a
///         grant uses to say which kinds it allows.
library JobKinds {
    /// @notice Secure statistics (count, sum, mean, variance, quantiles, histograms).
    uint8 internal constant STATISTICS = 0;
    /// @notice Secure SQL query (joins on private keys, filters, group-by).
    uint8 internal constant QUERY = 1;
    /// @notice Secure model training; only the requester gets the model.
    uint8 internal constant MODEL_TRAIN = 2;
    /// @notice Secure inference with an approved model; only the requester gets the scores.
    uint8 internal constant MODEL_PREDICT = 3;
    /// @notice An approved script over secret arrays, run by every compute node.
    uint8 internal constant SCRIPT = 4;
    /// @notice Compute moved to data: an approved program runs at one owner's node on its
    ///         plaintext data and returns only the declared outputs.
    uint8 internal constant PUBLISH = 5;
    /// @notice Number of kinds; every valid kind is below it.
    uint8 internal constant COUNT = 6;
    /// @notice The bitmask that allows every kind.
    uint8 internal constant ALL = 0x3f;

    /// @notice Whether `kind` is one of the six defined kinds.
    function isValid(uint8 kind) internal pure returns (bool) {
        return kind < COUNT;
    }

    /// @notice The bit that stands for `kind` in an allowed-kinds mask.
    function bit(uint8 kind) internal pure returns (uint8) {
        return uint8(1 << kind);
    }

    /// @notice Whether jobs of `kind` run a program that every input owner must have approved.
    function needsApprovedProgram(uint8 kind) internal pure returns (bool) {
        return kind == SCRIPT || kind == PUBLISH || kind == MODEL_PREDICT;
    }
}
