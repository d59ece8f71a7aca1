// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

// These imports make forge emit artifacts for OpenZeppelin's proxy contracts: the Rust deployer
// puts every EigenLayer and AVS contract behind a transparent proxy whose first implementation
// is this contract, as EigenLayer's own deploy scripts do.
import {ProxyAdmin} from "@openzeppelin/contracts/proxy/transparent/ProxyAdmin.sol";
import {
    TransparentUpgradeableProxy
} from "@openzeppelin/contracts/proxy/transparent/TransparentUpgradeableProxy.sol";

/// @title EmptyContract
/// @notice The initial implementation of a proxy created before its real implementation exists.
/// @dev EigenLayer's constructors take their peers' *proxy* addresses, so every proxy is created
///      first pointing here, then upgraded to the real implementation and initialised.
contract EmptyContract {
    function foo() external pure returns (uint256) {
        return 0;
    }
}
