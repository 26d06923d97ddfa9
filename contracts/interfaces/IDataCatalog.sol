// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice A dataset as the chain records it. The schema itself (column names and types) is in
///         the `DatasetRegistered` event; the record keeps its hash and the column count.
/// @param owner The member that registered the dataset and holds its data.
/// @param name Name, unique among the owner's datasets.
/// @param schemaHash `keccak256(abi.encode(string[] columnNames, string[] columnTypes))`.
/// @param columnCount Number of columns.
/// @param version 1 at registration, incremented by each `publishVersion`.
/// @param rowCount Rows in the current version.
/// @param fingerprint Merkle root over the canonical row encodings of the current version.
/// @param pricePerJob Credits the owner charges per job using the dataset.
/// @param pricePerRow Credits the owner charges per row the job uses.
/// @param active False once the owner deactivated it.
/// @param frozen True while a regulator has frozen it.
/// @param registeredAt Block timestamp of registration.
/// @param updatedAt Block timestamp of the last change to the record.
struct Dataset {
    address owner;
    string name;
    bytes32 schemaHash;
    uint16 columnCount;
    uint32 version;
    uint64 rowCount;
    bytes32 fingerprint;
    uint64 pricePerJob;
    uint64 pricePerRow;
    bool active;
    bool frozen;
    uint40 registeredAt;
    uint40 updatedAt;
}

/// @notice The part of a dataset record a job needs, read in two storage slots.
/// @param owner The dataset owner.
/// @param columnCount Number of columns.
/// @param version Current version.
/// @param active Whether the owner keeps it active.
/// @param frozen Whether a regulator froze it.
/// @param rowCount Rows in the current version.
/// @param pricePerJob Credits per job.
/// @param pricePerRow Credits per row used.
struct DatasetTerms {
    address owner;
    uint16 columnCount;
    uint32 version;
    bool active;
    bool frozen;
    uint64 rowCount;
    uint64 pricePerJob;
    uint64 pricePerRow;
}

/// @title IDataCatalog
/// @notice The datasets members offer: owner, schema, size, fingerprint, version and prices.
/// @dev Dataset ids are a sequence starting at 1. A dataset's schema never changes: a different
///      schema is a different dataset. Column types are one of `bool`, `int32`, `int64`,
///      `float32`, `float64`, `string`, `date`, `timestamp`.
interface IDataCatalog {
    // ----------------------------------------------------------------------------------------
    // Errors
    // ----------------------------------------------------------------------------------------

    /// @notice The caller is not an active member.
    /// @param caller The address that called.
    error DataCatalogNotActiveMember(address caller);

    /// @notice The caller does not hold the regulator role.
    /// @param caller The address that called.
    error DataCatalogNotRegulator(address caller);

    /// @notice No dataset has this id.
    /// @param datasetId The id given.
    error DataCatalogUnknownDataset(uint256 datasetId);

    /// @notice The caller does not own the dataset.
    /// @param datasetId The dataset.
    /// @param caller The address that called.
    /// @param owner The dataset's owner.
    error DataCatalogNotOwner(uint256 datasetId, address caller, address owner);

    /// @notice The dataset name is empty.
    error DataCatalogEmptyName();

    /// @notice The owner already has a dataset with this name.
    /// @param owner The owner.
    /// @param name The name given.
    /// @param existingId The id of the dataset that holds the name.
    error DataCatalogNameTaken(address owner, string name, uint256 existingId);

    /// @notice The schema has no column.
    error DataCatalogEmptySchema();

    /// @notice The column name and column type arrays differ in length.
    /// @param nameCount Number of column names.
    /// @param typeCount Number of column types.
    error DataCatalogSchemaLengthMismatch(uint256 nameCount, uint256 typeCount);

    /// @notice The schema has more columns than a dataset may have.
    /// @param columnCount Number of columns given.
    /// @param maxColumns The limit.
    error DataCatalogTooManyColumns(uint256 columnCount, uint256 maxColumns);

    /// @notice A column name is empty.
    /// @param columnIndex Index of the column.
    error DataCatalogEmptyColumnName(uint256 columnIndex);

    /// @notice Two columns have the same name.
    /// @param columnIndex Index of the second occurrence.
    /// @param name The repeated name.
    error DataCatalogDuplicateColumnName(uint256 columnIndex, string name);

