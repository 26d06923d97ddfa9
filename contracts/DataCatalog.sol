// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IConsortium} from "./interfaces/IConsortium.sol";
import {Dataset, DatasetTerms, IDataCatalog} from "./interfaces/IDataCatalog.sol";

/// @title DataCatalog
/// @notice The datasets members offer. The schema is published in `DatasetRegistered`; storage
///         keeps its hash, the column count and a name → index map.
/// @dev The two first slots of a record hold everything a job reads (owner, column count,
///      version, flags; row count and prices), so a job pays two storage reads per input.
contract DataCatalog is IDataCatalog, ReentrancyGuardTransient {
    /// @notice Largest number of columns a dataset may have.
    uint256 public constant MAX_COLUMNS = 1024;

    uint8 private constant FLAG_ACTIVE = 1;
    uint8 private constant FLAG_FROZEN = 2;

    struct Record {
        // slot 0
        address owner;
        uint16 columnCount;
        uint32 version;
        uint8 flags;
        uint40 registeredAt;
        // slot 1
        uint64 rowCount;
        uint64 pricePerJob;
        uint64 pricePerRow;
        uint40 updatedAt;
        // slots 2..4
        bytes32 fingerprint;
        bytes32 schemaHash;
        string name;
    }

    IConsortium private immutable _consortium;

    uint256 private _datasetCount;
    mapping(uint256 datasetId => Record) private _datasets;
    mapping(address owner => uint256[]) private _datasetsOf;
    mapping(address owner => mapping(bytes32 nameHash => uint256 datasetId)) private _idByName;
    mapping(uint256 datasetId => mapping(bytes32 nameHash => uint256 indexPlusOne)) private _columnIndexes;

    modifier onlyActiveMember() {
        _checkActiveMember(msg.sender);
        _;
    }

    modifier onlyRegulator() {
        _checkRegulator(msg.sender);
        _;
    }

    modifier onlyOwnerOf(uint256 datasetId) {
        _checkOwner(datasetId, msg.sender);
        _;
    }

    /// @param consortium The Consortium that says who is an active member and who a regulator.
    constructor(IConsortium consortium) {
        _consortium = consortium;
    }

    // ----------------------------------------------------------------------------------------
    // Owner
    // ----------------------------------------------------------------------------------------

    /// @inheritdoc IDataCatalog
    function register(
        string calldata name,
        string[] calldata columnNames,
        string[] calldata columnTypes,
        bytes32 schemaHash,
        uint64 rowCount,
        bytes32 fingerprint,
        uint64 pricePerJob,
        uint64 pricePerRow
    ) external onlyActiveMember nonReentrant returns (uint256 datasetId) {
        if (bytes(name).length == 0) revert DataCatalogEmptyName();
        uint256 existing = _idByName[msg.sender][keccak256(bytes(name))];
        if (existing != 0) revert DataCatalogNameTaken(msg.sender, name, existing);
        _checkContent(fingerprint, rowCount);
        bytes32 computed = _schemaHash(columnNames, columnTypes);
        if (computed != schemaHash) revert DataCatalogSchemaHashMismatch(schemaHash, computed);
        datasetId = _datasetCount + 1;
        _indexColumns(datasetId, columnNames, columnTypes);
        _register(datasetId, name, schemaHash, uint16(columnNames.length), rowCount, fingerprint, pricePerJob, pricePerRow);
        emit DatasetRegistered(
            datasetId,
            msg.sender,
            name,
            columnNames,
            columnTypes,
            schemaHash,
            rowCount,
            fingerprint,
            pricePerJob,
            pricePerRow
        );
    }

    /// @inheritdoc IDataCatalog
    function publishVersion(uint256 datasetId, bytes32 fingerprint, uint64 rowCount)
        external
        onlyOwnerOf(datasetId)
        nonReentrant
    {
        _checkContent(fingerprint, rowCount);
        _publishVersion(datasetId, fingerprint, rowCount);
    }

    /// @inheritdoc IDataCatalog
    function setPrices(uint256 datasetId, uint64 pricePerJob, uint64 pricePerRow)
        external
        onlyOwnerOf(datasetId)
        nonReentrant
    {
        _setPrices(datasetId, pricePerJob, pricePerRow);
    }

    /// @inheritdoc IDataCatalog
    function deactivate(uint256 datasetId) external onlyOwnerOf(datasetId) nonReentrant {
        if (_datasets[datasetId].flags & FLAG_ACTIVE == 0) revert DataCatalogAlreadyInactive(datasetId);
        _setActive(datasetId, false);
    }

    /// @inheritdoc IDataCatalog
    function reactivate(uint256 datasetId) external onlyOwnerOf(datasetId) nonReentrant {
        if (_datasets[datasetId].flags & FLAG_ACTIVE != 0) revert DataCatalogAlreadyActive(datasetId);
        _setActive(datasetId, true);
    }

    // ----------------------------------------------------------------------------------------
    // Regulator
    // ----------------------------------------------------------------------------------------

    /// @inheritdoc IDataCatalog
    function freeze(uint256 datasetId, string calldata reason) external onlyRegulator nonReentrant {
        _checkExists(datasetId);
        if (_datasets[datasetId].flags & FLAG_FROZEN != 0) revert DataCatalogAlreadyFrozen(datasetId);
        _freeze(datasetId, reason);
    }

    /// @inheritdoc IDataCatalog
    function unfreeze(uint256 datasetId) external onlyRegulator nonReentrant {
        _checkExists(datasetId);
        if (_datasets[datasetId].flags & FLAG_FROZEN == 0) revert DataCatalogNotFrozen(datasetId);
        _unfreeze(datasetId);
    }

    // ----------------------------------------------------------------------------------------
    // Views
    // ----------------------------------------------------------------------------------------

    /// @inheritdoc IDataCatalog
    function dataset(uint256 datasetId) external view returns (Dataset memory) {
        _checkExists(datasetId);
        Record storage record = _datasets[datasetId];
        return Dataset({
            owner: record.owner,
            name: record.name,
            schemaHash: record.schemaHash,
            columnCount: record.columnCount,
            version: record.version,
            rowCount: record.rowCount,
            fingerprint: record.fingerprint,
            pricePerJob: record.pricePerJob,
            pricePerRow: record.pricePerRow,
            active: record.flags & FLAG_ACTIVE != 0,
            frozen: record.flags & FLAG_FROZEN != 0,
            registeredAt: record.registeredAt,
            updatedAt: record.updatedAt
        });
    }

    /// @inheritdoc IDataCatalog
    function terms(uint256 datasetId) external view returns (DatasetTerms memory) {
        _checkExists(datasetId);
        Record storage record = _datasets[datasetId];
        return DatasetTerms({
            owner: record.owner,
            columnCount: record.columnCount,
            version: record.version,
            active: record.flags & FLAG_ACTIVE != 0,
            frozen: record.flags & FLAG_FROZEN != 0,
            rowCount: record.rowCount,
            pricePerJob: record.pricePerJob,
            pricePerRow: record.pricePerRow
        });
    }

    /// @inheritdoc IDataCatalog
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
        )
    {
        Record storage record = _datasets[datasetId];
        uint8 flags = record.flags;
        return (
            record.owner,
            record.columnCount,
            record.version,
            flags & FLAG_ACTIVE != 0,
            flags & FLAG_FROZEN != 0,
            record.rowCount,
            record.pricePerJob,
            record.pricePerRow
        );
    }

    /// @inheritdoc IDataCatalog
    function ownerOf(uint256 datasetId) external view returns (address) {
        return _datasets[datasetId].owner;
    }

    /// @inheritdoc IDataCatalog
    function columnCount(uint256 datasetId) external view returns (uint16) {
        _checkExists(datasetId);
        return _datasets[datasetId].columnCount;
    }

    /// @inheritdoc IDataCatalog
    function columnIndex(uint256 datasetId, string calldata name) external view returns (uint16) {
        _checkExists(datasetId);
        uint256 indexPlusOne = _columnIndexes[datasetId][keccak256(bytes(name))];
        if (indexPlusOne == 0) revert DataCatalogUnknownColumn(datasetId, name);
        return uint16(indexPlusOne - 1);
    }

    /// @inheritdoc IDataCatalog
    function datasetCount() external view returns (uint256) {
        return _datasetCount;
    }

    /// @inheritdoc IDataCatalog
    function datasetsOf(address owner) external view returns (uint256[] memory) {
        return _datasetsOf[owner];
    }

    /// @inheritdoc IDataCatalog
    function datasetIdByName(address owner, string calldata name) external view returns (uint256) {
        return _idByName[owner][keccak256(bytes(name))];
    }

    /// @inheritdoc IDataCatalog
    function schemaHashOf(string[] calldata columnNames, string[] calldata columnTypes)
        external
        pure
        returns (bytes32)
    {
        return _schemaHash(columnNames, columnTypes);
    }

    // ----------------------------------------------------------------------------------------
    // Checks
    // ----------------------------------------------------------------------------------------

    function _checkActiveMember(address caller) internal view virtual {
        if (!_consortium.isActiveMember(caller)) revert DataCatalogNotActiveMember(caller);
    }

    function _checkRegulator(address caller) internal view virtual {
        if (!_consortium.isRegulator(caller)) revert DataCatalogNotRegulator(caller);
    }

    function _checkExists(uint256 datasetId) internal view virtual {
        if (_datasets[datasetId].owner == address(0)) revert DataCatalogUnknownDataset(datasetId);
    }

    /// @dev The owner must also still be an active member: a suspended member cannot change
    ///      its datasets.
    function _checkOwner(uint256 datasetId, address caller) internal view virtual {
        address owner = _datasets[datasetId].owner;
        if (owner == address(0)) revert DataCatalogUnknownDataset(datasetId);
        if (owner != caller) revert DataCatalogNotOwner(datasetId, caller, owner);
        _checkActiveMember(caller);
    }

    function _checkContent(bytes32 fingerprint, uint64 rowCount) private pure {
        if (fingerprint == bytes32(0)) revert DataCatalogZeroFingerprint();
        if (rowCount == 0) revert DataCatalogZeroRowCount();
    }

    function _checkColumnType(uint256 index, string calldata columnType) private pure {
        bytes32 typeHash = keccak256(bytes(columnType));
        if (
            typeHash != keccak256("bool") && typeHash != keccak256("int32") && typeHash != keccak256("int64")
                && typeHash != keccak256("float32") && typeHash != keccak256("float64")
                && typeHash != keccak256("string") && typeHash != keccak256("date")
                && typeHash != keccak256("timestamp") && !_isDecimalType(bytes(columnType))
        ) revert DataCatalogUnknownColumnType(index, columnType);
    }

    /// @dev Whether `columnType` is `decimal(p,s)` with 1 <= p <= 18 and 0 <= s <= p, each
    ///      written with one or two digits and no spaces: the canonical spelling the off-chain
    ///      data layer produces (offchain/data/schema.py), so one schema has one hash.
    function _isDecimalType(bytes calldata columnType) private pure returns (bool) {
        uint256 length = columnType.length;
        if (length < 12 || length > 14 || bytes8(columnType[0:8]) != bytes8("decimal(")) return false;
        if (columnType[length - 1] != ")") return false;
        (uint256 precision, uint256 next) = _readSmallNumber(columnType, 8);
        if (next == 8 || next >= length - 1 || columnType[next] != ",") return false;
        (uint256 scale, uint256 end) = _readSmallNumber(columnType, next + 1);
        if (end == next + 1 || end != length - 1) return false;
        return precision >= 1 && precision <= 18 && scale <= precision;
    }

    /// @dev Reads up to two decimal digits from `start` (no leading zero unless the number is
    ///      0); returns the value and the index after the last digit read (`start` if none).
    function _readSmallNumber(bytes calldata text, uint256 start) private pure returns (uint256, uint256) {
        uint256 value;
        uint256 index = start;
        while (index < text.length && index < start + 2 && text[index] >= "0" && text[index] <= "9") {
            if (index > start && value == 0) return (value, start); // leading zero: not canonical
            value = value * 10 + (uint8(text[index]) - 48);
            index++;
        }
        return (value, index);
    }

    function _schemaHash(string[] calldata columnNames, string[] calldata columnTypes)
        private
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(columnNames, columnTypes));
    }

    // ----------------------------------------------------------------------------------------
    // State changes
    // ----------------------------------------------------------------------------------------

    /// @dev Validates the schema while building the name → index map, so a duplicate name is
    ///      found in one pass. Called before `_register`, whose event publishes the schema.
    function _indexColumns(uint256 datasetId, string[] calldata columnNames, string[] calldata columnTypes)
        private
    {
        uint256 count = columnNames.length;
        if (count == 0) revert DataCatalogEmptySchema();
        if (count != columnTypes.length) revert DataCatalogSchemaLengthMismatch(count, columnTypes.length);
        if (count > MAX_COLUMNS) revert DataCatalogTooManyColumns(count, MAX_COLUMNS);
        mapping(bytes32 => uint256) storage indexes = _columnIndexes[datasetId];
        for (uint256 i; i < count; ++i) {
            bytes calldata columnName = bytes(columnNames[i]);
            if (columnName.length == 0) revert DataCatalogEmptyColumnName(i);
            bytes32 nameHash = keccak256(columnName);
            if (indexes[nameHash] != 0) revert DataCatalogDuplicateColumnName(i, columnNames[i]);
            _checkColumnType(i, columnTypes[i]);
            indexes[nameHash] = i + 1;
        }
    }

    function _register(
        uint256 datasetId,
        string calldata name,
        bytes32 schemaHash,
        uint16 columns,
        uint64 rowCount,
        bytes32 fingerprint,
        uint64 pricePerJob,
        uint64 pricePerRow
    ) private {
        _datasetCount = datasetId;
        Record storage record = _datasets[datasetId];
        record.owner = msg.sender;
        record.columnCount = columns;
        record.version = 1;
        record.flags = FLAG_ACTIVE;
        record.registeredAt = uint40(block.timestamp);
        record.rowCount = rowCount;
        record.pricePerJob = pricePerJob;
        record.pricePerRow = pricePerRow;
        record.updatedAt = uint40(block.timestamp);
        record.fingerprint = fingerprint;
        record.schemaHash = schemaHash;
        record.name = name;
        _datasetsOf[msg.sender].push(datasetId);
        _idByName[msg.sender][keccak256(bytes(name))] = datasetId;
    }

    function _publishVersion(uint256 datasetId, bytes32 fingerprint, uint64 rowCount) private {
        Record storage record = _datasets[datasetId];
        uint32 version = record.version + 1;
        record.version = version;
        record.rowCount = rowCount;
        record.updatedAt = uint40(block.timestamp);
        record.fingerprint = fingerprint;
        emit DatasetVersionPublished(datasetId, version, fingerprint, rowCount);
    }

    function _setPrices(uint256 datasetId, uint64 pricePerJob, uint64 pricePerRow) private {
        Record storage record = _datasets[datasetId];
        record.pricePerJob = pricePerJob;
        record.pricePerRow = pricePerRow;
        record.updatedAt = uint40(block.timestamp);
        emit DatasetPricesSet(datasetId, pricePerJob, pricePerRow);
    }

    function _setActive(uint256 datasetId, bool active) private {
        _setFlag(datasetId, FLAG_ACTIVE, active);
        if (active) emit DatasetReactivated(datasetId);
        else emit DatasetDeactivated(datasetId);
    }

    function _freeze(uint256 datasetId, string calldata reason) private {
        _setFlag(datasetId, FLAG_FROZEN, true);
        emit DatasetFrozen(datasetId, msg.sender, reason);
    }

    function _unfreeze(uint256 datasetId) private {
        _setFlag(datasetId, FLAG_FROZEN, false);
        emit DatasetUnfrozen(datasetId, msg.sender);
    }

    function _setFlag(uint256 datasetId, uint8 flag, bool value) private {
        Record storage record = _datasets[datasetId];
        record.flags = value ? record.flags | flag : record.flags & ~flag;
        record.updatedAt = uint40(block.timestamp);
    }
}
