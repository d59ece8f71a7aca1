// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

/// @title QuorumBitmap
/// @notice Conversions between EigenLayer's quorum bitmaps (bit q set = quorum q) and the
///         ascending byte arrays of quorum numbers the registries take.
library QuorumBitmap {
    /// @notice The quorum numbers of `bitmap`, ascending.
    function toBytes(uint256 bitmap) internal pure returns (bytes memory quorums) {
        uint256 count;
        for (uint256 x = bitmap; x != 0; x &= x - 1) {
            count++;
        }
        quorums = new bytes(count);
        uint256 k;
        for (uint256 q = 0; k < count; q++) {
            // casting to uint8 is safe: q < 256 because bitmap has 256 bits.
            // forge-lint: disable-next-line(unsafe-typecast)
            if ((bitmap >> q) & 1 == 1) quorums[k++] = bytes1(uint8(q));
        }
    }
}