    /// @notice A column type is not one of `bool`, `int32`, `int64`, `float32`, `float64`,
    ///         `string`, `date`, `timestamp`, or `decimal(p,s)` with 1 <= p <= 18 and s <= p
    ///         (exact fixed-point numbers such as money, written without spaces).
    /// @param columnIndex Index of the column.
    /// @param columnType The type given.
    error DataCatalogUnknownColumnType(uint256 columnIndex, string columnType);

    /// @notice The schema hash given is not `keccak256(abi.encode(columnNames, columnTypes))`.
    /// @param given The hash supplied by the caller.
    /// @param computed The hash of the schema supplied.
    error DataCatalogSchemaHashMismatch(bytes32 given, bytes32 computed);

    /// @notice The dataset fingerprint (Merkle root over canonical rows) is zero.
    error DataCatalogZeroFingerprint();

    /// @notice The row count is zero; an empty dataset cannot be used in a job.
    error DataCatalogZeroRowCount();

    /// @notice The dataset is already active.
    /// @param datasetId The dataset.
    error DataCatalogAlreadyActive(uint256 datasetId);

    /// @notice The dataset is already inactive.
    /// @param datasetId The dataset.
    error DataCatalogAlreadyInactive(uint256 datasetId);

    /// @notice The dataset is already frozen.
    /// @param datasetId The dataset.
    error DataCatalogAlreadyFrozen(uint256 datasetId);

    /// @notice The dataset is not frozen.
    /// @param datasetId The dataset.
    error DataCatalogNotFrozen(uint256 datasetId);

    /// @notice The dataset has no column with this name.
    /// @param datasetId The dataset.
    /// @param name The column name looked up.
    error DataCatalogUnknownColumn(uint256 datasetId, string name);

    // ----------------------------------------------------------------------------------------
    // Events
    // ----------------------------------------------------------------------------------------

    /// @notice A dataset was registered; carries the full schema and terms.
    /// @param datasetId The new id.
    /// @param owner The registering member.
    /// @param name Dataset name, unique per owner.
    /// @param columnNames Column names in order.
    /// @param columnTypes Column types in order.
    /// @param schemaHash `keccak256(abi.encode(columnNames, columnTypes))`.
    /// @param rowCount Rows in version 1.
    /// @param fingerprint Merkle root over the canonical row encodings of version 1.
    /// @param pricePerJob Credits per job.
    /// @param pricePerRow Credits per row used.
    event DatasetRegistered(
        uint256 indexed datasetId,
        address indexed owner,
        string name,
        string[] columnNames,
        string[] columnTypes,
        bytes32 schemaHash,
        uint64 rowCount,
        bytes32 fingerprint,
        uint64 pricePerJob,
        uint64 pricePerRow
    );

    /// @notice The owner published a new version of the data (same schema).
    /// @param datasetId The dataset.
    /// @param version The new version number.
    /// @param fingerprint Merkle root over the canonical row encodings of the new version.
    /// @param rowCount Rows in the new version.
    event DatasetVersionPublished(uint256 indexed datasetId, uint32 version, bytes32 fingerprint, uint64 rowCount);

    /// @notice The owner changed the dataset's prices (for jobs requested from now on).
    /// @param datasetId The dataset.
    /// @param pricePerJob New credits per job.
    /// @param pricePerRow New credits per row used.
    event DatasetPricesSet(uint256 indexed datasetId, uint64 pricePerJob, uint64 pricePerRow);

    /// @notice The owner deactivated the dataset: no new job may use it.
    /// @param datasetId The dataset.
    event DatasetDeactivated(uint256 indexed datasetId);

    /// @notice The owner reactivated the dataset.
    /// @param datasetId The dataset.
    event DatasetReactivated(uint256 indexed datasetId);

    /// @notice A regulator froze the dataset: no new job may use it until unfrozen.
    /// @param datasetId The dataset.
    /// @param regulator The regulator.
    /// @param reason Why, in words (or a URI / hash of the decision).
    event DatasetFrozen(uint256 indexed datasetId, address indexed regulator, string reason);

    /// @notice A regulator unfroze the dataset.
    /// @param datasetId The dataset.
    /// @param regulator The regulator.
    event DatasetUnfrozen(uint256 indexed datasetId, address indexed regulator);

    // ----------------------------------------------------------------------------------------
    // Owner
    // ----------------------------------------------------------------------------------------

