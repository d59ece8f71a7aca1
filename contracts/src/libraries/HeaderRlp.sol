// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

/// @title HeaderRlp
/// @notice Reads the state root and receipts root out of an RLP-encoded Ethereum block header.
/// @dev A header is an RLP list whose fields 3 and 5 are the state and receipts roots (after
///      parentHash, ommersHash, beneficiary; transactionsRoot is field 4) in every fork. Only
///      the first six fields are walked; every length is bounds-checked, so any malformed input
///      reverts with `MalformedHeader` instead of reading out of range.
library HeaderRlp {
    /// @notice The header is not a well-formed RLP list with 32-byte roots at fields 3 and 5.
    error MalformedHeader();

    /// @notice The state root (field 3) and receipts root (field 5) of `header`.
    function roots(bytes calldata header) internal pure returns (bytes32 stateRoot, bytes32 receiptsRoot) {
        (uint256 offset, uint256 payloadLength, bool isList) = _prefix(header, 0);
        if (!isList || offset + payloadLength != header.length) revert MalformedHeader();
        for (uint256 field = 0; field <= 5; field++) {
            (uint256 dataOffset, uint256 dataLength, bool fieldIsList) = _prefix(header, offset);
            if (fieldIsList || dataOffset + dataLength > header.length) revert MalformedHeader();
            if (field == 3 || field == 5) {
                if (dataLength != 32) revert MalformedHeader();
                bytes32 root = bytes32(header[dataOffset:dataOffset + 32]);
                if (field == 3) stateRoot = root;
                else receiptsRoot = root;
            }
            offset = dataOffset + dataLength;
        }
    }

    /// @dev Decodes the RLP item prefix at `at`: where its data starts, how long it is, and
    ///      whether it is a list.
    function _prefix(bytes calldata rlp, uint256 at)
        private
        pure
        returns (uint256 dataOffset, uint256 dataLength, bool isList)
    {
        if (at >= rlp.length) revert MalformedHeader();
        uint256 b = uint8(rlp[at]);
        if (b < 0x80) return (at, 1, false);
        if (b < 0xb8) return (at + 1, b - 0x80, false);
        if (b < 0xc0) return (at + 1 + (b - 0xb7), _bigEndian(rlp, at + 1, b - 0xb7), false);
        if (b < 0xf8) return (at + 1, b - 0xc0, true);
        return (at + 1 + (b - 0xf7), _bigEndian(rlp, at + 1, b - 0xf7), true);
    }

    function _bigEndian(bytes calldata rlp, uint256 at, uint256 length) private pure returns (uint256 value) {
        // More than 8 length bytes cannot describe calldata that exists.
        if (length > 8 || at + length > rlp.length) revert MalformedHeader();
        for (uint256 i = 0; i < length; i++) {
            value = (value << 8) | uint8(rlp[at + i]);
        }
    }
}