    /// @notice Register a dataset owned by the caller, an active member.
    /// @dev WARNING: `fingerprint` must be the Merkle root computed off chain over the canonical
    ///      row encodings (leaves double-hashed, as OpenZeppelin `MerkleProof` expects, so a leaf
    ///      can never be mistaken for an inner node). The contract cannot check it; a wrong root
    ///      makes every later input commitment of the dataset unverifiable.
    /// @param name Dataset name, non-empty and unique among the caller's datasets.
    /// @param columnNames Column names, non-empty and distinct.
    /// @param columnTypes Column types, one per name.
    /// @param schemaHash `keccak256(abi.encode(columnNames, columnTypes))`; checked.
    /// @param rowCount Rows, non-zero.
    /// @param fingerprint Merkle root over canonical rows, non-zero.
    /// @param pricePerJob Credits per job.
    /// @param pricePerRow Credits per row used.
    /// @return datasetId The new dataset id.
    function register(
        string calldata name,
        string[] calldata columnNames,
        string[] calldata columnTypes,
        bytes32 schemaHash,
        uint64 rowCount,
        bytes32 fingerprint,
        uint64 pricePerJob,
        uint64 pricePerRow
    ) external returns (uint256 datasetId);

    /// @notice Publish a new version of the data: replaces fingerprint and row count, increments
    ///         the version. Owner only (an active member). Jobs already requested keep the row
    ///         limit and prices quoted at request time.
    /// @param datasetId The dataset.
    /// @param fingerprint Merkle root over the canonical rows of the new version, non-zero.
    /// @param rowCount Rows in the new version, non-zero.
    function publishVersion(uint256 datasetId, bytes32 fingerprint, uint64 rowCount) external;

    /// @notice Change the prices of a dataset for jobs requested from now on. Owner only.
    /// @param datasetId The dataset.
    /// @param pricePerJob Credits per job.
    /// @param pricePerRow Credits per row used.
    function setPrices(uint256 datasetId, uint64 pricePerJob, uint64 pricePerRow) external;

    /// @notice Stop new jobs from using the dataset. Owner only.
    /// @param datasetId The dataset.
    function deactivate(uint256 datasetId) external;

    /// @notice Allow new jobs to use the dataset again. Owner only.
    /// @param datasetId The dataset.
    function reactivate(uint256 datasetId) external;

    // ----------------------------------------------------------------------------------------
    // Regulator
    // ----------------------------------------------------------------------------------------

    /// @notice Freeze a dataset: no new job may use it. Regulator only. Jobs already requested
    ///         are not affected.
    /// @param datasetId The dataset.
    /// @param reason Why, in words (or a URI / hash of the decision).
    function freeze(uint256 datasetId, string calldata reason) external;

    /// @notice Unfreeze a frozen dataset. Regulator only.
    /// @param datasetId The dataset.
    function unfreeze(uint256 datasetId) external;

    // ----------------------------------------------------------------------------------------
    // Views
    // ----------------------------------------------------------------------------------------

    /// @notice The full record of a dataset; reverts `DataCatalogUnknownDataset` if unknown.
    function dataset(uint256 datasetId) external view returns (Dataset memory);

    /// @notice The owner, status, size and prices of a dataset (two storage reads); reverts
    ///         `DataCatalogUnknownDataset` if unknown.
    function terms(uint256 datasetId) external view returns (DatasetTerms memory);

    /// @notice `terms` as a tuple, cheaper for contracts to call: owner, column count, version,
    ///         active, frozen, row count, price per job, price per row. Does not revert: an
    ///         unknown dataset returns all zeros (zero owner).
    function termsOf(uint256 datasetId)
        external
        view
        returns (
            address owner,
            uint16 columns,
            uint32 version,
            bool active,
            bool frozen,
            uint64 rowCount,
            uint64 pricePerJob,
            uint64 pricePerRow
        );

    /// @notice The owner of a dataset, or the zero address if unknown.
    function ownerOf(uint256 datasetId) external view returns (address);

    /// @notice The number of columns; reverts if unknown.
    function columnCount(uint256 datasetId) external view returns (uint16);

    /// @notice The index of the column named `name`; reverts `DataCatalogUnknownColumn`.
    function columnIndex(uint256 datasetId, string calldata name) external view returns (uint16);

    /// @notice The number of datasets registered (also the highest id).
    function datasetCount() external view returns (uint256);

    /// @notice The ids of the datasets registered by `owner`, in registration order.
    function datasetsOf(address owner) external view returns (uint256[] memory);

    /// @notice The id of `owner`'s dataset named `name`, or 0.
    function datasetIdByName(address owner, string calldata name) external view returns (uint256);

    /// @notice The canonical schema hash: `keccak256(abi.encode(columnNames, columnTypes))`.
    function schemaHashOf(string[] calldata columnNames, string[] calldata columnTypes)
        external
        pure
        returns (bytes32);
}
